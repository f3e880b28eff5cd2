"""Errors of the quiz subsystem. Every message is one line meant for the person at the terminal."""

from __future__ import annotations


class QuizError(Exception):
    """Base class: a quiz problem reported as one line, never as a traceback."""


class QuizFormatError(QuizError):
    """A quiz file is malformed; the message names the file, the question id and the problem."""

    def __init__(self, source: str, problem: str, question: str | None = None) -> None:
        where = f"{source}: question {question}" if question else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.question = question
        self.problem = problem


class UnknownQuiz(QuizError):
    """A quiz name that is not in the bank; the message lists the valid names."""

    def __init__(self, name: str, valid: list[str]) -> None:
        choices = ", ".join(valid) if valid else "(the bank is empty)"
        super().__init__(f"unknown quiz {name!r}; valid quizzes: {choices}")


class AttemptFileError(QuizError):
    """An attempt file is missing, unreadable or does not match the expected format."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


class AttemptMismatch(QuizError):
    """A stored attempt does not fit the quiz it is being marked or resumed against."""
