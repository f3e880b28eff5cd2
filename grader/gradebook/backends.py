"""The two databases a gradebook can live in, behind one small connection interface.

    backend = connect(".flowgrade/gradebook.sqlite")               # SQLite (the default)
    backend = connect("postgresql://grader@db.example.org/course")  # PostgreSQL (psycopg 3)

`grader.gradebook.store` writes its SQL once, in the subset both databases read the same
way (`?` placeholders, `INSERT ... ON CONFLICT DO NOTHING`, a partial unique index); a
backend supplies only what differs:

| what                      | SQLite                         | PostgreSQL                        |
|---------------------------|--------------------------------|-----------------------------------|
| placeholders              | `?`                            | `%s` (translated)                 |
| a write transaction       | `BEGIN IMMEDIATE` (one writer) | `BEGIN` (READ COMMITTED)          |
| new row's id              | `cursor.lastrowid`             | `RETURNING id`                    |
| column types              | `INTEGER` (64-bit), `REAL`     | `BIGINT`, `DOUBLE PRECISION`      |
| schema version            | `PRAGMA user_version`          | table `flowgrade_schema`          |
| migrations one at a time  | the write lock                 | a transaction's advisory lock     |
| one writer per student    | the write lock                 | `SELECT ... FOR UPDATE` (its row) |

Concurrent writers on PostgreSQL: `record_exercise` locks the student's row first, so two
writers for the same student queue instead of both inserting a "current" row (which
the partial unique index would refuse); different students never wait for each other.

psycopg is an optional dependency (`pip install 'flowgrade[postgres]'`), imported only
when a `postgresql://` gradebook is opened, so `grade` starts as fast as before.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

BUSY_TIMEOUT_MS = 60_000
SERVER_SCHEMES = ("postgresql://", "postgres://")
MIGRATION_LOCK_KEY = 0x666C6F77  # "flow": the advisory lock every migrating process takes


class GradebookError(Exception):
    """The gradebook is missing, corrupt, unreachable or from a newer flowgrade (one-line
    message)."""


def is_server_url(location: str | Path) -> bool:
    """Whether a `--gradebook` value names a PostgreSQL server rather than a file."""
    return isinstance(location, str) and location.startswith(SERVER_SCHEMES)


class Backend(Protocol):
    """What `Gradebook` needs from a database connection (autocommit outside
    `transaction()`)."""

    name: str
    types: ClassVar[dict[str, str]]  # placeholders in the migrations: {id}, {int}, {real}
    integrity_error: type[Exception]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None: ...
    def insert(self, sql: str, params: Sequence[Any]) -> int: ...
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...
    def lock_student(self, student: str) -> None: ...
    def migration_lock(self) -> None: ...
    def schema_version(self) -> int: ...
    def set_schema_version(self, version: int) -> None: ...
    def integrity_problems(self) -> list[str]: ...
    def close(self) -> None: ...


class SQLiteBackend:
    """One SQLite file in WAL mode: parallel readers, writers take turns (busy timeout)."""

    name = "sqlite"
    types: ClassVar[dict[str, str]] = {
        "id": "INTEGER PRIMARY KEY",
        "int": "INTEGER",
        "real": "REAL",
    }
    integrity_error = sqlite3.IntegrityError

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA foreign_keys = ON")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def insert(self, sql: str, params: Sequence[Any]) -> int:
        return int(self._db.execute(sql, tuple(params)).lastrowid or 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """`BEGIN IMMEDIATE`: the write lock from the start, so no writer ever has to
        give up halfway (SQLite's answer to concurrent writers)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def lock_student(self, student: str) -> None:
        """Nothing to do: `BEGIN IMMEDIATE` already holds the only write lock."""

    def migration_lock(self) -> None:
        """Nothing to do: `BEGIN IMMEDIATE` already holds the only write lock."""

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self._db.execute(f"PRAGMA user_version = {int(version)}")

    def integrity_problems(self) -> list[str]:
        found = [str(r[0]) for r in self._db.execute("PRAGMA integrity_check").fetchall()]
        return [] if found == ["ok"] else found

    def close(self) -> None:
        self._db.close()


class PostgresBackend:
    """A PostgreSQL database reached with psycopg 3 (any number of concurrent writers)."""

    name = "postgresql"
    types: ClassVar[dict[str, str]] = {
        "id": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        "int": "BIGINT",
        "real": "DOUBLE PRECISION",
    }

    def __init__(self, url: str) -> None:
        psycopg = _import_psycopg()
        self.integrity_error = psycopg.IntegrityError
        self._lost = psycopg.OperationalError
        self._shown = redacted(url)
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=30)
        except psycopg.Error as err:
            raise GradebookError(f"{self._shown}: cannot connect ({_first_line(err)})") from None
        with self.transaction():
            self.migration_lock()
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS flowgrade_schema (version INTEGER NOT NULL)"
            )
            if self._db.execute("SELECT count(*) FROM flowgrade_schema").fetchone()[0] == 0:
                self._db.execute("INSERT INTO flowgrade_schema (version) VALUES (0)")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._connection_kept():
            return self._db.execute(_pyformat(sql), tuple(params))

    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        with self._connection_kept(), self._db.cursor() as cursor:
            cursor.executemany(_pyformat(sql), rows)

    def insert(self, sql: str, params: Sequence[Any]) -> int:
        with self._connection_kept():
            row = self._db.execute(_pyformat(sql) + " RETURNING id", tuple(params)).fetchone()
        return int(row[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction (`BEGIN` ... `COMMIT`, rolled back on any exception)."""
        with self._connection_kept(), self._db.transaction():
            yield

    @contextlib.contextmanager
    def _connection_kept(self) -> Iterator[None]:
        """A lost connection (server restarted, network gone) is a one-line error; the
        open transaction, if any, was not committed."""
        try:
            yield
        except self._lost as err:
            raise GradebookError(
                f"{self._shown}: lost the connection ({_first_line(err)})"
            ) from None

    def lock_student(self, student: str) -> None:
        """Queue behind any other transaction writing this student's rows (row lock)."""
        self.execute("SELECT id FROM students WHERE id = ? FOR UPDATE", (student,))

    def migration_lock(self) -> None:
        """One migrating process at a time; released when the transaction ends."""
        self._db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))

    def schema_version(self) -> int:
        return int(self._db.execute("SELECT version FROM flowgrade_schema").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self._db.execute("UPDATE flowgrade_schema SET version = %s", (int(version),))

    def integrity_problems(self) -> list[str]:
        """Rows the constraints should have made impossible (the server checks its own
        storage; there is no PRAGMA integrity_check to ask)."""
        checks = {
            "more than one current row for a (student, exercise)": (
                "SELECT count(*) FROM (SELECT student, exercise FROM submissions "
                "WHERE superseded = 0 GROUP BY student, exercise HAVING count(*) > 1) d"
            ),
            "test results without a submission": (
                "SELECT count(*) FROM test_results t LEFT JOIN submissions s "
                "ON s.id = t.submission_id WHERE s.id IS NULL"
            ),
        }
        return [what for what, sql in checks.items() if self._db.execute(sql).fetchone()[0]]

    def close(self) -> None:
        self._db.close()


def connect(location: str | Path) -> Backend:
    """Open the database `location` names (a file path, or a `postgresql://` URL)."""
    if is_server_url(location):
        return PostgresBackend(str(location))
    return SQLiteBackend(Path(location))


def redacted(url: str) -> str:
    """A server URL fit to print: no password."""
    scheme, _, rest = url.partition("://")
    credentials, at, where = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{where}" if user else f"{scheme}://{where}"


def _pyformat(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (the store's SQL has no literal `?` or `%`)."""
    return sql.replace("?", "%s")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise GradebookError(
            "a postgresql:// gradebook needs psycopg: pip install 'flowgrade[postgres]'"
        ) from None
    return psycopg
