"""Reading a typed answer: letters, a number or an expression.

    parse_answer(shown, "b d") -> {"text": "b d", "chosen": ["opt-x", "opt-y"]}

The stored answer keeps the raw text and what it means in bank terms (option ids, the
number, the canonical expression), never just the displayed letter; each question kind
reads its own (`Question.read_answer`). Bad input raises
InvalidAnswer whose message says what is expected; the caller re-prompts.
"""

from __future__ import annotations

import math
from typing import Any

from grader.quiz.shown import ShownQuestion


class InvalidAnswer(ValueError):
    """The typed text is not an answer of the expected kind; the message is the hint."""


def expected_input(shown: ShownQuestion) -> str:
    """A short description of what to type for this question (each kind says its own)."""
    return shown.question.expected_input(shown)


def parse_answer(shown: ShownQuestion, text: str) -> dict[str, Any]:
    """Interpret `text` for this question, or raise InvalidAnswer with a hint."""
    text = text.strip()
    if not text:
        raise InvalidAnswer(f"no answer given; {expected_input(shown)}")
    return {"text": text, **shown.question.read_answer(shown, text)}


def parse_number(text: str) -> float:
    """A typed number; simple arithmetic is evaluated safely through grader.symbolic."""
    try:
        value = float(text.replace("−", "-"))
    except ValueError:
        value = _arithmetic(text)
    if not math.isfinite(value):
        raise InvalidAnswer("the number must be finite")
    return value


def _arithmetic(text: str) -> float:
    from grader.symbolic import SymbolicInputError, parse_expression

    hint = "type a number, e.g. 0.25, -3.5 or 1.2e-3"
    try:
        expression = parse_expression(text, {})
        value = complex(expression.evalf(30))
    except SymbolicInputError as err:
        raise InvalidAnswer(f"{err}; {hint}") from None
    except (TypeError, ValueError, OverflowError):
        raise InvalidAnswer(f"{text!r} is not a number; {hint}") from None
    if abs(value.imag) > 1e-12 * max(1.0, abs(value.real)):
        raise InvalidAnswer(f"{text!r} is not a real number; {hint}")
    return value.real
