"""What a fork server imports, and what a long-lived one exercises once, before its first worker.

Every fork server imports the trusted modules whose objects hidden tests pass to student
code (`ARGUMENT_MODULES`), so that unpickling an argument never imports (reads, unmarshals
and runs) a module inside a worker.

A library imported by the server is free for every worker forked from it (sympy: ~0.4 s
per worker otherwise). Importing is not all: sympy builds printers, assumption handlers
and caches the first time an expression is made and printed, ~50 ms that every worker
whose student file returns an expression paid again. `load_and_warm` runs that first use
once, in the server, on an expression that is *not* any exercise's answer, and empties
sympy's cache afterwards: the server still never holds a solution or an expected value.
(The same for torch's operators saved ~1 ms per worker, too little for the risk of
running torch before forking.)
"""

from __future__ import annotations

import importlib

PRELOADABLE = ("sympy",)
ARGUMENT_MODULES = (
    "grader.testing.flows",
    "grader.testing.flows_01",
    "grader.testing.flows_02",
    "grader.testing.layers",
)


def import_argument_modules() -> None:
    for name in ARGUMENT_MODULES:
        importlib.import_module(name)


def load_and_warm(names: list[str]) -> None:
    """Import and warm each library of `names` that is in `PRELOADABLE` (others are ignored)."""
    for name in names:
        if name in PRELOADABLE:
            importlib.import_module(name)
            _WARMERS[name]()


def _warm_sympy() -> None:
    import sympy
    from sympy.core.cache import clear_cache

    u, v = sympy.symbols("u v", real=True)
    w = sympy.Symbol("w", positive=True)
    expression = sympy.exp(-((u + v) ** 3) / (3 * w**2)) * sympy.sqrt(5 * sympy.pi) / (w + 1)
    str(sympy.log(expression) + sympy.tanh(u))
    clear_cache()


_WARMERS = {"sympy": _warm_sympy}
