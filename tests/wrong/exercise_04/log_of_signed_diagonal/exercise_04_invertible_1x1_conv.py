"""Deliberately wrong submission for the project tests.

Mistake: takes log(U_ii) of the signed diagonal (NaN when U_ii < 0).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _unit_lower(lower: Tensor) -> Tensor:
    eye = torch.eye(lower.shape[-1], dtype=lower.dtype, device=lower.device)
    return torch.tril(lower, diagonal=-1) + eye


def _upper(upper: Tensor, sign_diag: Tensor, log_abs_diag: Tensor) -> Tensor:
    return torch.triu(upper, diagonal=1) + torch.diag(sign_diag * torch.exp(log_abs_diag))


def lu_weight(
    permutation: Tensor, lower: Tensor, upper: Tensor, sign_diag: Tensor, log_abs_diag: Tensor
) -> Tensor:
    """The (C, C) weight W = P @ L @ U from its LU parameters."""
    return permutation @ _unit_lower(lower) @ _upper(upper, sign_diag, log_abs_diag)


def _log_det(x: Tensor, log_abs_diag: Tensor) -> Tensor:
    """H * W * sum(log_abs_diag), repeated for each of the B samples of x (B, C, H, W)."""
    pixels = x.shape[-2] * x.shape[-1]
    return (pixels * log_abs_diag.sum()).expand(x.shape[0]).clone()


def invertible_conv_forward(
    z: Tensor,
    permutation: Tensor,
    lower: Tensor,
    upper: Tensor,
    sign_diag: Tensor,
    log_abs_diag: Tensor,
) -> tuple[Tensor, Tensor]:
    """z (B, C, H, W) -> (x = W z per pixel (B, C, H, W), log|det dx/dz| (B,))."""
    weight = lu_weight(permutation, lower, upper, sign_diag, log_abs_diag)
    x = torch.einsum("ij,bjhw->bihw", weight, z)
    diagonal = sign_diag * torch.exp(log_abs_diag)
    log_det = z.shape[-2] * z.shape[-1] * torch.log(diagonal).sum()
    return x, log_det.expand(z.shape[0]).clone()


def invertible_conv_inverse(
    x: Tensor,
    permutation: Tensor,
    lower: Tensor,
    upper: Tensor,
    sign_diag: Tensor,
    log_abs_diag: Tensor,
) -> tuple[Tensor, Tensor]:
    """x (B, C, H, W) -> (z = W^-1 x per pixel, log|det dz/dx| = -H*W*sum(log_abs_diag) (B,))."""
    batch, channels, height, width = x.shape
    columns = x.transpose(0, 1).reshape(channels, -1)  # (C, B*H*W): one column per pixel
    unpermuted = permutation.T @ columns  # P^-1 = P^T
    after_lower = torch.linalg.solve_triangular(
        _unit_lower(lower), unpermuted, upper=False, unitriangular=True
    )
    z_columns = torch.linalg.solve_triangular(
        _upper(upper, sign_diag, log_abs_diag), after_lower, upper=True
    )
    z = z_columns.reshape(channels, batch, height, width).transpose(0, 1).contiguous()
    return z, -_log_det(x, log_abs_diag)
