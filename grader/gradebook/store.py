"""Reading and writing the gradebook (SQLite, WAL mode, safe for parallel writers).

Every write is one `BEGIN IMMEDIATE` transaction, so a crash leaves either the whole
result or none of it; readers never see half a submission.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from grader.gradebook.records import QuizAttemptRecord, SubmissionRecord
from grader.gradebook.schema import migrate
from grader.results import ExerciseResult

DEFAULT_GRADEBOOK = Path(".flowgrade") / "gradebook.sqlite"
BUSY_TIMEOUT_MS = 60_000


class GradebookError(Exception):
    """The gradebook is missing, corrupt or from a newer flowgrade (one-line message)."""


def default_student_id() -> str:
    """The student id for local runs: $FLOWGRADE_STUDENT, else the login name."""
    return os.environ.get("FLOWGRADE_STUDENT") or getpass.getuser() or "student"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Gradebook:
    """An open gradebook file. Use `Gradebook.open(path, create=...)`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    @classmethod
    def open(cls, path: Path | str = DEFAULT_GRADEBOOK, *, create: bool = True) -> Gradebook:
        """Open (and migrate) the gradebook at `path`; create it only when `create` is set."""
        path = Path(path)
        if not path.exists():
            if not create:
                raise GradebookError(f"{path}: no gradebook here (grade something first)")
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA foreign_keys = ON")
            migrate(connection)
        except sqlite3.DatabaseError as err:
            raise GradebookError(f"{path}: not a usable gradebook ({err})") from None
        return cls(path, connection)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _ensure_student(self, db: sqlite3.Connection, student: str) -> None:
        db.execute(
            "INSERT OR IGNORE INTO students (id, created_at) VALUES (?, ?)", (student, now())
        )

    # ------------------------------------------------------------------ exercises

    def record_exercise(self, student: str, result: ExerciseResult) -> int:
        """Store one graded submission; earlier results of the same exercise become history."""
        with self.transaction() as db:
            self._ensure_student(db, student)
            db.execute(
                "UPDATE submissions SET superseded = 1 WHERE student = ? AND exercise = ?",
                (student, result.exercise),
            )
            cursor = db.execute(
                """INSERT INTO submissions (student, exercise, content_hash, suite_hash, seed,
                   device, score, max_score, graded_at, duration_s, result_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    student,
                    result.exercise,
                    result.submission_hash,
                    result.suite_hash,
                    result.seed,
                    result.device,
                    result.score,
                    result.max_score,
                    now(),
                    result.duration_s,
                    json.dumps(result.to_dict()),
                ),
            )
            submission_id = int(cursor.lastrowid or 0)
            db.executemany(
                """INSERT INTO test_results (submission_id, position, name, score, max_score,
                   status, message) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [
                    (submission_id, i, t.name, t.score, t.max_score, t.status, t.output)
                    for i, t in enumerate(result.tests)
                ],
            )
        return submission_id

    def current_submissions(self, student: str | None = None) -> list[SubmissionRecord]:
        """The latest (not superseded) result of every (student, exercise)."""
        query = "SELECT * FROM submissions WHERE superseded = 0"
        params: tuple[str, ...] = ()
        if student is not None:
            query += " AND student = ?"
            params = (student,)
        rows = self._db.execute(query + " ORDER BY student, exercise", params).fetchall()
        return [_submission(row) for row in rows]

    # ------------------------------------------------------------------ quizzes

    def save_quiz_attempt(self, record: QuizAttemptRecord) -> int:
        """Insert a new attempt or update an existing one (by id); returns its id."""
        values = asdict(record)
        values["data_json"] = json.dumps(values.pop("data"))
        values["started_at"] = values["started_at"] or now()
        record.started_at = values["started_at"]
        with self.transaction() as db:
            self._ensure_student(db, record.student)
            if record.id is None:
                values.pop("id")
                columns = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                cursor = db.execute(
                    f"INSERT INTO quiz_attempts ({columns}) VALUES ({marks})",
                    tuple(values.values()),
                )
                record.id = int(cursor.lastrowid or 0)
            else:
                attempt_id = values.pop("id")
                assignments = ", ".join(f"{column} = ?" for column in values)
                db.execute(
                    f"UPDATE quiz_attempts SET {assignments} WHERE id = ?",
                    (*values.values(), attempt_id),
                )
        return record.id

    def quiz_attempts(
        self, quiz: str | None = None, student: str | None = None
    ) -> list[QuizAttemptRecord]:
        """Attempts, oldest first, optionally of one quiz and/or one student."""
        clauses, params = [], []
        for column, value in (("quiz", quiz), ("student", student)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(
            f"SELECT * FROM quiz_attempts{where} ORDER BY student, quiz, attempt", params
        ).fetchall()
        return [_attempt(row) for row in rows]

    def latest_quiz_attempt(self, student: str, quiz: str) -> QuizAttemptRecord | None:
        attempts = self.quiz_attempts(quiz=quiz, student=student)
        return attempts[-1] if attempts else None

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for read-only report queries."""
        return self._db


def _columns(row: sqlite3.Row | tuple, cursor_description: list[str]) -> dict[str, object]:
    return dict(zip(cursor_description, row, strict=True))


_SUBMISSION_COLUMNS = [
    "id", "student", "exercise", "content_hash", "suite_hash", "seed", "device", "score",
    "max_score", "graded_at", "duration_s", "superseded", "result_json",
]  # fmt: skip
_ATTEMPT_COLUMNS = [
    "id", "student", "quiz", "attempt", "seed", "mode", "state", "started_at", "finished_at",
    "score", "max_score", "data_json",
]  # fmt: skip


def _submission(row: tuple) -> SubmissionRecord:
    values = _columns(row, _SUBMISSION_COLUMNS)
    values["superseded"] = bool(values["superseded"])
    return SubmissionRecord(**values)  # type: ignore[arg-type]


def _attempt(row: tuple) -> QuizAttemptRecord:
    values = _columns(row, _ATTEMPT_COLUMNS)
    values["data"] = json.loads(str(values.pop("data_json")))
    return QuizAttemptRecord(**values)  # type: ignore[arg-type]
