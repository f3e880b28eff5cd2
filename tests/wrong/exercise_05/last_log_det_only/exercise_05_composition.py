"""Deliberately wrong submission for the project tests.

Mistake: keeps only the last layer's log-det.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor

Layer = Any  # an object with .forward(z) -> (x, log_det) and .inverse(x) -> (z, log_det)


def compose_forward(layers: Sequence[Layer], z: Tensor) -> tuple[Tensor, Tensor]:
    """z (B, d) -> (x (B, d), log|det dx/dz| (B,)): layers in order, log-dets summed."""
    x = z
    total = z.new_zeros(z.shape[0])
    for layer in layers:
        x, log_det = layer.forward(x)
        total = log_det
    return x, total


def compose_inverse(layers: Sequence[Layer], x: Tensor) -> tuple[Tensor, Tensor]:
    """x (B, d) -> (z (B, d), log|det dz/dx| (B,)): inverses in reverse order, log-dets summed."""
    z = x
    total = x.new_zeros(x.shape[0])
    for layer in reversed(layers):
        z, log_det = layer.inverse(z)
        total = total + log_det
    return z, total


def flow_log_prob(layers: Sequence[Layer], x: Tensor) -> Tensor:
    """log p_X(x) (B,) for a standard normal base: log N(f^-1(x); 0, I) + log|det dz/dx|."""
    z, log_det = compose_inverse(layers, x)
    d = z.shape[-1]
    base = -0.5 * (z * z).sum(dim=-1) - 0.5 * d * math.log(2 * math.pi)
    return base + log_det
