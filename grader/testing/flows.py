"""Small, picklable building blocks that hidden tests hand to student functions.

They are trusted code: a worker unpickles them (by reference to this module) and the
student's function calls them. All take batch-first tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MLPConditioner(nn.Module):
    """A coupling conditioner: z_a (B, d_a) -> (raw log-scale (B, d_b), shift (B, d_b)).

    One hidden tanh layer with weights drawn from `seed`; `scale` multiplies the raw
    log-scale so tests can provoke overflow (large scale) or stay tame (scale ~ 0.5).
    """

    def __init__(self, d_a: int, d_b: int, seed: int, hidden: int = 16, scale: float = 0.5):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.w1 = nn.Parameter(torch.randn(hidden, d_a, generator=generator) / max(d_a, 1) ** 0.5)
        self.b1 = nn.Parameter(torch.randn(hidden, generator=generator) * 0.1)
        self.w2 = nn.Parameter(torch.randn(2 * d_b, hidden, generator=generator) / hidden**0.5)
        self.b2 = nn.Parameter(torch.randn(2 * d_b, generator=generator) * 0.1)
        self.scale = scale
        self.d_b = d_b

    def forward(self, z_a: Tensor) -> tuple[Tensor, Tensor]:
        dtype = z_a.dtype
        hidden = torch.tanh(z_a @ self.w1.to(dtype).T + self.b1.to(dtype))
        out = hidden @ self.w2.to(dtype).T + self.b2.to(dtype)
        raw_log_scale, shift = out[..., : self.d_b], out[..., self.d_b :]
        return self.scale * raw_log_scale, shift


class ConstantConditioner(nn.Module):
    """A conditioner that ignores its input: returns fixed (log_scale, shift) for every sample.

    Both are fresh tensors on each call (not expanded views of the parameters), so an in-place
    write into one is reported by the worker's watch in plain words."""

    def __init__(self, log_scale: list[float], shift: list[float]) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(log_scale, dtype=torch.float64))
        self.shift = nn.Parameter(torch.tensor(shift, dtype=torch.float64))

    def forward(self, z_a: Tensor) -> tuple[Tensor, Tensor]:
        batch = z_a.shape[:-1]
        log_scale = self.log_scale.to(z_a.dtype).expand(*batch, -1).clone()
        shift = self.shift.to(z_a.dtype).expand(*batch, -1).clone()
        return log_scale, shift
