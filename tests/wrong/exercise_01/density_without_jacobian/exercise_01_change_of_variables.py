"""Exercise 01 — the change-of-variables formula (WRONG: density_without_jacobian).

A typical wrong submission (project tests):
the symbolic density lacks the 1/a factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy
from torch import Tensor

Inverse = Callable[[Tensor], tuple[Tensor, Tensor]]
LogProb = Callable[[Tensor], Tensor]

LOG_TWO_PI = math.log(2.0 * math.pi)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) for z (B, d) -> (B,): -0.5 * sum_i z_i^2 - (d / 2) * log(2 pi)."""
    d = z.shape[-1]
    return -0.5 * (z * z).sum(dim=-1) - 0.5 * d * LOG_TWO_PI


def change_of_variables_log_prob(x: Tensor, inverse: Inverse, base_log_prob: LogProb) -> Tensor:
    """log p_X(x) (B,) from the inverse map x -> (z, log|det dz/dx|) and the base log-density."""
    z, log_det_inverse = inverse(x)
    return base_log_prob(z) + log_det_inverse


def affine_flow_log_prob(x: Tensor, a: float, b: float) -> Tensor:
    """log p_X(x) (B,) for x = a z + b, z ~ N(0, 1): log N(x; b, a^2), for either sign of a."""
    z = (x - b) / a
    return -0.5 * z * z - math.log(abs(a)) - 0.5 * LOG_TWO_PI


def affine_flow_density() -> sympy.Expr:
    """p_X(x) = exp(-(x - b)^2 / (2 a^2)) / (sqrt(2 pi) a) in symbols x, b (real), a (positive)."""
    x, b = sympy.symbols("x b", real=True)
    a = sympy.Symbol("a", positive=True)
    return sympy.exp(-((x - b) ** 2) / (2 * a**2)) / sympy.sqrt(2 * sympy.pi)
