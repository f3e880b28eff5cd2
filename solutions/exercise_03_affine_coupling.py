"""Exercise 03 — RealNVP affine coupling layer (reference solution).

Direction: the forward map is the generative one, z -> x; the inverse is x -> z.

Split convention: for z of shape (B, d), z_a = z[:, :d // 2] (kept) and
z_b = z[:, d // 2:] (transformed); for odd d the transformed half is the larger one.

    (log_s, t) = conditioner(z_a)            each (B, d - d // 2)
    x_a = z_a
    x_b = z_b * exp(log_s) + t
    log|det dx/dz| = sum_i log_s_i           (B,)   — positive when the layer expands

Inverse: z_a = x_a, z_b = (x_b - t) * exp(-log_s), log|det dz/dx| = -sum_i log_s_i.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Conditioner = Callable[[Tensor], tuple[Tensor, Tensor]]


def soft_clamp(raw: Tensor, bound: float) -> Tensor:
    """Smoothly squash a raw log-scale into (-bound, bound): bound * tanh(raw / bound).

    Near zero it is the identity (slope 1), so small log-scales pass unchanged; large ones
    saturate instead of overflowing exp(). Same shape and dtype as `raw`.
    """
    return bound * torch.tanh(raw / bound)


def _split(v: Tensor) -> tuple[Tensor, Tensor]:
    half = v.shape[-1] // 2
    return v[..., :half], v[..., half:]


def _log_scale_and_shift(
    conditioner: Conditioner, kept: Tensor, clamp: float | None
) -> tuple[Tensor, Tensor]:
    log_scale, shift = conditioner(kept)
    if clamp is not None:
        log_scale = soft_clamp(log_scale, clamp)
    return log_scale, shift


def affine_coupling_forward(
    z: Tensor, conditioner: Conditioner, clamp: float | None = None
) -> tuple[Tensor, Tensor]:
    """z (B, d) -> (x (B, d), log|det dx/dz| (B,))."""
    z_a, z_b = _split(z)
    log_scale, shift = _log_scale_and_shift(conditioner, z_a, clamp)
    x_b = z_b * torch.exp(log_scale) + shift
    return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1)


def affine_coupling_inverse(
    x: Tensor, conditioner: Conditioner, clamp: float | None = None
) -> tuple[Tensor, Tensor]:
    """x (B, d) -> (z (B, d), log|det dz/dx| (B,)) — the exact inverse of the forward map."""
    x_a, x_b = _split(x)
    log_scale, shift = _log_scale_and_shift(conditioner, x_a, clamp)
    z_b = (x_b - shift) * torch.exp(-log_scale)
    return torch.cat([x_a, z_b], dim=-1), -log_scale.sum(dim=-1)
