"""Read a student's sympy expression from its text without ever executing that text.

Student code runs in a worker; a sympy result comes back only as `str(expr)`
(`grader.runner.protocol.SympyText`). This module never calls `sympify`, `eval` or
`parse_expr` on it. Instead:

1. `validate` parses the text with `ast.parse` and accepts only numbers, the declared
   symbols, the constants pi and E, the operators + - * / ** (unary + and -) and calls of
   whitelisted functions with plain positional arguments. Exponents must be numeric
   constants whose magnitude, multiplied along nested powers, stays <= MAX_EXPONENT.
2. `build` turns the checked tree into a sympy expression node by node.
3. `classify` compares the expression with a list of candidates (reference first, then
   known mistakes) in a forked child process with a time limit and a memory cap, which
   answers with one byte; a runaway simplification is killed, never waited for.

Equivalence: `simplify(student - candidate) == 0`, otherwise agreement at random points.
"""

from __future__ import annotations

import ast
import contextlib
import math
import os
import random
import select
import signal
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

import sympy

MAX_TEXT = 2000
MAX_NODES = 400
MAX_DEPTH = 50
MAX_EXPONENT = 1000
MAX_INTEGER = 10**30
MAX_CANDIDATES = 250
MEMORY_HEADROOM_BYTES = 2 << 30

FUNCTIONS: dict[str, Callable[[sympy.Expr], sympy.Expr]] = {
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "Abs": sympy.Abs,
    "sign": sympy.sign,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "asinh": sympy.asinh,
    "atan": sympy.atan,
    "erf": sympy.erf,
}
CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}

_BINARY: dict[type[ast.operator], Callable[[sympy.Expr, sympy.Expr], sympy.Expr]] = {
    ast.Add: lambda left, right: left + right,
    ast.Sub: lambda left, right: left - right,
    ast.Mult: lambda left, right: left * right,
    ast.Div: lambda left, right: left / right,
    ast.Pow: lambda left, right: left**right,
}
_NO_MATCH = 255
_FAILED = 254


class UnsafeExpression(ValueError):
    """The text is not an expression this module accepts; the message says why."""


class ExpressionTimeout(RuntimeError):
    """Comparing the expression took longer than the time limit."""


class ExpressionUnusable(RuntimeError):
    """The expression passed the checks but could not be built or evaluated."""


# ---------------------------------------------------------------- validation (no sympy)


def validate(text: str, symbols: Mapping[str, sympy.Symbol]) -> ast.expr:
    """Parse `text` and check every node against the whitelist; return the expression tree."""
    if not isinstance(text, str):
        raise UnsafeExpression(f"expected the text of an expression, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise UnsafeExpression(f"the expression is {len(text)} characters long (limit {MAX_TEXT})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise UnsafeExpression(f"the text is not a valid expression: {err}") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise UnsafeExpression(f"the expression is too large ({nodes} parts, limit {MAX_NODES})")
    _check(tree.body, symbols, depth=0, power=1)
    return tree.body


def _allowed(symbols: Mapping[str, sympy.Symbol]) -> str:
    names = ", ".join([*symbols, *CONSTANTS])
    return f"allowed are the symbols and constants {names} and the functions {', '.join(FUNCTIONS)}"


def _check(node: ast.AST, symbols: Mapping[str, sympy.Symbol], depth: int, power: int) -> None:
    if depth > MAX_DEPTH:
        raise UnsafeExpression(f"the expression is nested too deeply (limit {MAX_DEPTH})")
    if isinstance(node, ast.Constant):
        _number(node)
    elif isinstance(node, ast.Name):
        if node.id not in symbols and node.id not in CONSTANTS:
            raise UnsafeExpression(f"unknown name {node.id!r}; {_allowed(symbols)}")
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        _check(node.operand, symbols, depth + 1, power)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exponent = _constant_value(node.right)
        power *= max(1, math.ceil(abs(exponent)))
        if power > MAX_EXPONENT:
            raise UnsafeExpression(
                f"exponents are limited to magnitude {MAX_EXPONENT} (nested powers multiply)"
            )
        _check(node.left, symbols, depth + 1, power)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, symbols, depth + 1, power)
        _check(node.right, symbols, depth + 1, power)
    elif isinstance(node, ast.Call):
        _check_call(node, symbols, depth, power)
    else:
        raise UnsafeExpression(f"{_describe(node)} is not allowed; {_allowed(symbols)}")


def _check_call(
    node: ast.Call, symbols: Mapping[str, sympy.Symbol], depth: int, power: int
) -> None:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        name = ast.unparse(node.func)[:60]
        raise UnsafeExpression(f"calling {name} is not allowed; {_allowed(symbols)}")
    if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
        raise UnsafeExpression(f"{node.func.id} takes exactly one plain argument here")
    _check(node.args[0], symbols, depth + 1, power)


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "attribute access (.name)",
        ast.Subscript: "indexing ([...])",
        ast.Lambda: "a lambda",
        ast.Compare: "a comparison",
        ast.BoolOp: "and/or",
        ast.IfExp: "an if-expression",
    }
    return kinds.get(type(node), f"a {type(node).__name__} node")


def _number(node: ast.Constant) -> int | float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnsafeExpression(f"only numbers are allowed as constants, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UnsafeExpression("the constant inf/nan is not allowed")
    if abs(value) > MAX_INTEGER:
        raise UnsafeExpression(f"the number {value:.3g} is too large (limit 1e30)")
    return value


def _constant_value(node: ast.AST) -> Fraction:
    """The exact value of an exponent made of numbers, + - * / and unary minus only."""
    if isinstance(node, ast.Constant):
        return Fraction(_number(node))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _constant_value(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        left, right = _constant_value(node.left), _constant_value(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise UnsafeExpression("division by zero in an exponent")
        result = _BINARY[type(node.op)](left, right)  # type: ignore[arg-type]
        if abs(result) > MAX_EXPONENT:
            raise UnsafeExpression(f"exponents are limited to magnitude {MAX_EXPONENT}")
        return result
    raise UnsafeExpression(
        "an exponent must be a number (write exp(...) for a variable exponent; "
        "nested powers such as 9**9**9 are not allowed)"
    )


# ---------------------------------------------------------------- building and comparing


def build(node: ast.expr, symbols: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    """The sympy expression for a tree that `validate` accepted."""
    if isinstance(node, ast.Constant):
        value = node.value
        return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)
    if isinstance(node, ast.Name):
        return symbols[node.id] if node.id in symbols else CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = build(node.operand, symbols)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](build(node.left, symbols), build(node.right, symbols))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return FUNCTIONS[node.func.id](build(node.args[0], symbols))
    raise UnsafeExpression("unexpected node")  # validate() rules this out


def parse_expression(text: str, symbols: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    """`validate` then `build`, in this process (for trusted or already-bounded text)."""
    return build(validate(text, symbols), symbols)


def _sample_points(
    symbols: Sequence[sympy.Symbol], count: int, seed: int
) -> list[dict[sympy.Symbol, float]]:
    generator = random.Random(seed)
    points = []
    for _ in range(count):
        point = {}
        for symbol in symbols:
            low, high = (0.2, 3.0) if symbol.is_positive else (-3.0, 3.0)
            point[symbol] = generator.uniform(low, high)
        points.append(point)
    return points


def _value(expr: sympy.Expr, point: Mapping[sympy.Symbol, float]) -> complex | None:
    try:
        value = complex(expr.evalf(30, subs=dict(point)))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return value if math.isfinite(value.real) and math.isfinite(value.imag) else None


def numerically_equal(
    expr: sympy.Expr,
    other: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    *,
    points: int = 12,
    seed: int = 0,
    rtol: float = 1e-8,
) -> bool:
    """True when both agree at random points (positive symbols drawn from [0.2, 3])."""
    compared = 0
    for point in _sample_points(symbols, points, seed):
        expected = _value(other, point)
        if expected is None:
            continue
        got = _value(expr, point)
        if got is None or abs(got - expected) > rtol * max(1.0, abs(expected)):
            return False
        compared += 1
    return compared >= points // 2


def equivalent(
    expr: sympy.Expr, other: sympy.Expr, symbols: Sequence[sympy.Symbol], seed: int = 0
) -> bool:
    """simplify(expr - other) == 0, with agreement at random points as the fallback."""
    try:
        if sympy.simplify(expr - other) == 0:
            return True
    except Exception:  # simplify can give up on exotic input; the numeric test decides
        pass
    return numerically_equal(expr, other, symbols, seed=seed)


def _first_match(
    tree: ast.expr,
    symbols: Mapping[str, sympy.Symbol],
    candidates: Sequence[sympy.Expr],
    seed: int,
) -> int:
    expr = build(tree, symbols)
    variables = list(symbols.values())
    if equivalent(expr, candidates[0], variables, seed):
        return 0
    for index, candidate in enumerate(candidates[1:], start=1):
        if numerically_equal(expr, candidate, variables, seed=seed):
            return index
    return _NO_MATCH


def classify(
    text: str,
    symbols: Mapping[str, sympy.Symbol],
    candidates: Sequence[sympy.Expr],
    *,
    timeout: float = 10.0,
    seed: int = 0,
) -> int | None:
    """Index of the first candidate equivalent to the student's `text`, or None.

    `candidates[0]` (the reference) is compared symbolically with a numeric fallback, the
    rest (known mistakes) numerically. Raises `UnsafeExpression` for rejected text,
    `ExpressionTimeout` when the comparison runs past `timeout` seconds and
    `ExpressionUnusable` when the accepted expression cannot be evaluated.
    """
    if not 1 <= len(candidates) <= MAX_CANDIDATES:
        raise ValueError(f"between 1 and {MAX_CANDIDATES} candidates are needed")
    tree = validate(text, symbols)
    answer = _in_child(lambda: _first_match(tree, symbols, candidates, seed), timeout)
    if answer == _FAILED:
        raise ExpressionUnusable("the expression could not be evaluated")
    return None if answer == _NO_MATCH else answer


def _in_child(work: Callable[[], int], timeout: float) -> int:
    """Run `work` in a forked child under a memory cap; its result travels as one byte."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        code = _FAILED
        try:
            os.close(read_end)
            _cap_memory()
            code = work()
        except BaseException:
            code = _FAILED
        finally:
            with contextlib.suppress(BaseException):
                os.write(write_end, bytes([code]))
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], timeout)
        reply = os.read(read_end, 1) if ready else b""
    finally:
        os.close(read_end)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    if not ready:
        raise ExpressionTimeout(f"comparing the expression took more than {timeout:g} s")
    return reply[0] if reply else _FAILED


def _cap_memory() -> None:  # pragma: no cover - runs in the forked child
    """Limit the child's address space to its current size plus a headroom (Linux only)."""
    with contextlib.suppress(Exception):
        import resource

        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[0])
        limit = pages * os.sysconf("SC_PAGE_SIZE") + MEMORY_HEADROOM_BYTES
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
