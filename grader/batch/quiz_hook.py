"""How `grade batch` scores the quiz attempt files found in student folders.

Discovery (`grader.batch.discovery.find_quiz_attempt_files`) finds `*.attempt.json`
files (written by `grade quiz take --save-file`). Each is loaded without executing
anything, marked against the instructor's full bank with the student's own shown order
and drawn numbers, and stored; an attempt with the same (student, quiz, attempt) is
updated, so a rerun never duplicates a row.
"""

from __future__ import annotations

from pathlib import Path

from grader.gradebook import Gradebook, QuizAttemptRecord
from grader.quiz.attempt_file import load_attempt_file
from grader.quiz.errors import QuizError
from grader.quiz.loader import load_quiz
from grader.quiz.take import score_attempt


def score_attempt_file(path: Path, student: str, bank: Path | None = None) -> QuizAttemptRecord:
    """Load and mark one attempt file of `student` (the folder's name wins over the file's)."""
    record = load_attempt_file(path)
    record.student = student
    return score_attempt(load_quiz(record.quiz, bank), record)


def store_attempts(
    gradebook: Gradebook, student: str, paths: list[Path], bank: Path | None = None
) -> tuple[int, list[str]]:
    """Score and store every attempt file of one student.

    Returns how many were stored and one line per file that could not be scored.
    """
    stored, problems = 0, []
    for path in paths:
        try:
            record = score_attempt_file(path, student, bank)
        except QuizError as err:
            problems.append(f"{student}: {err}")
            continue
        existing = {(a.quiz, a.attempt): a.id for a in gradebook.quiz_attempts(student=student)}
        record.id = existing.get((record.quiz, record.attempt))
        gradebook.save_quiz_attempt(record)
        stored += 1
    return stored, problems
