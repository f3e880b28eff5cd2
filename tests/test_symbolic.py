"""grader.symbolic: typed answers and student sympy text are read, never run, then compared.

Accepted: typed notation (`2x`, `a^2`, `(x-b)(x+b)`, unicode) and what sympy prints for
ordinary expressions, judged equal at random points (simplify when points cannot decide).
Refused quickly with a one-line message, and never executed: calls of anything but the
whitelisted functions, attributes, subscripts, lambdas, strings, undeclared names, huge
numbers, high degrees, long or deeply nested text. Comparisons run in a child process
with a time limit and a memory cap.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import sympy
from density_symbols import GAUSSIAN, NO_JACOBIAN, SYMBOLS, a, b, x

from grader import symbolic
from grader.symbolic import (
    MAX_LENGTH,
    SymbolicInputError,
    SymbolicTimeout,
    declare_symbols,
    default_functions,
    equivalent,
    first_equivalent,
    parse_expression,
)

MARKER = Path("/tmp/flowgrade_symbolic_ran")


def _chars(text: str) -> str:
    """Python source that builds `text` without quotes: chr(116)+chr(111)+..."""
    return "+".join(f"chr({ord(c)})" for c in text)


# A live payload without quote characters, so it gets past the character check.
QUOTELESS_PAYLOAD = f"__import__({_chars('os')}).system({_chars(f'touch {MARKER}')})"


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2x + 1", 2 * x + 1),
        ("a^2", a**2),
        ("ab", a * b),
        ("(x-b)(x+b)", (x - b) * (x + b)),
        ("2(x+1)", 2 * (x + 1)),
        ("−x·2²", -4 * x),
        ("exp(x)log(a)", sympy.exp(x) * sympy.log(a)),
        ("abs(x)", sympy.Abs(x)),
        ("0.5x", x / 2),
        ("1e-3", sympy.Rational(1, 1000)),
        ("pi a", sympy.pi * a),
        ("sech(x)^2", sympy.sech(x) ** 2),
        ("e^(-x^2/2)", sympy.exp(-(x**2) / 2)),
        ("x^x", x**x),
    ],
)
def test_parses_common_notation(text: str, expected: sympy.Expr) -> None:
    assert sympy.simplify(parse_expression(text, SYMBOLS) - expected) == 0


def test_parsing_builds_exact_sympy_objects_with_the_declared_assumptions() -> None:
    assert parse_expression("1/2", SYMBOLS) == sympy.Rational(1, 2)
    assert parse_expression("sqrt(a**2)", SYMBOLS) == a  # a is positive
    assert parse_expression("sqrt(x**2)", SYMBOLS) == sympy.Abs(x)  # x is only real
    assert parse_expression("-x + 2*b", SYMBOLS) == -x + 2 * b


def test_declared_multi_letter_names_are_not_split() -> None:
    symbols = declare_symbols({"mu": {}, "m": {}, "u": {}})
    assert parse_expression("mu", symbols) == symbols["mu"]
    assert parse_expression("m u", symbols) == symbols["m"] * symbols["u"]


def test_digits_in_declared_names() -> None:
    symbols = declare_symbols({"u1": {}, "w1": {}})
    assert parse_expression("u1*w1", symbols) == symbols["u1"] * symbols["w1"]


def test_size_limits_sit_just_above_reasonable_answers() -> None:
    assert parse_expression("(x^10 + 1)^100", SYMBOLS) == (x**10 + 1) ** 100  # degree 1000
    assert parse_expression("+".join(["x*b"] * 30), SYMBOLS) == 30 * x * b
    nested = "(" * 30 + "x" + ")" * 30
    assert parse_expression(nested, SYMBOLS) == x
    assert parse_expression(" + ".join(["x"] * 60), SYMBOLS) == 60 * x  # flat sums: one level


# ---------------------------------------------------------------- refusals

HOSTILE = [
    (f"__import__('os').system('touch {MARKER}')", "character"),
    (f'__import__("os").system("touch {MARKER}")', "character"),
    (QUOTELESS_PAYLOAD, "not allowed"),
    ("__import__", "not allowed"),
    ("os.system", "attribute access"),
    ("x.real", "attribute access"),
    ("exp.__globals__", "attribute access"),
    ("x.__class__.__mro__", "attribute access"),
    ("().__class__.__bases__", "attribute access"),
    ("(lambda: 1)()", "character ':'"),
    ("[c for c in x]", "character '['"),
    ("x[0]", "character '['"),
    ("(x, b)[0]", "character '['"),
    ("x; import os", "character ';'"),
    ("x # comment", "character '#'"),
    ("\\x", "character"),
    ("'x'", "character"),
    ("x = 1", "character '='"),
    ("x == b", "character '='"),
    ("x < b", "character '<'"),
    ("exp(x, b=1)", "character '='"),
    ("eval(x)", "unknown name 'eval'"),
    ("open(x)", "unknown name 'open'"),
    ("getattr(x, b)", "unknown name 'getattr'"),
    ("x if x else b", "unknown name"),
    ("True", "unknown name 'True'"),
    ("2j", "unknown name 'j'"),
    ("y", "unknown name 'y'"),
    ("mu + x", "unknown name 'mu'"),
    ("exp", "write exp(...)"),
    ("log x", "write log(...)"),
    ("exp(x, b)", "exp()"),
    ("1e999", "out of range"),
    ("9**9**9", "too large"),
    ("2**10**10", "too large"),
    ("10^(10^5)", "too large"),
    ("x**1001", "exponent too large"),
    ("(x**100)**100", "exponent too large"),
    ("(x^10 + 1)^101", "exponent too large"),
    ("x" + " + x" * 1000, "too long"),
    ("+".join(["x*b"] * 100), "too large"),
    ("(" * 150 + "x" + ")" * 150, "nested too deeply"),
    ("-" * 300 + "x", "nested too deeply"),
]


@pytest.mark.parametrize(("text", "fragment"), HOSTILE)
def test_hostile_input_is_refused_quickly_with_one_line(text: str, fragment: str) -> None:
    MARKER.unlink(missing_ok=True)
    start = time.perf_counter()
    with pytest.raises(SymbolicInputError) as info:
        parse_expression(text, SYMBOLS)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and "Traceback" not in message
    assert not MARKER.exists()


def test_the_quoteless_payload_is_live_python_yet_never_runs() -> None:
    MARKER.unlink(missing_ok=True)
    assert len(QUOTELESS_PAYLOAD) <= MAX_LENGTH
    eval(QUOTELESS_PAYLOAD)  # trusted test code: proves the payload would touch the marker
    assert MARKER.exists()
    MARKER.unlink()
    with pytest.raises(SymbolicInputError):
        parse_expression(QUOTELESS_PAYLOAD, SYMBOLS)
    assert not MARKER.exists()


def test_nothing_is_evaluated_through_sympify(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("sympify/parse_expr must never see student text")

    monkeypatch.setattr(sympy, "sympify", forbidden)
    monkeypatch.setattr(sympy, "parse_expr", forbidden)
    assert parse_expression("-log(2 pi a^2)/2 - (x-b)^2/(2a^2)", SYMBOLS).has(sympy.log)


def test_unknown_name_lists_the_valid_symbols() -> None:
    with pytest.raises(SymbolicInputError, match=r"unknown name 'y'.*a, b, x"):
        parse_expression("y + 1", SYMBOLS)


def test_function_whitelist_can_be_restricted() -> None:
    only_log = {"log": sympy.log}
    assert parse_expression("log(a)", SYMBOLS, only_log) == sympy.log(a)
    with pytest.raises(SymbolicInputError):
        parse_expression("exp(a)", SYMBOLS, only_log)


def test_function_names_match_the_whitelist() -> None:
    assert set(default_functions()) == set(symbolic.FUNCTION_NAMES)


# ---------------------------------------------------------------- equivalence


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
def test_printed_sympy_forms_match_the_reference(text: str) -> None:
    expression = parse_expression(text, SYMBOLS)
    assert first_equivalent(expression, [GAUSSIAN, NO_JACOBIAN]) == 0


def test_a_known_mistake_is_recognised_and_a_wrong_answer_is_not() -> None:
    mistake = parse_expression("exp(-(x - b)**2/(2*a**2))/sqrt(2*pi)", SYMBOLS)
    wrong = parse_expression("exp(-(x - b)**2/(2*a**2))/(3.14*a)", SYMBOLS)
    assert first_equivalent(mistake, [GAUSSIAN, NO_JACOBIAN]) == 1
    assert first_equivalent(wrong, [GAUSSIAN, NO_JACOBIAN]) is None
    with pytest.raises(ValueError, match="candidates"):
        first_equivalent(wrong, [])


def test_equivalence_uses_assumptions() -> None:
    left = parse_expression("-log(2 pi a^2)/2 - (x-b)^2/(2a^2)", SYMBOLS)
    right = parse_expression("-log(a) - log(2 pi)/2 - (b - x)^2/2/a^2", SYMBOLS)
    assert equivalent(left, right)
    assert not equivalent(left, right + 1)


def test_equivalence_of_hyperbolic_identities() -> None:
    left = parse_expression("1 + (x+b) sech(a)^2", SYMBOLS)
    assert equivalent(left, parse_expression("1 + (x+b)(1 - tanh(a)^2)", SYMBOLS))
    assert equivalent(left, parse_expression("1 + (x+b)/cosh(a)^2", SYMBOLS))
    assert not equivalent(left, parse_expression("1 + (x+b) tanh(a)", SYMBOLS))


def test_random_points_decide_equivalence() -> None:
    expr = parse_expression("log(exp(x) + exp(b))", SYMBOLS)
    same = parse_expression("x + log(1 + exp(b - x))", SYMBOLS)
    assert symbolic._numerically_equal(expr, same) is True
    assert symbolic._numerically_equal(expr, same + parse_expression("1e-6", SYMBOLS)) is False


def test_points_where_both_sides_vanish_do_not_count_as_agreement() -> None:
    narrow = parse_expression("exp(-1000x^2)", SYMBOLS)
    assert not equivalent(narrow, 2 * narrow)
    assert equivalent(narrow, parse_expression("exp(-500x^2)exp(-500x^2)", SYMBOLS))
    assert equivalent(parse_expression("log(2) + log(3) - log(6)", SYMBOLS), sympy.Integer(0))


def test_wrong_answers_are_decided_by_points_without_simplify(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A differing point settles it: the slow simplify/equals are never reached."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("simplify/equals must not run for a wrong answer")

    monkeypatch.setattr(sympy, "simplify", forbidden)  # inherited by the forked child
    monkeypatch.setattr(sympy.Expr, "equals", forbidden)
    key = parse_expression("-log(2 pi a^2)/2 - (x-b)^2/(2a^2)", SYMBOLS)
    for wrong in ("-log(2 pi)/2 + log(a) - (x-b)^2/(2a^2)", "-log(2 pi a^2)/2 - (x-b)^2/2"):
        assert not equivalent(key, parse_expression(wrong, SYMBOLS))


# ---------------------------------------------------------------- the child process


def test_equivalence_has_a_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    def stall(*_: object) -> bool:
        time.sleep(30)
        return True

    monkeypatch.setattr(symbolic, "decide_equivalence", stall)
    start = time.perf_counter()
    with pytest.raises(SymbolicTimeout):
        equivalent(x, x, timeout_s=0.5)
    assert time.perf_counter() - start < 5


def test_a_runaway_evaluation_is_killed_at_the_time_limit() -> None:
    tower = parse_expression("exp(exp(exp(exp(exp(exp(a))))))", SYMBOLS)  # a > 0
    start = time.perf_counter()
    with pytest.raises(SymbolicTimeout):
        equivalent(tower, a, timeout_s=0.5)
    assert time.perf_counter() - start < 3.0


@pytest.mark.skipif(sys.platform != "linux", reason="the memory cap uses RLIMIT_AS on Linux")
def test_the_child_runs_under_a_memory_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    def hog(*_: object) -> bool:
        return len(bytearray(1 << 30)) > 0  # 1 GiB, far above the 64 MiB headroom below

    monkeypatch.setattr(symbolic, "MEMORY_HEADROOM_BYTES", 64 << 20)
    monkeypatch.setattr(symbolic, "decide_equivalence", hog)
    with pytest.raises(SymbolicInputError, match="MemoryError"):
        equivalent(x, x, timeout_s=10.0)
