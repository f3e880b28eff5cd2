"""Exercise 01 — the change-of-variables formula.

Run `grade exercise-01` to check your work.

A normalizing flow turns a simple base density p_Z (here a standard normal) into a data
density p_X by pushing samples through an invertible map:

    x = f(z)          (forward, generative direction: sampling)
    z = f^{-1}(x)     (inverse direction: density evaluation)

Change of variables. If f expands a small region by a factor |det df/dz|, the density
there must shrink by the same factor, so that total probability stays 1:

    log p_X(x) = log p_Z(f^{-1}(x)) + log|det d f^{-1}(x) / dx|
               = log p_Z(z)         - log|det d f(z) / dz|        with z = f^{-1}(x).

The determinant belongs to the *inverse* map in the first line; using the forward map's
log-det instead flips its sign (the second line).

Shapes: everything is batch first. z and x have shape (B, d); a log-density and a log-det
are one number per sample, shape (B,). Sum over the feature dimension only, never over
the batch.

Scalar affine flow (the unit's worked example 1, but for *any* a != 0):

    x = a * z + b,   z ~ N(0, 1)
    f^{-1}(x) = (x - b) / a,   |d f^{-1}/dx| = 1 / |a|
    p_X(x) = exp(-(x - b)^2 / (2 a^2)) / (sqrt(2 pi) |a|)  =  N(x; b, a^2)

The variance is a^2 (not a), and the factor is 1/|a|: a negative a flips the axis, which
does not change volumes, so log|a| must never see the sign of a.

Numerical advice: work in log space. exp(-z^2 / 2) underflows to 0 for |z| > ~39 in
float64, and log(0) = -inf, although log p is a perfectly finite -z^2 / 2 - ...

Rules: keep each input's dtype and device; do not modify inputs in place.
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
    """Log-density of the standard normal N(0, I_d), one value per sample.

    Args:
        z: (B, d) points.

    Returns:
        (B,) tensor: log N(z; 0, I) = -0.5 * sum_i z_i^2 - (d / 2) * log(2 pi).
        Same dtype and device as z.
    """
    raise NotImplementedError


def change_of_variables_log_prob(x: Tensor, inverse: Inverse, base_log_prob: LogProb) -> Tensor:
    """log p_X(x) for a flow given by its inverse map and its base density.

    Args:
        x: (B, d) data points.
        inverse: a callable, inverse(x) -> (z, log_det) with z = f^{-1}(x) of shape (B, d)
            and log_det = log|det d f^{-1}(x) / dx| of shape (B,) (the inverse direction's
            log-det: it is already the term you need, with its sign).
        base_log_prob: a callable, base_log_prob(z) -> (B,) log p_Z(z). Call it: do not
            assume the base is a standard normal.

    Returns:
        (B,) tensor: log p_X(x) = log p_Z(z) + log|det d f^{-1}(x) / dx|.
    """
    raise NotImplementedError


def affine_flow_log_prob(x: Tensor, a: float, b: float) -> Tensor:
    """log p_X(x) for the scalar flow x = a z + b with z ~ N(0, 1) and a != 0 (any sign).

    Args:
        x: (B,) scalar data points.
        a: the scale (a Python float, may be negative, never 0).
        b: the shift (a Python float).

    Returns:
        (B,) tensor: log N(x; b, a^2) = -0.5 * ((x - b) / a)^2 - log|a| - 0.5 * log(2 pi).
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
