"""Exercise 07 — multi-scale flows, dequantisation and bits per dimension (reference solution).

Squeeze (space to depth), a pure permutation with log-det 0:

    y[b, 4c + 2i + j, h, w] = x[b, c, 2h + i, 2w + j]        i, j in {0, 1}
    (B, C, H, W) -> (B, 4C, H/2, W/2); unsqueeze is its inverse.

Factor-out: the second half of the channels leaves the flow and is scored under N(0, I):
    log_p = sum over (C/2, H, W) of (-1/2 z^2 - 1/2 log 2 pi)      (B,)

Two-level model, density direction x -> z (each level's .inverse gives log|det dz/dx|):
    v = squeeze(x); h1, ld1 = level_1.inverse(v); kept, z1, lp1 = factor_out(h1)
    z2, ld2 = level_2.inverse(squeeze(kept)); log p(x) = lp1 + log N(z2) + ld1 + ld2

Dequantisation y = (x + u) / 256 maps 8-bit data into [0, 1); with v = x + u = 256 y,
p_v(v) = p_y(y) / 256^D, so bits per dimension = -log p_y(y) / (D log 2) + 8.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

LOG_TWO_PI = math.log(2.0 * math.pi)
BITS_PER_BYTE = 8  # log2(256): the 256 bins of 8-bit data


def squeeze(x: Tensor) -> tuple[Tensor, Tensor]:
    """(B, C, H, W) -> ((B, 4C, H/2, W/2), log-det zeros (B,)); each 2x2 patch to channels."""
    batch, channels, height, width = x.shape
    if height % 2 or width % 2:
        raise ValueError(f"squeeze needs even H and W, got H={height}, W={width}")
    patches = x.reshape(batch, channels, height // 2, 2, width // 2, 2)
    y = patches.permute(0, 1, 3, 5, 2, 4).reshape(batch, 4 * channels, height // 2, width // 2)
    return y, x.new_zeros(batch)


def unsqueeze(y: Tensor) -> tuple[Tensor, Tensor]:
    """(B, 4C, H, W) -> ((B, C, 2H, 2W), log-det zeros (B,)); the inverse of squeeze."""
    batch, channels, height, width = y.shape
    if channels % 4:
        raise ValueError(f"unsqueeze needs a channel count divisible by 4, got C={channels}")
    blocks = y.reshape(batch, channels // 4, 2, 2, height, width)
    x = blocks.permute(0, 1, 4, 2, 5, 3).reshape(batch, channels // 4, 2 * height, 2 * width)
    return x, y.new_zeros(batch)


def _standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over every dimension but the batch: (B, ...) -> (B,)."""
    flat = z.reshape(z.shape[0], -1)
    return -0.5 * (flat * flat).sum(dim=-1) - 0.5 * flat.shape[-1] * LOG_TWO_PI


def factor_out(h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """h (B, C, H, W) -> (kept (B, C/2, H, W), factored (B, C/2, H, W), log N(factored) (B,))."""
    channels = h.shape[1]
    if channels % 2:
        raise ValueError(f"factor_out needs an even channel count, got C={channels}")
    kept, factored = h[:, : channels // 2], h[:, channels // 2 :]
    return kept, factored, _standard_normal_log_prob(factored)


def multiscale_log_prob(x: Tensor, level_1: Any, level_2: Any) -> Tensor:
    """log p(x) (B,) of the two-level model for data x (B, C, H, W), H and W divisible by 4."""
    v, _ = squeeze(x)
    h1, log_det_1 = level_1.inverse(v)
    kept, _, log_p_1 = factor_out(h1)
    u, _ = squeeze(kept)
    z2, log_det_2 = level_2.inverse(u)
    return log_p_1 + _standard_normal_log_prob(z2) + log_det_1 + log_det_2


def dequantize(x: Tensor, noise: Tensor) -> Tensor:
    """8-bit data x (integers 0..255) and noise u in [0, 1), same shape -> (x + u) / 256."""
    return (x.to(noise.dtype) + noise) / 256


def bits_per_dim(log_prob: Tensor, x: Tensor) -> Tensor:
    """log p_y(y) (B,) in nats of dequantised data y of shape (B, C, H, W) -> bits/dim (B,)."""
    dims = math.prod(x.shape[1:])
    return -log_prob / (dims * math.log(2.0)) + BITS_PER_BYTE
