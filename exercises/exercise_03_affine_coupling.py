"""Exercise 03 — RealNVP affine coupling layer.

Run `grade exercise-03` to check your work; `grade hint exercise-03` when you are stuck.

Direction: the forward map is the generative one, z -> x (sampling); the inverse is
x -> z (density evaluation). Every tensor is batch first: z and x have shape (B, d).

Split convention: z_a = z[:, :d // 2] is kept, z_b = z[:, d // 2:] is transformed.
For odd d the transformed half is the larger one (d = 5: 2 kept, 3 transformed).

The conditioner is a small neural network you are given. Call it on the *kept* half:

    (log_s, t) = conditioner(z_a)            each of shape (B, d - d // 2)

Forward map (given):
    x_a = z_a
    x_b = z_b * exp(log_s) + t

Your tasks: the log-determinant of this map, its exact inverse, and the log-determinant
of the inverse, each in O(d) work (no Jacobian matrix, no determinant call).

Sign conventions: the forward pass returns log|det dx/dz| at z, the inverse pass returns
log|det dz/dx| at x; both are one number per sample, shape (B,).

Numerical stability: exp(log_s) overflows for large log_s. When `clamp` is given, first
replace log_s by soft_clamp(log_s, clamp), in both directions.

Numbers to check yourself against (the unit's worked example 2): z = (1, 3),
log_s = 0.5, t = 2 gives x = (1, 6.946) and a forward log-det of 0.5.

Rules: keep each input's dtype and device; do not modify in place any input, nor
any tensor returned by a function or module you are given.
"""

from __future__ import annotations

from collections.abc import Callable

import torch  # noqa: F401 - you will need it
from torch import Tensor

Conditioner = Callable[[Tensor], tuple[Tensor, Tensor]]


def soft_clamp(raw: Tensor, bound: float) -> Tensor:
    """Squash a raw log-scale smoothly into the open interval (-bound, bound).

    The course's soft clamp is built from tanh and must be: smooth, odd, increasing, the
    identity to first order at 0 (value 0 and slope exactly 1 there, so small log-scales
    pass nearly unchanged), and saturating towards +-bound for large |raw|, so that exp()
    of the result can never overflow.

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
        log_det: (B,), log|det dx/dz| of this layer at z.
    """
    raise NotImplementedError


def affine_coupling_inverse(
    x: Tensor, conditioner: Conditioner, clamp: float | None = None
) -> tuple[Tensor, Tensor]:
    """Inverse pass x -> z, the exact inverse of affine_coupling_forward.

    Args:
        x: (B, d) input; conditioner and clamp as for the forward pass.

    Returns:
        z: (B, d) with affine_coupling_forward(z, conditioner, clamp)[0] == x.
        log_det: (B,), log|det dz/dx| of the inverse map at x.
    """
    raise NotImplementedError
