"""Reading and writing the gradebook: an SQLite file or a PostgreSQL database.

    with Gradebook.open(".flowgrade/gradebook.sqlite") as book: ...
    with Gradebook.open("postgresql://grader@db/course") as book: ...

Every write is one transaction, so a crash leaves either the whole result or none of it;
readers never see half a submission. A partial unique index (schema version 2)
guarantees at most one current row per (student, exercise), whatever the number of
writers, on both databases. This module and `grader.gradebook.backends` (what the two
databases spell differently) are the only code that speaks SQL; callers see `Gradebook`
methods and typed records.

Why the standard library's `sqlite3` and psycopg rather than SQLAlchemy: `grade` starts
on every save in a student's watch loop, and importing SQLAlchemy costs more than the
whole gradebook layer; the SQL is plain and small (a handful of tables, no dialect
features beyond a partial index), so two thin backends are less code than an ORM's
configuration. SQLite in WAL mode with a busy timeout serves one machine; PostgreSQL
serves many grading machines and many concurrent writers.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader.gradebook.backends import (
    Backend,
    GradebookError,
    connect,
    is_server_url,
    redacted,
)
from grader.gradebook.records import (
    BatchRunRecord,
    HintRecord,
    QuizAttemptRecord,
    SubmissionRecord,
    TestRow,
)
from grader.gradebook.schema import SchemaTooNew, migrate
from grader.results import ExerciseResult

DEFAULT_GRADEBOOK = Path(".flowgrade") / "gradebook.sqlite"


def default_student_id() -> str:
    """The student id for local runs: $FLOWGRADE_STUDENT, else the login name."""
    return os.environ.get("FLOWGRADE_STUDENT") or getpass.getuser() or "student"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def gradebook_exists(location: str | Path) -> bool:
    """Whether there is a gradebook to read at `location` (a server always counts)."""
    return is_server_url(location) or Path(location).exists()


def shown_location(location: str | Path) -> str:
    """`location` as it may appear in a message (a server URL without its password)."""
    return redacted(location) if is_server_url(location) else str(location)


class Gradebook:
    """An open gradebook. Use `Gradebook.open(location, create=...)`."""

    def __init__(self, location: str, backend: Backend) -> None:
        self.location = location
        self.backend = backend  # for maintenance and tests; callers use the methods

    @classmethod
    def open(cls, location: str | Path = DEFAULT_GRADEBOOK, *, create: bool = True) -> Gradebook:
        """Open (and migrate) the gradebook at `location`: a file path, or a
        `postgresql://` URL (the database must exist; its tables are created). A file is
        created only when `create` is set."""
        shown = shown_location(location)
        if not is_server_url(location):
            path = Path(location)
            if not path.exists():
                if not create:
                    raise GradebookError(f"{path}: no gradebook here (grade something first)")
                path.parent.mkdir(parents=True, exist_ok=True)
        try:
            backend = connect(location)
        except sqlite3.DatabaseError as err:
            raise GradebookError(f"{shown}: not a usable gradebook ({err})") from None
        try:
            migrate(backend)
        except SchemaTooNew as err:
            backend.close()
            raise GradebookError(f"{shown}: {err}") from None
        except GradebookError:
            backend.close()
            raise
        except Exception as err:  # sqlite3 or psycopg: a file or database we cannot use
            backend.close()
            why = _first_line(err)
            raise GradebookError(f"{shown}: not a usable gradebook ({why})") from None
        return cls(shown, backend)

    @property
    def kind(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.backend.name

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def schema_version(self) -> int:
        return self.backend.schema_version()

    def integrity_problems(self) -> list[str]:
        """What the database's own check found wrong (empty when all is well)."""
        return self.backend.integrity_problems()

    def _ensure_student(self, student: str) -> None:
        self.backend.execute(
            "INSERT INTO students (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
            (student, now()),
        )

    # ------------------------------------------------------------------ exercises

    def record_exercise(
        self,
        student: str,
        result: ExerciseResult,
        *,
        submitted_at: str | None = None,
        batch_run: int | None = None,
    ) -> int:
        """Store one graded submission; earlier results of the same exercise become history.

        `submitted_at` (ISO 8601) is when the student handed the file in, used for late
        penalties; `batch_run` links the row to the `grade batch` run (and seed) that made it.
        """
        db = self.backend
        with db.transaction():
            self._ensure_student(student)
            db.lock_student(student)  # writers of one student take turns
            db.execute(
                "UPDATE submissions SET superseded = 1 WHERE student = ? AND exercise = ?",
                (student, result.exercise),
            )
            submission_id = db.insert(
                """INSERT INTO submissions (student, exercise, content_hash, suite_hash, seed,
                   device, score, max_score, graded_at, duration_s, result_json,
                   submitted_at, batch_run)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
                    submitted_at,
                    batch_run,
                ),
            )
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
        rows = self.backend.execute(query + " ORDER BY student, exercise", params).fetchall()
        return [_submission(row) for row in rows]

    def current_hashes(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(student, exercise) -> (content hash, suite hash) of every current row.

        What `grade batch` compares against to decide what needs grading on a rerun.
        """
        rows = self.backend.execute(
            "SELECT student, exercise, content_hash, suite_hash FROM submissions "
            "WHERE superseded = 0"
        ).fetchall()
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def submission_history(self, student: str, exercise: str) -> list[SubmissionRecord]:
        """Every stored result of one (student, exercise), oldest first (history included)."""
        rows = self.backend.execute(
            "SELECT * FROM submissions WHERE student = ? AND exercise = ? ORDER BY id",
            (student, exercise),
        ).fetchall()
        return [_submission(row) for row in rows]

    def test_rows(self, submission_ids: list[int] | None = None) -> list[TestRow]:
        """Per-test results, of the given submissions or of every current submission."""
        if submission_ids is None:
            rows = self.backend.execute(
                "SELECT t.* FROM test_results t JOIN submissions s ON s.id = t.submission_id "
                "WHERE s.superseded = 0 ORDER BY t.submission_id, t.position"
            ).fetchall()
        else:
            marks = ", ".join("?" for _ in submission_ids)
            rows = self.backend.execute(
                f"SELECT * FROM test_results WHERE submission_id IN ({marks}) "
                "ORDER BY submission_id, position",
                submission_ids,
            ).fetchall()
        return [TestRow(*row) for row in rows]

    def students(self) -> list[str]:
        """Every student id the gradebook knows, sorted."""
        rows = self.backend.execute("SELECT id FROM students ORDER BY id").fetchall()
        return [str(r[0]) for r in rows]

    def ensure_students(self, students: list[str]) -> None:
        """Register students (so that one with nothing graded still appears in reports)."""
        with self.backend.transaction():
            for student in students:
                self._ensure_student(student)

    # ------------------------------------------------------------------ batch runs

    def start_batch_run(self, seed: int, jobs: int, source: str, planned: int) -> int:
        """Record the start of a `grade batch` run; returns its id."""
        with self.backend.transaction():
            return self.backend.insert(
                "INSERT INTO batch_runs (started_at, seed, jobs, source, status, planned) "
                "VALUES (?, ?, ?, ?, 'running', ?)",
                (now(), seed, jobs, source, planned),
            )

    def finish_batch_run(self, run_id: int, status: str, graded: int) -> None:
        with self.backend.transaction():
            self.backend.execute(
                "UPDATE batch_runs SET finished_at = ?, status = ?, graded = ? WHERE id = ?",
                (now(), status, graded, run_id),
            )

    def batch_runs(self) -> list[BatchRunRecord]:
        rows = self.backend.execute("SELECT * FROM batch_runs ORDER BY id").fetchall()
        return [BatchRunRecord(*row) for row in rows]

    # ------------------------------------------------------------------ quizzes

    def save_quiz_attempt(self, record: QuizAttemptRecord) -> int:
        """Insert a new attempt or update an existing one (by id); returns its id."""
        values = asdict(record)
        values["data_json"] = json.dumps(values.pop("data"))
        values["started_at"] = values["started_at"] or now()
        record.started_at = values["started_at"]
        db = self.backend
        with db.transaction():
            self._ensure_student(record.student)
            if record.id is None:
                values.pop("id")
                columns = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                record.id = db.insert(
                    f"INSERT INTO quiz_attempts ({columns}) VALUES ({marks})",
                    tuple(values.values()),
                )
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
        where, params = _where(("quiz", quiz), ("student", student))
        rows = self.backend.execute(
            f"SELECT * FROM quiz_attempts{where} ORDER BY student, quiz, attempt", params
        ).fetchall()
        return [_attempt(row) for row in rows]

    def latest_quiz_attempt(self, student: str, quiz: str) -> QuizAttemptRecord | None:
        attempts = self.quiz_attempts(quiz=quiz, student=student)
        return attempts[-1] if attempts else None

    # ------------------------------------------------------------------ hints

    def record_hint(self, student: str, exercise: str, function: str, available: int) -> int | None:
        """Mark the next hint step of `function` as shown; returns its number (1-based), or
        None when all `available` steps were shown already (nothing is written then).

        One transaction: two `grade hint` calls at once cannot both take the same step."""
        db = self.backend
        with db.transaction():
            self._ensure_student(student)
            db.lock_student(student)  # two `grade hint` calls at once take turns
            (shown,) = db.execute(
                "SELECT COUNT(*) FROM hints_shown "
                "WHERE student = ? AND exercise = ? AND function_name = ?",
                (student, exercise, function),
            ).fetchone()
            if int(shown) >= available:
                return None
            db.execute(
                "INSERT INTO hints_shown (student, exercise, function_name, step, shown_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (student, exercise, function, int(shown) + 1, now()),
            )
        return int(shown) + 1

    def hints_shown(
        self, student: str | None = None, exercise: str | None = None
    ) -> list[HintRecord]:
        """Hint steps shown, oldest first, optionally of one student and/or one exercise."""
        where, params = _where(("student", student), ("exercise", exercise))
        rows = self.backend.execute(
            "SELECT student, exercise, function_name, step, shown_at FROM hints_shown"
            f"{where} ORDER BY id",
            params,
        ).fetchall()
        return [HintRecord(str(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4])) for r in rows]

    def hint_counts(self) -> dict[tuple[str, str], int]:
        """(student, exercise) -> how many hint steps that student was shown (for reports)."""
        rows = self.backend.execute(
            "SELECT student, exercise, COUNT(*) FROM hints_shown GROUP BY student, exercise"
        ).fetchall()
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


def _where(*filters: tuple[str, str | None]) -> tuple[str, list[str]]:
    """` WHERE a = ? AND b = ?` for the (column, value) pairs whose value is not None."""
    used = [(column, value) for column, value in filters if value is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = ?" for c, _ in used), [v for _, v in used]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _columns(row: Any, cursor_description: list[str]) -> dict[str, object]:
    return dict(zip(cursor_description, row, strict=True))


_SUBMISSION_COLUMNS = [
    "id", "student", "exercise", "content_hash", "suite_hash", "seed", "device", "score",
    "max_score", "graded_at", "duration_s", "superseded", "result_json", "submitted_at",
    "batch_run",
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
