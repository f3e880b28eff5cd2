"""Safe parsing of typed symbolic answers into sympy, and an equivalence check with a time limit.

Used for quiz answers a student types and for the `str()` of a sympy expression that
student code returned (`grader.runner.protocol.SympyText`). The text is never evaluated
as Python (`sympify`/`parse_expr` call `eval`). Instead:

1. refuse text longer than `MAX_LENGTH`, normalise unicode (− × · ÷ π ² ³ √) and reject
   characters outside a small alphabet (so `\\`, `#`, quotes, `[`, `:`, `;`, `=` never
   get further);
2. tokenise into numbers, names, operators and parentheses; a `.` after a name is
   attribute access and is refused; brackets may nest at most `MAX_DEPTH` levels;
3. resolve every name: a declared symbol, a whitelisted function (which must be called),
   a constant (`pi`, `E`), or an undeclared multi-letter name that splits into declared
   one-letter symbols (`ab` -> `a*b`); anything else is refused with the valid names;
4. insert implicit multiplication (`2x`, `a(b+1)`, `(x-b)(x+b)`) and turn `^` into `**`;
5. check the Python AST of the rebuilt text: only numbers, names, + - * / **, unary
   minus and calls of whitelisted functions (no attributes, subscripts, lambdas,
   comprehensions, keywords), at most `MAX_NODES` parts and `MAX_DEPTH` levels of nesting
   (a flat sum or product counts as one level);
6. build the sympy expression by walking that AST ourselves; a power of two numbers whose
   result would exceed `MAX_DIGITS` digits (`9**9**9`) is refused before it is computed;
7. bound the degree: along every path of the built expression the numeric exponents
   multiply (`(x**10 + 1)**200` has degree 2000) and the product may not exceed
   `MAX_EXPONENT`, so a later `expand`/`simplify` cannot be asked for a huge polynomial.
   Variable exponents (`e^(-x^2/2)`, `2^k`) stay allowed: sympy never expands them.

`equivalent(a, b)` and `first_equivalent(a, candidates)` decide equality in a forked child
process that is killed after `timeout_s` and whose address space is capped at its size at
the fork plus `MEMORY_HEADROOM_BYTES` (a runaway evaluation is stopped, never waited for):
identical after sympy's automatic simplification, else agreement at random points that
respect the symbols' assumptions (one differing point proves a difference, so wrong
answers are decided fast; 8 agreeing points at 30 digits are accepted), else
`simplify(a - b) == 0` / `a.equals(b)` when too few points can be evaluated.

sympy is imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import ast
import contextlib
import math
import multiprocessing
import os
import random
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sympy

MAX_LENGTH = 400
MAX_NODES = 250
MAX_DEPTH = 40
MAX_DIGITS = 1000
MAX_EXPONENT = 1000
MAX_CANDIDATES = 250
MEMORY_HEADROOM_BYTES = 2 << 30
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_SEED = 20240601

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
        raise SymbolicInputError(
            f"character {bad!r} is not allowed in an expression "
            "(use names, numbers, spaces and + - * / ^ ( ) , .)"
        )
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
    _check_brackets(tokens)
    return tokens


def _check_brackets(tokens: list[tuple[str, str]]) -> None:
    """Refuse brackets nested more than MAX_DEPTH levels (the parser would recurse on them)."""
    level = 0
    for _, value in tokens:
        level += {"(": 1, ")": -1}.get(value, 0)
        if level > MAX_DEPTH:
            raise SymbolicInputError(f"expression nested too deeply (at most {MAX_DEPTH} levels)")


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


# ---------------------------------------------------------------- size of the tree

_FAMILY: dict[type[ast.operator], str] = {
    ast.Add: "sum", ast.Sub: "sum", ast.Mult: "product", ast.Div: "product",
}  # fmt: skip


def _check_tree(tree: ast.Expression) -> None:
    """Refuse more than MAX_NODES parts or more than MAX_DEPTH levels of nesting.

    Iterative, so a hostile tree cannot exhaust the stack here. The left operand of a sum
    (product) that is itself a sum (product) stays on the same level: `a + b + c + d` is
    one level deep however many terms it has.
    """
    parts = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        parts += 1
        if parts > MAX_NODES:
            raise SymbolicInputError(f"expression too large (more than {MAX_NODES} parts)")
        if depth > MAX_DEPTH:
            raise SymbolicInputError(f"expression nested too deeply (at most {MAX_DEPTH} levels)")
        stack.extend(_children(node, depth))


def _children(node: ast.AST, depth: int) -> list[tuple[ast.AST, int]]:
    if isinstance(node, ast.BinOp):
        family = _FAMILY.get(type(node.op))
        left = node.left
        same = isinstance(left, ast.BinOp) and family and _FAMILY.get(type(left.op)) == family
        left_depth = depth if same else depth + 1
        return [(node.left, left_depth), (node.right, depth + 1)]
    return [
        (child, depth + 1) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)
    ]


def _check_degree(expr: Any) -> None:
    """Refuse expressions whose numeric exponents multiply to more than MAX_EXPONENT.

    Walks the built sympy tree (after sympy merged `(x**100)**100` into `x**10000`) and
    multiplies, along every path from the root, ceil(|n|) of each numeric exponent n; a
    variable exponent does not count. The product bounds the degree of any expansion.
    """
    stack: list[tuple[Any, int]] = [(expr, 1)]
    while stack:
        node, power = stack.pop()
        if node.is_Pow and node.exp.is_number:
            power *= max(1, math.ceil(_magnitude(node.exp)))
            if power > MAX_EXPONENT:
                raise SymbolicInputError(
                    f"exponent too large (nested powers multiply; at most {MAX_EXPONENT} in all)"
                )
            stack.append((node.base, power))
            continue
        stack.extend((arg, power) for arg in node.args)


def _magnitude(number: Any) -> float:
    try:
        return abs(complex(number))
    except (OverflowError, TypeError, ValueError):
        return math.inf


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
            allowed = ", ".join(sorted(self.names.functions)) or "none"
            raise SymbolicInputError(f"only these functions may be called: {allowed}")
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
    _check_tree(tree)
    try:
        result = _Builder(names).build(tree)
    except RecursionError:
        raise SymbolicInputError("expression nested too deeply") from None
    if not isinstance(result, sympy.Expr):
        raise SymbolicInputError("the answer must be a single expression")
    if result.has(sympy.zoo, sympy.nan):
        raise SymbolicInputError("the expression is undefined (division by zero?)")
    _check_degree(result)
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


def _informative(left: complex, right: complex) -> bool:
    """False when both values are ~0: such a point says nothing about a relative difference.

    Counting it as agreement would let exp(-1000 x^2) and 2 exp(-1000 x^2) agree at every
    point where both underflow; an exact zero and its 30-digit rounding (~1e-165) also
    land here instead of being compared.
    """
    return max(abs(left), abs(right)) >= 1e-20


def _numerically_equal(a: Any, b: Any, points: int = 8, seed: int = DEFAULT_SEED) -> bool | None:
    """Compare a and b at random points that respect the symbols' assumptions.

    False as soon as one point differs (a proof of difference), True when `points` points
    agree to ~1e-9 relative, None when fewer than 3 points could be evaluated to finite
    values that are not both ~0 (then the caller falls back to simplify).
    """
    rng = random.Random(seed)
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
        if not _informative(left, right):
            continue
        if abs(left - right) > 1e-9 * max(abs(left), abs(right)):
            return False
        agreed += 1
        if agreed >= points:
            return True
    return True if agreed >= 3 else None


def decide_equivalence(a: Any, b: Any, seed: int = DEFAULT_SEED) -> bool:
    """a == b for sympy expressions, in this process and without a time limit.

    Identical after sympy's automatic simplification -> True; otherwise random points decide
    (fast, and a differing point is a proof); when too few points can be evaluated,
    `simplify(a - b) == 0` or `a.equals(b) is True`.
    """
    import sympy

    difference = a - b
    if difference == 0:
        return True
    verdict = _numerically_equal(a, b, seed=seed)
    if verdict is not None:
        return verdict
    return bool(sympy.simplify(difference) == 0 or a.equals(b) is True)


def _first_match(expr: Any, candidates: Sequence[Any], seed: int) -> int | None:
    for index, candidate in enumerate(candidates):
        if decide_equivalence(expr, candidate, seed):
            return index
    return None


def _cap_memory() -> None:  # runs in the child only
    """Limit the address space to its current size plus MEMORY_HEADROOM_BYTES (Linux only)."""
    with contextlib.suppress(Exception):
        import resource

        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[0])
        limit = pages * os.sysconf("SC_PAGE_SIZE") + MEMORY_HEADROOM_BYTES
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _child(connection: Any, expr: Any, candidates: Sequence[Any], seed: int) -> None:
    try:
        _cap_memory()
        connection.send(("ok", _first_match(expr, candidates, seed)))
    except BaseException as err:  # report (MemoryError included), never hang the parent
        with contextlib.suppress(BaseException):
            connection.send(("error", f"{type(err).__name__}: {err}".splitlines()[0]))
    finally:
        connection.close()


_checker: Any = None  # a grader.symbolic_checker.SymbolicChecker once keep_checker_process()


def keep_checker_process() -> None:
    """Decide from now on in one long-lived helper process instead of a fork per decision.

    For long-lived graders (a batch worker): forking a large process is cheap once but
    costs it a copy-on-write fault on every page it writes afterwards
    (`grader.symbolic_checker`)."""
    global _checker
    if _checker is None:
        from grader.symbolic_checker import SymbolicChecker

        _checker = SymbolicChecker()


def first_equivalent(
    expr: sympy.Expr,
    candidates: Sequence[sympy.Expr],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    seed: int = DEFAULT_SEED,
) -> int | None:
    """Index of the first candidate equal to `expr` (see `decide_equivalence`), or None.

    One forked child (or, after `keep_checker_process()`, the helper process) decides all
    candidates (e.g. the key, then known mistakes) under `timeout_s` in total and a memory
    cap. Raises SymbolicTimeout when no decision came within the limit and
    SymbolicInputError when the child failed (out of memory, ...).
    """
    if not 1 <= len(candidates) <= MAX_CANDIDATES:
        raise ValueError(f"between 1 and {MAX_CANDIDATES} candidates are needed")
    if _checker is not None:
        return _checker.first_equivalent(expr, candidates, timeout_s, seed)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(sender, expr, list(candidates), seed), daemon=True
    )
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
    return value


def equivalent(
    a: sympy.Expr,
    b: sympy.Expr,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    seed: int = DEFAULT_SEED,
) -> bool:
    """Whether a and b are the same expression, decided in a child process killed after timeout_s.

    Raises SymbolicTimeout when no decision came within the limit.
    """
    return first_equivalent(a, [b], timeout_s, seed=seed) == 0
