"""Reading a typed answer: letters, a number or an expression.

    parse_answer(shown, "b d") -> {"text": "b d", "chosen": ["opt-x", "opt-y"]}

The stored answer keeps the raw text and what it means in bank terms (option ids, the
number, the canonical expression), never just the displayed letter. Bad input raises
InvalidAnswer whose message says what is expected; the caller re-prompts.
"""

from __future__ import annotations

import math
import re
from typing import Any

from grader.quiz.shown import ShownQuestion


class InvalidAnswer(ValueError):
    """The typed text is not an answer of the expected kind; the message is the hint."""


def expected_input(shown: ShownQuestion) -> str:
    """A short description of what to type for this question."""
    question = shown.question
    last = shown.letters[-1] if shown.letters else "A"
    if question.kind == "single":
        return f"type one letter, A-{last}"
    if question.kind == "multi":
        return f"type every letter you select (A-{last}), e.g. 'A C'"
    if question.kind == "numeric":
        return "type a number, e.g. 0.25, -3.5 or 1.2e-3 (arithmetic like 32*32*log(0.8) is fine)"
    symbols = ", ".join(question.symbols) or "no symbols"
    return f"type an expression in {symbols} using + - * / ^ ( ) and functions such as exp, log"


def parse_answer(shown: ShownQuestion, text: str) -> dict[str, Any]:
    """Interpret `text` for this question, or raise InvalidAnswer with a hint."""
    text = text.strip()
    if not text:
        raise InvalidAnswer(f"no answer given; {expected_input(shown)}")
    kind = shown.question.kind
    if kind in ("single", "multi"):
        return {"text": text, "chosen": _letters(shown, text)}
    if kind == "numeric":
        return {"text": text, "value": parse_number(text)}
    return {"text": text, "expression": _expression(shown, text)}


def _letters(shown: ShownQuestion, text: str) -> list[str]:
    raw = re.sub(r"[\s,;]+", "", text).upper()
    hint = expected_input(shown)
    if not raw or any(c not in shown.letters for c in raw):
        raise InvalidAnswer(f"{text!r} is not a choice here; {hint}")
    if len(set(raw)) != len(raw):
        raise InvalidAnswer(f"a letter appears twice in {text!r}; {hint}")
    if shown.question.kind == "single" and len(raw) != 1:
        raise InvalidAnswer(f"choose exactly one option; {hint}")
    return [shown.option_id_at(c) for c in raw]


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


def _expression(shown: ShownQuestion, text: str) -> str:
    from grader.symbolic import SymbolicInputError, declare_symbols, parse_expression

    question = shown.question
    try:
        parsed = parse_expression(text, declare_symbols(question.symbols), _functions(question))
    except SymbolicInputError as err:
        raise InvalidAnswer(f"{err}; {expected_input(shown)}") from None
    return str(parsed)


def _functions(question: Any) -> dict[str, Any] | None:
    from grader.symbolic import default_functions

    if question.functions is None:
        return None
    allowed = default_functions()
    return {name: allowed[name] for name in question.functions}
