"""Exercise 03 — RealNVP affine coupling layer.

Run `grade exercise-03` to check your work.

Direction: the forward map is the generative one, z -> x (sampling); the inverse is
x -> z (density evaluation). Every tensor is batch first: z and x have shape (B, d).

Split convention: z_a = z[:, :d // 2] is kept, z_b = z[:, d // 2:] is transformed.
For odd d the transformed half is the larger one (d = 5: 2 kept, 3 transformed).

The conditioner is a small neural network you are given. Call it on the *kept* half:

    (log_s, t) = conditioner(z_a)            each of shape (B, d - d // 2)

Forward:
    x_a = z_a
    x_b = z_b * exp(log_s) + t
    log|det dx/dz| = sum_i log_s_i           shape (B,), one number per sample

The Jacobian dx/dz is block lower-triangular with diagonal blocks I and diag(exp(log_s)),
so its log-determinant is just the sum of the log-scales: O(d), no determinant needed.

Inverse (x -> z):
    z_a = x_a
    z_b = (x_b - t) * exp(-log_s)
    log|det dz/dx| = -sum_i log_s_i          the negative of the forward log-det

Why can the inverse compute log_s and t at all? Because x_a = z_a: the conditioner sees
exactly the same input in both directions.

Numerical stability: exp(log_s) overflows for large log_s. When `clamp` is given, first
replace log_s by soft_clamp(log_s, clamp).

Rules: keep each input's dtype and device; do not modify inputs in place.
"""

from __future__ import annotations

from collections.abc import Callable

import torch  # noqa: F401 - you will need it
from torch import Tensor

Conditioner = Callable[[Tensor], tuple[Tensor, Tensor]]


def soft_clamp(raw: Tensor, bound: float) -> Tensor:
    """Squash a raw log-scale smoothly into (-bound, bound).

    Use bound * tanh(raw / bound): the identity near zero (slope 1), and saturating at
    +-bound for large inputs, so exp() of the result can never overflow.
    Returns a tensor of the same shape, dtype and device as `raw`.
    """
    raise NotImplementedError


def affine_coupling_forward(
    z: Tensor, conditioner: Conditioner, clamp: float | None = None
) -> tuple[Tensor, Tensor]:
    """Forward pass z -> x.

    Args:
        z: (B, d) input.
        conditioner: maps the kept half z_a (B, d // 2) to (log_s, t), each (B, d - d // 2).
        clamp: if not None, apply soft_clamp(log_s, clamp) before using log_s.

    Returns:
        x: (B, d), with x[:, :d // 2] equal to z[:, :d // 2].
        log_det: (B,), log|det dx/dz| = sum of log_s over the transformed features.
    """
    raise NotImplementedError


def affine_coupling_inverse(
    x: Tensor, conditioner: Conditioner, clamp: float | None = None
) -> tuple[Tensor, Tensor]:
    """Inverse pass x -> z, the exact inverse of affine_coupling_forward.

    Returns:
        z: (B, d), with z[:, :d // 2] equal to x[:, :d // 2].
        log_det: (B,), log|det dz/dx| = minus the sum of log_s.
    """
    raise NotImplementedError
