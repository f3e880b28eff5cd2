"""The Gaussian density of exercise-01 in sympy, shared by the symbolic-check tests."""

from __future__ import annotations

import sympy

from grader.symbolic import declare_symbols

SYMBOLS = declare_symbols({"a": {"positive": True}, "b": {"real": True}, "x": {"real": True}})
a, b, x = SYMBOLS["a"], SYMBOLS["b"], SYMBOLS["x"]
GAUSSIAN = sympy.exp(-((x - b) ** 2) / (2 * a**2)) / (sympy.sqrt(2 * sympy.pi) * a)
NO_JACOBIAN = sympy.exp(-((x - b) ** 2) / (2 * a**2)) / sympy.sqrt(2 * sympy.pi)
