"""Exercise 08 — MAF vs IAF (reference solution).

One masked affine transform, x_i = z_i exp(a_i) + m_i, with (a, m) = conditioner(v) and
a_i, m_i functions of v_<i only. The two flows differ in what the conditioner sees.

MAF, v = x (the data):  x_i = z_i exp(a_i(x_<i)) + m_i(x_<i)
    density  x -> z, one pass:  (a, m) = c(x);  z = (x - m) exp(-a);
             log|det dz/dx| = -sum_i a_i(x)
    sampling z -> x, d passes:  x_i needs a_i(x_<i), so x_1, x_2, ... in turn;
             log|det dx/dz| = +sum_i a_i(x)
IAF, v = z (the noise):  x_i = z_i exp(a_i(z_<i)) + m_i(z_<i)
    sampling z -> x, one pass:  (a, m) = c(z);  x = z exp(a) + m;
             log|det dx/dz| = +sum_i a_i(z)
    density  x -> z, d passes:  z_i = (x_i - m_i(z_<i)) exp(-a_i(z_<i)), z_1, z_2, ... in turn;
             log|det dz/dx| = -sum_i a_i(z)

Both Jacobians are lower triangular with diagonal exp(a_i) (or exp(-a_i)), whence the
log-dets. A sequential pass calls the conditioner once per dimension: call i sees the
entries found so far (zeros after them, which output i ignores) and yields a_i, m_i; the
last call's log-scales are all final, so they give the log-det.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def maf_inverse(x: Tensor, conditioner: nn.Module) -> tuple[Tensor, Tensor]:
    """MAF density direction x (B, d) -> (z (B, d), log|det dz/dx| (B,)): one call."""
    log_scale, shift = conditioner(x)
    return (x - shift) * torch.exp(-log_scale), -log_scale.sum(dim=-1)


def maf_forward(z: Tensor, conditioner: nn.Module) -> tuple[Tensor, Tensor]:
    """MAF sampling direction z (B, d) -> (x (B, d), log|det dx/dz| (B,)): d calls."""
    d = z.shape[-1]
    x = z[..., :0]
    for i in range(d):
        log_scale, shift = conditioner(torch.cat([x, torch.zeros_like(z[..., i:])], dim=-1))
        x_i = z[..., i : i + 1] * torch.exp(log_scale[..., i : i + 1]) + shift[..., i : i + 1]
        x = torch.cat([x, x_i], dim=-1)
    return x, log_scale.sum(dim=-1)


def iaf_forward(z: Tensor, conditioner: nn.Module) -> tuple[Tensor, Tensor]:
    """IAF sampling direction z (B, d) -> (x (B, d), log|det dx/dz| (B,)): one call."""
    log_scale, shift = conditioner(z)
    return z * torch.exp(log_scale) + shift, log_scale.sum(dim=-1)


def iaf_inverse(x: Tensor, conditioner: nn.Module) -> tuple[Tensor, Tensor]:
    """IAF density direction x (B, d) -> (z (B, d), log|det dz/dx| (B,)): d calls."""
    d = x.shape[-1]
    z = x[..., :0]
    for i in range(d):
        log_scale, shift = conditioner(torch.cat([z, torch.zeros_like(x[..., i:])], dim=-1))
        z_i = (x[..., i : i + 1] - shift[..., i : i + 1]) * torch.exp(-log_scale[..., i : i + 1])
        z = torch.cat([z, z_i], dim=-1)
    return z, -log_scale.sum(dim=-1)
