"""The hook through which `grade batch` scores quiz attempt files found in student folders.

Discovery (`grader.batch.discovery.find_quiz_attempt_files`) finds `*.attempt.json`
files. Scoring them belongs to the quiz package: this module calls
`grader.quiz.score_attempt_file(path, student) -> QuizAttemptRecord` when it exists and
stores each record, updating the stored attempt with the same (student, quiz, attempt)
so that a rerun never duplicates a row.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grader.gradebook import Gradebook, QuizAttemptRecord

Scorer = Callable[[Path, str], QuizAttemptRecord]

NOT_CONNECTED = (
    "quiz attempt files were found but not scored: quiz scoring is not available "
    "(grader.quiz.score_attempt_file is missing)"
)


def attempt_scorer() -> Scorer | None:
    """The quiz package's scorer, or None while it is not installed."""
    try:
        from grader.quiz import score_attempt_file  # type: ignore[attr-defined]
    except ImportError:
        return None
    return score_attempt_file  # type: ignore[no-any-return]


def store_attempts(gradebook: Gradebook, student: str, paths: list[Path], scorer: Scorer) -> int:
    """Score and store every attempt file of one student; returns how many were stored."""
    stored = 0
    for path in paths:
        record = scorer(path, student)
        existing = {
            (a.quiz, a.attempt): a.id for a in gradebook.quiz_attempts(student=record.student)
        }
        record.id = existing.get((record.quiz, record.attempt))
        gradebook.save_quiz_attempt(record)
        stored += 1
    return stored
