"""Trusted data and modules for exercise-09 (train a RealNVP; the ELBO of a flow posterior).

* `two_moons(n, seed)`: the two-moons data set, generated here (no download, no sklearn)
  from a seeded generator, so the same seed gives the same points on every machine.
* `moons_grid()`: a regular grid over the square where two-moons data lies, with the area
  of one cell, for checking that a trained density integrates to 1.
* `GaussianEncoder`, `GaussianDecoder`: a small VAE's encoder q0(z|x) = N(mu(x),
  diag sigma(x)^2) and decoder p(x|z) = N(x; m(z), noise^2 I), weights drawn from a seed.

The RealNVP's conditioners are `grader.testing.flows.MLPConditioner(d, d, seed)`; the
flow of a VAE posterior is a list of `grader.testing.layers` layers. Everything here is
picklable by reference, so a worker can rebuild it, and none of it is a graded answer.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

LOG_TWO_PI = math.log(2.0 * math.pi)
MOONS_NOISE = 0.1
GRID_LOW = (-8.0, -8.0)
GRID_HIGH = (9.0, 8.5)


def two_moons(
    n: int, seed: int, noise: float = MOONS_NOISE, dtype: torch.dtype = torch.float32
) -> Tensor:
    """(n, 2) points of two interleaving half circles plus Gaussian noise of std `noise`.

    Each point picks a moon with probability 1/2 and an angle t uniform in [0, pi]:
    the upper moon is (cos t, sin t), the lower (1 - cos t, 1/2 - sin t). Deterministic
    in `seed` (its own CPU generator, float64 internally)."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=generator, dtype=torch.float64) * math.pi
    upper = torch.rand(n, generator=generator, dtype=torch.float64) < 0.5
    first = torch.where(upper, torch.cos(t), 1.0 - torch.cos(t))
    second = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    points = torch.stack([first, second], dim=-1)
    points = points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return points.to(dtype)


def moons_grid(step: float = 0.1, dtype: torch.dtype = torch.float32) -> tuple[Tensor, float]:
    """(M, 2) cell centres of a regular grid over [-8, 9] x [-8, 8.5], and one cell's area.

    sum(exp(log p(grid))) * area approximates the mass a density puts on that rectangle:
    close to 1 for a density of two-moons data (its points lie within [-1.5, 2.5] x
    [-1, 1.5]), far from 1 for a function that is not a normalised density."""
    axes = [
        torch.arange(low + step / 2, high, step, dtype=torch.float64)
        for low, high in zip(GRID_LOW, GRID_HIGH, strict=True)
    ]
    first, second = torch.meshgrid(*axes, indexing="ij")
    grid = torch.stack([first.reshape(-1), second.reshape(-1)], dim=-1)
    return grid.to(dtype), step * step


def _weights(generator: torch.Generator, rows: int, cols: int) -> nn.Parameter:
    return nn.Parameter(
        torch.randn(rows, cols, generator=generator, dtype=torch.float64) / cols**0.5
    )


class GaussianEncoder(nn.Module):
    """q0(z|x) = N(mu(x), diag sigma(x)^2): x (B, d_x) -> (mu (B, d_z), log_sigma (B, d_z)).

    One hidden tanh layer; log_sigma = 0.8 tanh(.) - 0.4 stays in (-1.2, 0.4)."""

    def __init__(self, d_x: int, d_z: int, seed: int, hidden: int = 16) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.w1 = _weights(generator, hidden, d_x)
        self.b1 = nn.Parameter(0.1 * torch.randn(hidden, generator=generator, dtype=torch.float64))
        self.w2 = _weights(generator, 2 * d_z, hidden)
        self.b2 = nn.Parameter(0.1 * torch.randn(2 * d_z, generator=generator, dtype=torch.float64))
        self.d_z = d_z

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        dtype = x.dtype
        hidden = torch.tanh(x @ self.w1.to(dtype).T + self.b1.to(dtype))
        out = hidden @ self.w2.to(dtype).T + self.b2.to(dtype)
        mu, raw = out[..., : self.d_z], out[..., self.d_z :]
        return mu, 0.8 * torch.tanh(raw) - 0.4


class GaussianDecoder(nn.Module):
    """p(x|z) = N(x; m(z), noise^2 I) with m a one-hidden-layer tanh network of z."""

    def __init__(self, d_z: int, d_x: int, seed: int, hidden: int = 16, noise: float = 0.7):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.w1 = _weights(generator, hidden, d_z)
        self.b1 = nn.Parameter(0.1 * torch.randn(hidden, generator=generator, dtype=torch.float64))
        self.w2 = _weights(generator, d_x, hidden)
        self.b2 = nn.Parameter(0.1 * torch.randn(d_x, generator=generator, dtype=torch.float64))
        self.noise = noise

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) summed over the d_x features: x (B, d_x), z (S, B, d_z) -> (S, B).

        (Any leading shape of z works: the result has shape z.shape[:-1], x broadcast.)"""
        dtype = z.dtype
        hidden = torch.tanh(z @ self.w1.to(dtype).T + self.b1.to(dtype))
        mean = hidden @ self.w2.to(dtype).T + self.b2.to(dtype)
        scaled = (x - mean) / self.noise
        d_x = x.shape[-1]
        return -0.5 * (scaled * scaled).sum(-1) - d_x * (math.log(self.noise) + 0.5 * LOG_TWO_PI)
