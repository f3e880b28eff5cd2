"""Reading one bank file's data with errors that name the file and the question.

    where = Where("quizzes/coupling.yaml", "coupling-logdet")
    stem = where.text(data, "stem")          # or QuizFormatError("...: question ...: ...")

Shared by the schema (quiz level, templates) and by each question kind, which reads and
validates its own fields (`grader.quiz.kinds`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from grader.quiz.errors import QuizFormatError

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class Where:
    """The file and question being read, so every error names both."""

    def __init__(self, source: str, question: str | None = None) -> None:
        self.source = source
        self.question = question

    def fail(self, problem: str) -> QuizFormatError:
        return QuizFormatError(self.source, problem, self.question)

    def mapping(self, value: Any, what: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"{what} must be a mapping (key: value), not {type_name(value)}")
        return value

    def known_keys(self, data: Mapping[str, Any], allowed: set[str], what: str) -> None:
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            expected = ", ".join(sorted(allowed))
            raise self.fail(f"unknown key {unknown[0]!r} in {what} (expected one of: {expected})")

    def text(self, data: Mapping[str, Any], key: str, *, required: bool = True) -> str:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(f"missing {key!r}")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(f"{key!r} must be non-empty text")
        return value.strip()

    def number(self, data: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
        value = data.get(key, default)
        if not is_number(value):
            raise self.fail(f"{key!r} must be a number, not {type_name(value)}")
        if value < minimum:
            raise self.fail(f"{key!r} must be at least {minimum:g}")
        return float(value)

    def boolean(self, data: Mapping[str, Any], key: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key!r} must be true or false")
        return value

    def items(self, data: Mapping[str, Any], key: str) -> list[Any]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{key!r} must be a list")
        return value

    def identifier(self, value: Any, problem: str) -> str:
        """`value` if it is a bank id (lower-case letters, digits, '-'), else `problem`."""
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            raise self.fail(problem)
        return value


def type_name(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def is_number(value: Any) -> bool:
    """An int or float from YAML (a bool is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
