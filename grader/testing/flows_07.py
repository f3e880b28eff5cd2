"""The level flows that exercise-07's hidden tests hand to student code (trusted, picklable).

A multi-scale model needs one invertible map per level on (B, C, H, W) tensors. These are
deliberately unlike anything an exercise grades (no coupling, no LU-factored 1x1
convolution, no planar layer): an orthogonal mixing of the channels at every pixel,
followed by an elementwise sinh-arcsinh map per channel. Forward is the generative
direction z -> x:

    v[b, :, h, w] = Q @ z[b, :, h, w]              Q (C, C) orthogonal: |det Q| = 1
    x = sinh(delta_c * asinh(v) + eps_c)           delta_c > 0, per channel c

    log|det dx/dz| = sum over (c, h, w) of
        log delta_c + log cosh(delta_c * asinh(v) + eps_c) - 1/2 log(1 + v^2)    (B,)

The inverse is z = Q^T sinh((asinh(x) - eps_c) / delta_c) per pixel, and its log-det
log|det dz/dx| is minus the forward one at the matching point. sinh-arcsinh maps bend
the tails (delta) and skew (eps) a density, so mixing up forward and inverse, or the
sign of a log-det, changes a log-likelihood by much more than rounding.

Parameters are float64 buffers cast to the input's dtype and device at call time; the
class is defined at module level so a worker can unpickle it by reference.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

LOG_TWO = math.log(2.0)


def _log_cosh(t: Tensor) -> Tensor:
    """log cosh(t) without overflow: |t| + log1p(exp(-2|t|)) - log 2."""
    magnitude = t.abs()
    return magnitude + torch.log1p(torch.exp(-2 * magnitude)) - LOG_TWO


def _mix(matrix: Tensor, v: Tensor) -> Tensor:
    """matrix @ v[b, :, h, w] at every sample and pixel of v (B, C, H, W)."""
    return torch.einsum("ij,bjhw->bihw", matrix, v)


class ChannelMixSinhArcsinh(nn.Module):
    """One level of a multi-scale flow on (B, C, H, W): orthogonal channel mixing, then an
    elementwise sinh-arcsinh map (see the module docstring for the maths)."""

    def __init__(self, rotation: Tensor, log_delta: Tensor, eps: Tensor) -> None:
        super().__init__()
        self.register_buffer("rotation", rotation.to(torch.float64).clone())
        self.register_buffer("log_delta", log_delta.to(torch.float64).clone())
        self.register_buffer("eps", eps.to(torch.float64).clone())

    @classmethod
    def random(cls, channels: int, seed: int, spread: float = 0.3) -> ChannelMixSinhArcsinh:
        """Q from the QR factorisation of a Gaussian matrix, delta = exp(N(0, spread^2)),
        eps ~ N(0, spread^2): tails and skew visibly unlike the identity."""
        generator = torch.Generator().manual_seed(seed)
        gaussian = torch.randn(channels, channels, generator=generator, dtype=torch.float64)
        rotation, _ = torch.linalg.qr(gaussian)
        log_delta = torch.randn(channels, generator=generator, dtype=torch.float64) * spread
        eps = torch.randn(channels, generator=generator, dtype=torch.float64) * spread
        return cls(rotation, log_delta, eps)

    def _parameters_like(self, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Q (C, C), log delta and eps shaped (1, C, 1, 1), in v's dtype and device."""
        cast = {"dtype": v.dtype, "device": v.device}
        shape = (1, -1, 1, 1)
        return (
            self.rotation.to(**cast),
            self.log_delta.to(**cast).reshape(shape),
            self.eps.to(**cast).reshape(shape),
        )

    def _log_slope(self, v: Tensor, log_delta: Tensor, eps: Tensor) -> Tensor:
        """log d/dv sinh(delta asinh(v) + eps), summed over (C, H, W) -> (B,)."""
        inner = torch.exp(log_delta) * torch.asinh(v) + eps
        log_slope = log_delta + _log_cosh(inner) - torch.log(torch.hypot(torch.ones_like(v), v))
        return log_slope.reshape(v.shape[0], -1).sum(dim=-1)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (B, C, H, W) -> (x (B, C, H, W), log|det dx/dz| (B,))."""
        rotation, log_delta, eps = self._parameters_like(z)
        v = _mix(rotation, z)
        x = torch.sinh(torch.exp(log_delta) * torch.asinh(v) + eps)
        return x, self._log_slope(v, log_delta, eps)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, C, H, W) -> (z (B, C, H, W), log|det dz/dx| (B,))."""
        rotation, log_delta, eps = self._parameters_like(x)
        v = torch.sinh((torch.asinh(x) - eps) * torch.exp(-log_delta))
        return _mix(rotation.T, v), -self._log_slope(v, log_delta, eps)
