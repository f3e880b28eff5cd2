"""Project tests for grader.testing.safe_sympy: student expression text is read, never run.

Accepted: what sympy prints for ordinary expressions, judged equal by simplify or, failing
that, at random points. Rejected with a clear message, and never executed: calls of
anything but whitelisted functions, attributes, subscripts, lambdas, strings, unknown
names, huge or nested exponents. Comparisons that run too long are killed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sympy

from grader.testing.safe_sympy import (
    ExpressionTimeout,
    UnsafeExpression,
    classify,
    parse_expression,
    validate,
)

X, B = sympy.symbols("x b", real=True)
A = sympy.Symbol("a", positive=True)
SYMBOLS = {"x": X, "a": A, "b": B}
GAUSSIAN = sympy.exp(-((X - B) ** 2) / (2 * A**2)) / (sympy.sqrt(2 * sympy.pi) * A)
NO_JACOBIAN = sympy.exp(-((X - B) ** 2) / (2 * A**2)) / sympy.sqrt(2 * sympy.pi)
MARKER = Path("/tmp/flowgrade_safe_sympy_ran")


@pytest.mark.parametrize(
    "text",
    [
        str(GAUSSIAN),
        "exp(-(x - b)**2/(2*a**2))/sqrt(2*pi*a**2)",
        "sqrt(2)*exp(-(-b + x)**2/(2*a**2))/(2*sqrt(pi)*Abs(a))",
        "exp(-(x-b)**2/(2*a**2))/(a*(2*pi)**(1/2))",
        "0.398942280401433*exp(-0.5*(x - b)**2/a**2)/a",
    ],
)
def test_equivalent_forms_match_the_reference(text: str) -> None:
    assert classify(text, SYMBOLS, [GAUSSIAN, NO_JACOBIAN]) == 0


def test_a_known_mistake_is_recognised_and_a_wrong_answer_is_not() -> None:
    assert classify("exp(-(x - b)**2/(2*a**2))/sqrt(2*pi)", SYMBOLS, [GAUSSIAN, NO_JACOBIAN]) == 1
    assert classify("exp(-(x - b)**2/(2*a**2))/(3.14*a)", SYMBOLS, [GAUSSIAN, NO_JACOBIAN]) is None


def test_parsing_builds_exact_sympy_objects_with_the_declared_assumptions() -> None:
    assert parse_expression("1/2", SYMBOLS) == sympy.Rational(1, 2)
    assert parse_expression("sqrt(a**2)", SYMBOLS) == A  # a is positive
    assert parse_expression("-x + 2*b", SYMBOLS) == -X + 2 * B


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"__import__('os').system('touch {MARKER}')", "is not allowed"),
        ("__import__('os')", "calling __import__ is not allowed"),
        ("exp.__globals__", "attribute access"),
        ("x.__class__.__mro__", "attribute access"),
        ("(x, b)[0]", "not allowed"),
        ("x[0]", "indexing"),
        ("(lambda: 1)()", "not allowed"),
        ("'x'", "only numbers"),
        ("True", "only numbers"),
        ("2j", "only numbers"),
        ("1e999", "inf/nan"),
        ("mu + x", "unknown name 'mu'"),
        ("exp", "unknown name 'exp'"),
        ("exp(x, b)", "exactly one plain argument"),
        ("exp(x=1)", "exactly one plain argument"),
        ("9**9**9", "nested powers"),
        ("x**x", "an exponent must be a number"),
        ("x**1001", "limited to magnitude 1000"),
        ("(x**100)**100", "nested powers multiply"),
        ("x if a else b", "if-expression"),
        ("x < b", "comparison"),
        ("[x for x in ()]", "not allowed"),
        ("x" + " + x" * 1000, "characters long"),
        ("x = 1", "not a valid expression"),
    ],
)
def test_hostile_or_unsupported_text_is_rejected(text: str, message: str) -> None:
    MARKER.unlink(missing_ok=True)
    with pytest.raises(UnsafeExpression) as caught:
        classify(text, SYMBOLS, [GAUSSIAN])
    assert message in str(caught.value)
    assert not MARKER.exists()


def test_too_many_parts_are_rejected() -> None:
    text = "+".join(["x*b"] * 300)  # short enough in characters, too many nodes
    with pytest.raises(UnsafeExpression, match="too large"):
        validate(text, SYMBOLS)


def test_a_runaway_comparison_is_killed_at_the_time_limit() -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionTimeout):
        classify("(x + a + b + 1)**1000*(x + 2*a)**999", SYMBOLS, [GAUSSIAN], timeout=0.5)
    assert time.perf_counter() - started < 3.0
