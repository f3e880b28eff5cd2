"""Which quizzes go into a student kit, and in what form.

Every quiz of the bank ships through `grader.quiz.serialize.write_student_bank`: practice
quizzes keep their key (they exist to give feedback at once), with each template's solver
replaced by a table of keyed draws computed here with the full repository, since solvers
may call the reference solutions that the kit does not ship (`grader.quiz.tables`);
exam-mode quizzes lose answers, feedback, explanations and solvers, so students can take
them and hand in the attempt file, and only the instructor's bank can mark them.
"""

from __future__ import annotations

from pathlib import Path

from grader.quiz.errors import QuizError, QuizFormatError
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
        try:
            write_student_bank(quiz, target)
        except QuizError as err:
            raise QuizReleaseError(f"quiz {quiz.name}: {err}") from None
        templates = sum(q.variant is not None for q in quiz.questions)
        if quiz.mode == "exam":
            kept = "answer key stripped (exam)"
        elif templates:
            kept = f"key kept (practice), {templates} template(s) as precomputed variant tables"
        else:
            kept = "key kept (practice)"
        lines.append(f"quiz {quiz.name}: {kept}")
    return lines


__all__ = ["QuizFormatError", "QuizReleaseError", "release_quizzes"]
