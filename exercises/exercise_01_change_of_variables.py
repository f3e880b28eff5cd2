"""Exercise 01 — the change-of-variables formula.

Run `grade exercise-01` to check your work; `grade hint exercise-01` when you are stuck
(a nudge first, then the key idea, then the formula; one more per call).

A normalizing flow turns a simple base density p_Z into a data density p_X by pushing
samples through an invertible, differentiable map f: R^d -> R^d:

    x = f(z),  z ~ p_Z      (forward, generative direction: sampling)
    z = f^{-1}(x)           (inverse direction: density evaluation)

Your task is to work out how the density changes under f: probability mass is conserved,
so where f stretches a small region of z-space the density of x must drop, and where f
squeezes it the density must rise. Every function below asks for a log-density.

Conventions used throughout:
- shapes are batch first: z and x have shape (B, d); a log-density or a log-det is one
  number per sample, shape (B,). Reduce over the feature dimension only, never the batch;
- "log-det of the inverse" means log|det d f^{-1}(x) / dx|, the log of the absolute value
  of the determinant of the inverse map's Jacobian, evaluated at x;
- the base density in this exercise is the standard normal N(0, I_d):
      p_Z(z) = (2 pi)^(-d / 2) * exp(-|z|^2 / 2).

Scalar affine flow (the unit's worked example 1, but for *any* a != 0, either sign):

    x = f(z) = a * z + b,   z ~ N(0, 1)

Numbers to check yourself against: for a = 2, b = 1 the log-density at x = 1 is
-1.6121 (and the same for a = -2).

Numerics: the grader evaluates your log-densities far out in the tails (|z| up to 60),
where the density itself underflows to 0 in float64 but its log is an ordinary number:
your answers must stay finite there.

Rules: keep each input's dtype and device; do not modify in place any input, nor
any tensor returned by a function or module you are given.
"""

from __future__ import annotations

import math  # noqa: F401 - you will need it
from collections.abc import Callable

import sympy
import torch  # noqa: F401 - you will need it
from torch import Tensor

Inverse = Callable[[Tensor], tuple[Tensor, Tensor]]
LogProb = Callable[[Tensor], Tensor]


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log p_Z(z) for the standard normal N(0, I_d), one value per sample.

    Args:
        z: (B, d) points.

    Returns:
        (B,) tensor: log N(z; 0, I_d), finite even where the density underflows.
        Same dtype and device as z.
    """
    raise NotImplementedError


def change_of_variables_log_prob(x: Tensor, inverse: Inverse, base_log_prob: LogProb) -> Tensor:
    """log p_X(x) for a flow x = f(z), given its inverse map and its base density.

    Args:
        x: (B, d) data points.
        inverse: a callable, inverse(x) -> (z, log_det) with z = f^{-1}(x) of shape (B, d)
            and log_det = log|det d f^{-1}(x) / dx| of shape (B,) (the log-det of the
            inverse map, in the inverse direction).
        base_log_prob: a callable, base_log_prob(z) -> (B,) log p_Z(z). Call it: do not
            assume the base is a standard normal.

    Returns:
        (B,) tensor: log p_X(x).
    """
    raise NotImplementedError


def affine_flow_log_prob(x: Tensor, a: float, b: float) -> Tensor:
    """log p_X(x) for the scalar flow x = a z + b with z ~ N(0, 1) and a != 0 (any sign).

    Args:
        x: (B,) scalar data points.
        a: the scale (a Python float, may be negative, never 0; as small as 1e-3 or as
            large as 1e3).
        b: the shift (a Python float).

    Returns:
        (B,) tensor: log p_X(x), same dtype and device as x.
    """
    raise NotImplementedError


def affine_flow_density() -> sympy.Expr:
    """The density p_X(x) of the scalar flow x = a z + b, z ~ N(0, 1), as a sympy expression.

    Use exactly these symbols (the grader reads your expression with these names only):

        x, b = sympy.symbols("x b", real=True)
        a = sympy.Symbol("a", positive=True)

    and only the usual functions (exp, log, sqrt, Abs, ...) and constants (pi, E).
    Any algebraically equivalent form is accepted. Return the density itself, not its log.
    """
    raise NotImplementedError
