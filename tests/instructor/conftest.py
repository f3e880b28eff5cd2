"""Shared fixtures: one generated class of 20 students, graded once per gradebook backend
(an SQLite file and a database on the session's PostgreSQL server), and a course folder
(course.toml, roster, quiz attempts) for the reports."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classgen import attempt_data, make_class

from grader.batch.runner import BatchSummary, run_batch
from grader.gradebook import Gradebook, QuizAttemptRecord
from tests.postgres_server import GRADEBOOK_KINDS, new_gradebook

TIMEOUT_S = 1.0


@dataclass
class GradedClass:
    root: Path
    gradebook: str  # an SQLite file's path or a postgresql:// URL
    kind: str
    roster: dict[str, str]
    summary: BatchSummary
    log: str


@pytest.fixture(scope="session", params=GRADEBOOK_KINDS)
def graded_class(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> GradedClass:
    """20 students (correct, partly wrong, empty, stub, syntax error, import error,
    crashing, hanging) graded by `run_batch` with 2 workers, into each backend."""
    root = tmp_path_factory.mktemp("class") / "submissions"
    roster = make_class(root)
    # two students handed in late (see course.toml in test_reports): 30 h and 5 days
    (root / "timestamps.csv").write_text(
        "student,exercise,submitted_at\n"
        "s01_correct,exercise-03,2025-03-15T05:59:00+00:00\n"
        "s02_correct,exercise-03,2025-03-19T23:00:00+00:00\n"
        "s03_correct,,2025-03-14T20:00:00+00:00\n",
        encoding="utf-8",
    )
    gradebook = new_gradebook(request, request.param, root.parent)
    log = io.StringIO()
    summary = run_batch(
        root,
        gradebook,
        jobs=2,
        call_timeout=TIMEOUT_S,
        exercises=["exercise-03"],
        stream=log,
    )
    return GradedClass(root, gradebook, request.param, roster, summary, log.getvalue())


COURSE_TOML = """
[course]
name = "Flows test course"

[due]
exercise-03 = "2025-03-14T23:59:00+00:00"
quiz-01 = "2025-03-20 12:00"

[late]
grace_minutes = 10
per_day_percent = 20
max_percent = 60
zero_after_days = 10

[canvas]
roster = "roster.csv"
[canvas.assignments]
exercise-03 = 4711
"""

QUIZ_ANSWERS = {  # student -> (q1 choice, q2 choice); q1 right = "a", q2 right = "c"
    "s01_correct": ("a", "c"),
    "s02_correct": ("a", "c"),
    "s03_correct": ("a", "b"),
    "s07_wrong_sign": ("b", "c"),
    "s11_empty": ("b", "b"),
}


@pytest.fixture(scope="module")
def course_dir(graded_class, tmp_path_factory) -> Path:
    """A course folder with course.toml, a roster, and quiz attempts in the gradebook."""
    folder = tmp_path_factory.mktemp("course")
    (folder / "course.toml").write_text(COURSE_TOML, encoding="utf-8")
    (folder / "roster.csv").write_text(
        "student,name,canvas_id,sis_user_id,sis_login_id,section\n"
        "s01_correct,Ada Lovelace,101,U101,ada,A\n",
        encoding="utf-8",
    )
    with Gradebook.open(graded_class.gradebook) as book:
        if not book.quiz_attempts():
            for student, (q1, q2) in QUIZ_ANSWERS.items():
                questions = [
                    {"id": "q1", "chosen": [q1], "score": float(q1 == "a"), "max_score": 1.0},
                    {"id": "q2", "chosen": [q2], "score": float(q2 == "c"), "max_score": 1.0},
                ]
                score = sum(q["score"] for q in questions)
                book.save_quiz_attempt(
                    QuizAttemptRecord(
                        student, "quiz-01", 1, 5, "exam", "finished",
                        finished_at="2025-03-20T11:00:00+00:00", score=score,
                        max_score=2.0, data=attempt_data(questions),
                    )
                )  # fmt: skip
            # an unfinished later attempt must not count
            book.save_quiz_attempt(QuizAttemptRecord("s01_correct", "quiz-01", 2, 6, "exam"))
    return folder
