"""Versioned schema migrations of the gradebook, the same for SQLite and PostgreSQL.

Each migration is a list of SQL statements that moves the schema from version i to i+1.
Append new migrations; never change what one that has shipped does. The SQL is the
subset both databases read alike; the column types they spell differently are
placeholders the backend fills in (`grader.gradebook.backends`): `{id}` (an integer key
the database assigns), `{int}` (a 64-bit integer: seeds use the full range) and `{real}`
(a double-precision number). On SQLite they read `INTEGER PRIMARY KEY`, `INTEGER` and
`REAL`, exactly as the statements first shipped. A literal brace would be doubled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.gradebook.backends import Backend

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE students (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE submissions (
            id {id},
            student TEXT NOT NULL REFERENCES students(id),
            exercise TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            suite_hash TEXT NOT NULL,
            seed {int} NOT NULL,
            device TEXT NOT NULL,
            score {real} NOT NULL,
            max_score {real} NOT NULL,
            graded_at TEXT NOT NULL,
            duration_s {real} NOT NULL,
            superseded {int} NOT NULL DEFAULT 0,
            result_json TEXT NOT NULL
        )""",
        "CREATE INDEX submissions_current ON submissions(student, exercise, superseded)",
        """CREATE TABLE test_results (
            submission_id {int} NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
            position {int} NOT NULL,
            name TEXT NOT NULL,
            score {real} NOT NULL,
            max_score {real} NOT NULL,
            status TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (submission_id, position)
        )""",
        """CREATE TABLE quiz_attempts (
            id {id},
            student TEXT NOT NULL REFERENCES students(id),
            quiz TEXT NOT NULL,
            attempt {int} NOT NULL,
            seed {int} NOT NULL,
            mode TEXT NOT NULL,
            state TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            score {real},
            max_score {real},
            data_json TEXT NOT NULL,
            UNIQUE (student, quiz, attempt)
        )""",
    ),
    (
        # 2: batch provenance, submission times, and at most one current row per
        # (student, exercise) enforced by the database itself.
        """CREATE TABLE batch_runs (
            id {id},
            started_at TEXT NOT NULL,
            finished_at TEXT,
            seed {int} NOT NULL,
            jobs {int} NOT NULL,
            source TEXT NOT NULL,
            status TEXT NOT NULL,
            planned {int} NOT NULL DEFAULT 0,
            graded {int} NOT NULL DEFAULT 0
        )""",
        "ALTER TABLE submissions ADD COLUMN submitted_at TEXT",
        "ALTER TABLE submissions ADD COLUMN batch_run {int} REFERENCES batch_runs(id)",
        """CREATE UNIQUE INDEX submissions_one_current ON submissions(student, exercise)
           WHERE superseded = 0""",
        "CREATE INDEX quiz_attempts_by_quiz ON quiz_attempts(quiz, state)",
    ),
    (
        # 3: every hint step a student was shown (`grade hint`), with its time stamp; at
        # most one row per step, so a hint is counted once however often it is shown again.
        """CREATE TABLE hints_shown (
            id {id},
            student TEXT NOT NULL REFERENCES students(id),
            exercise TEXT NOT NULL,
            function_name TEXT NOT NULL,
            step {int} NOT NULL,
            shown_at TEXT NOT NULL,
            UNIQUE (student, exercise, function_name, step)
        )""",
        "CREATE INDEX hints_shown_by_student ON hints_shown(student, exercise)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The gradebook was written by a newer flowgrade."""


def statements(index: int, backend: Backend) -> list[str]:
    """Migration `index` as this backend's SQL."""
    return [statement.format(**backend.types) for statement in MIGRATIONS[index]]


def migrate(backend: Backend) -> int:
    """Apply every pending migration, each in its own transaction. Returns the new version.

    Safe with several processes opening the same gradebook at once: each migration runs
    under the backend's write or advisory lock and only if no one applied it meanwhile."""
    version = backend.schema_version()
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"gradebook schema version {version} is newer than this flowgrade "
            f"({SCHEMA_VERSION}); upgrade flowgrade"
        )
    for index in range(version, SCHEMA_VERSION):
        with backend.transaction():
            backend.migration_lock()
            if backend.schema_version() == index:  # else another process migrated meanwhile
                for statement in statements(index, backend):
                    backend.execute(statement)
                backend.set_schema_version(index + 1)
    return backend.schema_version()
