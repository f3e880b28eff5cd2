"""Exercise 02 — triangular Jacobians and an affine autoregressive flow (WRONG: log_of_product).

A typical wrong submission (project tests):
takes the log of the product of the diagonal.
"""

from __future__ import annotations

import torch
from torch import Tensor


def triangular_log_abs_det(jacobian: Tensor) -> Tensor:
    """log|det J| (B,) for lower-triangular J (B, d, d): sum of log|J_ii|, never a product."""
    return torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).prod(dim=-1).abs())


def _conditioner(
    z: Tensor,
    weight_shift: Tensor,
    bias_shift: Tensor,
    weight_log_scale: Tensor,
    bias_log_scale: Tensor,
) -> tuple[Tensor, Tensor]:
    """(m, a), each (B, d), with entry i a function of z_<i only."""
    shift = z @ torch.tril(weight_shift, -1).T + bias_shift
    log_scale = z @ torch.tril(weight_log_scale, -1).T + bias_log_scale
    return shift, log_scale


def autoregressive_affine_forward(
    z: Tensor,
    weight_shift: Tensor,
    bias_shift: Tensor,
    weight_log_scale: Tensor,
    bias_log_scale: Tensor,
) -> tuple[Tensor, Tensor]:
    """z (B, d) -> (x (B, d), log|det dx/dz| (B,)), all d outputs at once."""
    shift, log_scale = _conditioner(z, weight_shift, bias_shift, weight_log_scale, bias_log_scale)
    return z * torch.exp(log_scale) + shift, log_scale.sum(dim=-1)


def autoregressive_affine_inverse(
    x: Tensor,
    weight_shift: Tensor,
    bias_shift: Tensor,
    weight_log_scale: Tensor,
    bias_log_scale: Tensor,
) -> tuple[Tensor, Tensor]:
    """x (B, d) -> (z (B, d), log|det dz/dx| (B,)), one dimension at a time."""
    mask_shift = torch.tril(weight_shift, -1)
    mask_log_scale = torch.tril(weight_log_scale, -1)
    columns: list[Tensor] = []
    log_scales: list[Tensor] = []
    for i in range(x.shape[-1]):
        previous = torch.stack(columns, dim=-1) if columns else x[..., :0]
        shift = previous @ mask_shift[i, :i] + bias_shift[i]
        log_scale = previous @ mask_log_scale[i, :i] + bias_log_scale[i]
        columns.append((x[..., i] - shift) * torch.exp(-log_scale))
        log_scales.append(log_scale)
    return torch.stack(columns, dim=-1), -torch.stack(log_scales, dim=-1).sum(dim=-1)
