"""What a fork server imports, and what a long-lived one exercises once, before its first worker.

Every fork server imports the trusted modules whose objects hidden tests pass to student
code (`ARGUMENT_MODULES`), so that unpickling an argument never imports (reads, unmarshals
and runs) a module inside a worker.

A long-lived server can do more, by name (`load_and_warm`):

- `sympy`: import it (free for every worker then; ~0.4 s per worker otherwise), and make
  and print one expression: sympy builds printers, assumption handlers and caches the
  first time, ~50 ms that every worker whose student file returns an expression paid
  again. The expression is *not* any exercise's answer, and sympy's cache is emptied
  afterwards: the server still never holds a solution or an expected value.
- `calls`: run what a worker does for each call, on trusted objects, a few times:
  unpickle tensors, a conditioner and a flow, check a signature, run the modules, encode
  the reply. Python specialises the bytecode of what runs often and torch initialises
  each operator on first use; done in the server, that happens once instead of as
  copy-on-write faults in every worker (first call of a coupling: ~790 -> ~580 faults).
  torch runs single-threaded on tiny tensors here, so no thread pool exists at fork.
"""

from __future__ import annotations

import importlib

PRELOADABLE = ("sympy", "calls")
ARGUMENT_MODULES = (
    "grader.testing.flows",
    "grader.testing.flows_01",
    "grader.testing.flows_02",
    "grader.testing.flows_06",
    "grader.testing.flows_07",
    "grader.testing.flows_08",
    "grader.testing.flows_09",
    "grader.testing.layers",
)


def import_argument_modules() -> None:
    for name in ARGUMENT_MODULES:
        importlib.import_module(name)


def load_and_warm(names: list[str]) -> None:
    """Run each step of `names` that is in `PRELOADABLE` (others are ignored)."""
    for name in names:
        if name in PRELOADABLE:
            _WARMERS[name]()


def _warm_sympy() -> None:
    import sympy
    from sympy.core.cache import clear_cache

    u, v = sympy.symbols("u v", real=True)
    w = sympy.Symbol("w", positive=True)
    expression = sympy.exp(-((u + v) ** 3) / (3 * w**2)) * sympy.sqrt(5 * sympy.pi) / (w + 1)
    str(sympy.log(expression) + sympy.tanh(u))
    clear_cache()


def _warm_calls() -> None:
    import inspect
    import pickle

    import torch

    from grader.runner import protocol, tensor_pickle
    from grader.testing.flows import MLPConditioner
    from grader.testing.layers import random_flow

    def function(z: object, conditioner: object, clamp: object = None) -> object:
        return z

    torch.set_num_threads(1)
    for _ in range(20):  # enough for Python to specialise the bytecode on the way
        arguments = (torch.randn(3, 2), MLPConditioner(1, 1, seed=0), random_flow(4, 0, 4))
        z, conditioner, _flow = pickle.loads(tensor_pickle.dumps(arguments))
        inspect.signature(function).bind(z, conditioner)
        log_scale, shift = conditioner(z[:, :1])
        reply = (torch.cat([log_scale, shift], 1), log_scale.sum(1))
        protocol.encode_value(reply, [])


_WARMERS = {"sympy": _warm_sympy, "calls": _warm_calls}
