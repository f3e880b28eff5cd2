"""Picklable flows and base densities that exercise-01's hidden tests hand to student code.

Trusted code. Each inverse maps data x (B, d) to (z (B, d), log|det dz/dx| (B,)), i.e. it
returns the inverse direction's log-det; each base density maps z (B, d) to log p_Z(z) (B,).
Parameters are float64 buffers, cast to the input's dtype and device at call time, so the
objects work on any device the worker moves them to.

Every log-det is a fresh tensor per call (not a view of a buffer), so an in-place write into
one is reported by the worker's watch in plain words rather than failing on a view.

This file ships in the student kit. The Gaussian base densities are computed with
`torch.distributions.Normal` (which any student may call too), not with the closed form
that exercise-01 asks students to write.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _float64(values: Tensor | list[float]) -> Tensor:
    return torch.as_tensor(values, dtype=torch.float64).clone()


class ElementwiseAffineInverse(nn.Module):
    """Inverse of x = scale * z + shift (elementwise; scale may be negative, never 0).

    z = (x - shift) / scale,   log|det dz/dx| = -sum_i log|scale_i|   (same for every sample).
    """

    def __init__(self, scale: Tensor | list[float], shift: Tensor | list[float]) -> None:
        super().__init__()
        self.register_buffer("scale", _float64(scale))
        self.register_buffer("shift", _float64(shift))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        scale, shift = self.scale.to(x), self.shift.to(x)
        z = (x - shift) / scale
        log_det = -torch.log(scale.abs()).sum().expand(x.shape[0]).clone()
        return z, log_det


class LinearInverse(nn.Module):
    """Inverse of the dense linear flow x = z @ matrix.T + shift (matrix (d, d) invertible).

    z = solve(matrix, x - shift),   log|det dz/dx| = -log|det matrix|.
    """

    def __init__(self, matrix: Tensor, shift: Tensor) -> None:
        super().__init__()
        self.register_buffer("matrix", _float64(matrix))
        self.register_buffer("shift", _float64(shift))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        matrix, shift = self.matrix.to(x), self.shift.to(x)
        z = torch.linalg.solve(matrix, (x - shift).T).T
        log_det = -torch.linalg.slogdet(matrix).logabsdet.expand(x.shape[0]).clone()
        return z, log_det


class SinhInverse(nn.Module):
    """Inverse of the nonlinear elementwise flow x = sinh(z).

    z = asinh(x),   dz/dx = 1 / sqrt(1 + x^2),   log|det dz/dx| = -0.5 * sum_i log(1 + x_i^2).
    """

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.asinh(x), -0.5 * torch.log1p(x * x).sum(dim=-1)


class StandardNormalLogProb(nn.Module):
    """log N(z; 0, I) (B,) for z (B, d)."""

    def forward(self, z: Tensor) -> Tensor:
        unit = torch.distributions.Normal(z.new_zeros(()), z.new_ones(()), validate_args=False)
        return unit.log_prob(z).sum(dim=-1)


class DiagonalNormalLogProb(nn.Module):
    """log N(z; mean, diag(std^2)) (B,) for z (B, d): a base that is *not* standard normal."""

    def __init__(self, mean: Tensor | list[float], std: Tensor | list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", _float64(mean))
        self.register_buffer("std", _float64(std))

    def forward(self, z: Tensor) -> Tensor:
        normal = torch.distributions.Normal(self.mean.to(z), self.std.to(z), validate_args=False)
        return normal.log_prob(z).sum(dim=-1)
