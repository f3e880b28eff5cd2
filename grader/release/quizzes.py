"""Which quizzes go into a student kit, and in what form.

Every quiz of the bank ships through `grader.quiz.serialize.write_student_bank`: practice
quizzes keep their key (they exist to give feedback at once); exam-mode quizzes lose
answers, feedback, explanations and solvers, so students can take them and hand in the
attempt file, and only the instructor's bank can mark them.
"""

from __future__ import annotations

from pathlib import Path

from grader.quiz.errors import QuizFormatError
from grader.quiz.loader import load_bank
from grader.quiz.serialize import write_student_bank


class QuizReleaseError(ValueError):
    """A quiz file cannot be read (one-line message)."""


def release_quizzes(source: Path, target: Path) -> list[str]:
    """Write the kit copy of every quiz of `source` into `target`; one line per quiz."""
    if not source.is_dir():
        return []
    quizzes, errors = load_bank(source)
    if errors:
        raise QuizReleaseError(str(errors[0]))
    target.mkdir(parents=True, exist_ok=True)
    lines = []
    for quiz in quizzes:
        write_student_bank(quiz, target)
        kept = "key kept (practice)" if quiz.mode != "exam" else "answer key stripped (exam)"
        lines.append(f"quiz {quiz.name}: {kept}")
    return lines


__all__ = ["QuizFormatError", "QuizReleaseError", "release_quizzes"]
