"""Safe parsing of typed symbolic answers into sympy, and an equivalence check with a time limit.

A student's text is never evaluated as Python (`sympify`/`parse_expr` call `eval`). Instead:

1. normalise unicode (− × · ÷ π ² ³ √) and reject characters outside a small alphabet
   (so `\\`, `#`, quotes, `[`, `:`, `;`, `=` never get further);
2. tokenise into numbers, names, operators and parentheses; a `.` after a name is
   attribute access and is refused;
3. resolve every name: a declared symbol, a whitelisted function (which must be called),
   a constant (`pi`, `E`), or an undeclared multi-letter name that splits into declared
   one-letter symbols (`ab` -> `a*b`); anything else is refused with the valid names;
4. insert implicit multiplication (`2x`, `a(b+1)`, `(x-b)(x+b)`) and turn `^` into `**`;
5. check the Python AST of the rebuilt text: only numbers, names, + - * / **, unary
   minus and calls of whitelisted functions (no attributes, subscripts, lambdas,
   comprehensions, keywords);
6. build the sympy expression by walking that AST ourselves; a power of two numbers whose
   result would exceed `MAX_DIGITS` digits (`9**9**9`) is refused before it is computed.

`equivalent(a, b)` decides `a == b` in a separate process that is killed after
`timeout_s`: identical after sympy's automatic simplification, else agreement at random
points that respect the symbols' assumptions (a differing point proves a difference; 8
agreeing points at 30 digits are accepted), else `simplify(a - b) == 0` / `a.equals(b)`
when the points cannot be evaluated.

sympy is imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import ast
import math
import multiprocessing
import random
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sympy

MAX_LENGTH = 400
MAX_DIGITS = 1000
DEFAULT_TIMEOUT_S = 2.0

_UNICODE_REPLACEMENTS = {
    "−": "-", "–": "-", "—": "-", "×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/",
    "π": "pi", "²": "^2", "³": "^3", "√": "sqrt", "ℯ": "E",
}  # fmt: skip
_ALLOWED_CHARS = re.compile(r"[A-Za-z0-9_+\-*/^().,\s]*")
_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|[-+*/^(),.]))"
)


FUNCTION_NAMES: tuple[str, ...] = (
    "exp", "log", "ln", "sqrt", "abs", "Abs", "sin", "cos", "tan", "sinh", "cosh", "tanh",
    "sech", "atan", "sigmoid",
)  # fmt: skip
ASSUMPTIONS: tuple[str, ...] = ("real", "positive", "negative", "nonnegative", "nonzero", "integer")


class SymbolicInputError(ValueError):
    """A typed expression was refused; the message is one line saying why."""


class SymbolicTimeout(SymbolicInputError):
    """Deciding equivalence took longer than the time limit."""


def default_functions() -> dict[str, Callable[..., Any]]:
    """The whitelisted functions a typed expression may call (name -> sympy callable)."""
    import sympy

    def sigmoid(arg: Any) -> Any:
        return 1 / (1 + sympy.exp(-arg))

    return {
        "exp": sympy.exp, "log": sympy.log, "ln": sympy.log, "sqrt": sympy.sqrt,
        "abs": sympy.Abs, "Abs": sympy.Abs, "sin": sympy.sin, "cos": sympy.cos,
        "tan": sympy.tan, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
        "sech": sympy.sech, "atan": sympy.atan, "sigmoid": sigmoid,
    }  # fmt: skip


def _constants() -> dict[str, Any]:
    import sympy

    return {"pi": sympy.pi, "E": sympy.E, "e": sympy.E}


# ---------------------------------------------------------------- text -> tokens


def _normalise(text: str) -> str:
    if not isinstance(text, str):
        raise SymbolicInputError("the answer must be text")
    if len(text) > MAX_LENGTH:
        raise SymbolicInputError(f"expression too long (at most {MAX_LENGTH} characters)")
    for old, new in _UNICODE_REPLACEMENTS.items():
        text = text.replace(old, new)
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        raise SymbolicInputError("empty expression")
    if not _ALLOWED_CHARS.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED_CHARS.fullmatch(c))
        raise SymbolicInputError(f"character {bad!r} is not allowed in an expression")
    return text


def _tokenise(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].isspace():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SymbolicInputError(f"cannot read the expression at {text[position:]!r}")
        kind = match.lastgroup or "op"
        tokens.append((kind, match.group(kind)))
        position = match.end()
    for index, (kind, value) in enumerate(tokens):
        if value == "." and index > 0 and tokens[index - 1][0] in ("name", "op"):
            raise SymbolicInputError("attribute access ('.') is not allowed")
        if value == ".":
            raise SymbolicInputError("a '.' may only appear inside a number")
        if kind == "name" and (value.startswith("_") or "__" in value):
            raise SymbolicInputError(f"name {value!r} is not allowed")
    return tokens


# ---------------------------------------------------------------- tokens -> safe text


class _Names:
    """What each name in an expression may mean: symbol, function or constant."""

    def __init__(
        self, symbols: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
    ) -> None:
        self.symbols = dict(symbols)
        self.functions = dict(functions)
        self.constants = {k: v for k, v in _constants().items() if k not in self.symbols}

    def describe(self) -> str:
        symbols = ", ".join(sorted(self.symbols)) or "none"
        return f"symbols: {symbols}; functions: {', '.join(sorted(self.functions))}"

    def split(self, name: str) -> list[str]:
        """Resolve `name` to one or more known names (`ab` -> `a`, `b`) or refuse it."""
        if name in self.symbols or name in self.functions or name in self.constants:
            return [name]
        letters = list(name)
        if len(letters) > 1 and all(c in self.symbols or c in self.constants for c in letters):
            return letters
        raise SymbolicInputError(f"unknown name {name!r} ({self.describe()})")


def _expand_names(tokens: list[tuple[str, str]], names: _Names) -> list[tuple[str, str]]:
    expanded: list[tuple[str, str]] = []
    for index, (kind, value) in enumerate(tokens):
        if kind != "name":
            expanded.append((kind, value))
            continue
        parts = names.split(value)
        for part in parts:
            role = "function" if part in names.functions else "name"
            expanded.append((role, part))
        nxt = tokens[index + 1][1] if index + 1 < len(tokens) else None
        if expanded[-1][0] == "function" and nxt != "(":
            raise SymbolicInputError(f"write {parts[-1]}(...) with parentheses")
    return expanded


def _with_implicit_products(tokens: list[tuple[str, str]]) -> list[str]:
    out: list[str] = []
    previous: tuple[str, str] | None = None
    for kind, value in tokens:
        if previous is not None:
            ends_operand = previous[0] in ("number", "name") or previous[1] == ")"
            starts_operand = kind in ("number", "name", "function") or value == "("
            if previous[0] == "number" and kind == "number":
                raise SymbolicInputError("two numbers in a row; put an operator between them")
            if ends_operand and starts_operand:
                out.append("*")
        out.append("**" if value == "^" else value)
        previous = (kind, value)
    return out


# ---------------------------------------------------------------- AST -> sympy


class _Builder:
    """Builds a sympy expression from a checked AST; refuses every other node type."""

    def __init__(self, names: _Names) -> None:
        import sympy

        self.sympy = sympy
        self.names = names

    def build(self, node: ast.AST) -> Any:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise SymbolicInputError(f"{_describe(node)} is not allowed in an expression")
        return method(node)

    def _Expression(self, node: ast.Expression) -> Any:
        return self.build(node.body)

    def _Constant(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SymbolicInputError("only numbers may appear as constants")
        if isinstance(value, int):
            return self.sympy.Integer(value)
        if not math.isfinite(value):
            raise SymbolicInputError("number out of range")
        return self.sympy.Rational(repr(value))

    def _Name(self, node: ast.Name) -> Any:
        if node.id in self.names.symbols:
            return self.names.symbols[node.id]
        if node.id in self.names.constants:
            return self.names.constants[node.id]
        raise SymbolicInputError(f"unknown name {node.id!r} ({self.names.describe()})")

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.build(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise SymbolicInputError(f"{_describe(node.op)} is not allowed")

    def _BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.build(node.left), self.build(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            if right == 0:
                raise SymbolicInputError("division by zero")
            return left / right
        if isinstance(op, ast.Pow):
            _check_power(left, right)
            return left**right
        raise SymbolicInputError(f"operator {_describe(op)} is not allowed")

    def _Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in self.names.functions:
            raise SymbolicInputError("only the whitelisted functions may be called")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise SymbolicInputError("function arguments must be plain expressions")
        if not node.args:
            raise SymbolicInputError(f"{node.func.id}() needs an argument")
        args = [self.build(arg) for arg in node.args]
        try:
            return self.names.functions[node.func.id](*args)
        except (TypeError, ValueError) as err:
            raise SymbolicInputError(f"{node.func.id}(): {err}".splitlines()[0]) from None


def _describe(node: ast.AST) -> str:
    labels = {
        "Attribute": "attribute access", "Subscript": "indexing", "Lambda": "lambda",
        "ListComp": "a comprehension", "GeneratorExp": "a comprehension", "Tuple": "a tuple",
        "Compare": "a comparison", "BoolOp": "a boolean operator", "MatMult": "'@'",
        "FloorDiv": "'//'", "Mod": "'%'", "Not": "'not'", "Invert": "'~'",
    }  # fmt: skip
    name = type(node).__name__
    return labels.get(name, name)


def _check_power(base: Any, exponent: Any) -> None:
    """Refuse numeric powers whose exact value would have more than MAX_DIGITS digits."""
    if not (getattr(base, "is_number", False) and getattr(exponent, "is_number", False)):
        return
    if base == 0:
        return
    try:
        size = abs(float(exponent)) * abs(math.log10(abs(complex(base))))
    except (OverflowError, TypeError, ValueError):
        raise SymbolicInputError("number too large") from None
    if size > MAX_DIGITS:
        raise SymbolicInputError(f"number too large (more than {MAX_DIGITS} digits)")


def parse_expression(
    text: str,
    symbols: Mapping[str, sympy.Symbol],
    functions: Mapping[str, Callable[..., Any]] | None = None,
) -> sympy.Expr:
    """Parse a typed answer into a sympy expression without ever evaluating it as Python.

    `symbols` maps each name a student may type to its sympy Symbol (declare assumptions
    such as `positive=True` there); `functions` defaults to `default_functions()`.
    Raises SymbolicInputError with a one-line reason for anything else.
    """
    import sympy

    names = _Names(symbols, default_functions() if functions is None else functions)
    tokens = _expand_names(_tokenise(_normalise(text)), names)
    source = " ".join(_with_implicit_products(tokens))
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        message = "not a well-formed expression (check the brackets and operators)"
        raise SymbolicInputError(message) from None
    try:
        result = _Builder(names).build(tree)
    except RecursionError:
        raise SymbolicInputError("expression nested too deeply") from None
    if not isinstance(result, sympy.Expr):
        raise SymbolicInputError("the answer must be a single expression")
    if result.has(sympy.zoo, sympy.nan):
        raise SymbolicInputError("the expression is undefined (division by zero?)")
    return result


def declare_symbols(spec: Mapping[str, Mapping[str, bool]]) -> dict[str, sympy.Symbol]:
    """Symbols from a declaration such as `{"a": {"positive": True}, "x": {"real": True}}`."""
    import sympy

    return {name: sympy.Symbol(name, **dict(assumptions)) for name, assumptions in spec.items()}


# ---------------------------------------------------------------- equivalence


def _sample(symbol: Any, rng: random.Random) -> float:
    if symbol.is_integer:
        return float(rng.randint(1, 6))
    if symbol.is_positive or symbol.is_nonnegative:
        return rng.uniform(0.3, 2.5)
    return rng.uniform(-2.0, 2.0)


def _numerically_equal(a: Any, b: Any, points: int = 8) -> bool | None:
    """Compare a and b at random points that respect the symbols' assumptions.

    False as soon as one point differs (a proof of difference), True when `points` points
    agree to ~1e-9 relative, None when too few points could be evaluated.
    """
    rng = random.Random(20240601)
    free = sorted(a.free_symbols | b.free_symbols, key=str)
    agreed = 0
    for _ in range(points * 3):
        values = {s: _sample(s, rng) for s in free}
        try:
            left, right = complex(a.evalf(30, subs=values)), complex(b.evalf(30, subs=values))
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            continue
        if not all(map(math.isfinite, (left.real, left.imag, right.real, right.imag))):
            continue
        if abs(left - right) > 1e-9 * max(1.0, abs(left), abs(right)):
            return False
        agreed += 1
        if agreed >= points:
            return True
    return True if agreed >= 3 else None


def decide_equivalence(a: Any, b: Any) -> bool:
    """a == b for sympy expressions, in this process and without a time limit.

    Identical after sympy's automatic simplification -> True; otherwise random points decide
    (fast, and a differing point is a proof); when too few points can be evaluated,
    `simplify(a - b) == 0` or `a.equals(b) is True`.
    """
    import sympy

    difference = a - b
    if difference == 0:
        return True
    verdict = _numerically_equal(a, b)
    if verdict is not None:
        return verdict
    return bool(sympy.simplify(difference) == 0 or a.equals(b) is True)


def _child(connection: Any, a: Any, b: Any) -> None:
    try:
        connection.send(("ok", decide_equivalence(a, b)))
    except Exception as err:  # report, never hang the parent
        connection.send(("error", f"{type(err).__name__}: {err}".splitlines()[0]))
    finally:
        connection.close()


def equivalent(a: sympy.Expr, b: sympy.Expr, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Whether a and b are the same expression, decided in a child process killed after timeout_s.

    Raises SymbolicTimeout when no decision came within the limit.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, a, b), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            raise SymbolicTimeout(f"checking the expression took longer than {timeout_s:g} s")
        status, value = receiver.recv()
    except EOFError:
        raise SymbolicInputError("the expression could not be checked") from None
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
    if status != "ok":
        raise SymbolicInputError(f"the expression could not be checked ({value})")
    return bool(value)
