"""Independent oracles for log-determinants, used by hidden tests and project tests.

`autograd_log_abs_det` differentiates a trusted torch function; `finite_difference_log_abs_det`
needs only outputs, so it also works for student code that runs in another process.
Both work on one sample at a time, in float64, on small dimensions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def autograd_log_abs_det(function: Callable[[Tensor], Tensor], z: Tensor) -> Tensor:
    """log|det d function(z) / dz| for each row of z (B, d), via autograd + slogdet. -> (B,)"""
    values = []
    for row in z.to(torch.float64):
        jacobian = torch.autograd.functional.jacobian(
            lambda v: function(v.unsqueeze(0)).squeeze(0), row
        )
        values.append(torch.linalg.slogdet(jacobian.reshape(row.numel(), -1)).logabsdet)
    return torch.stack(values)


def perturbation_batch(z: Tensor, step: float = 1e-5) -> Tensor:
    """For one sample z (d,): the (2d, d) batch z + h e_i, z - h e_i used by central differences."""
    eye = torch.eye(z.numel(), dtype=torch.float64) * step
    flat = z.to(torch.float64).reshape(1, -1)
    return torch.cat([flat + eye, flat - eye]).reshape(-1, *z.shape)


def finite_difference_jacobian(outputs: Tensor, step: float = 1e-5) -> Tensor:
    """The (d_out, d) Jacobian from a map's outputs on `perturbation_batch(z, step)` (2d, ...),
    by central differences: column i = dF/dz_i."""
    d = outputs.shape[0] // 2
    flat = outputs.to(torch.float64).reshape(2 * d, -1)
    return ((flat[:d] - flat[d:]) / (2 * step)).T


def finite_difference_log_abs_det(outputs: Tensor, step: float = 1e-5) -> Tensor:
    """log|det J| from a map's outputs on `perturbation_batch(z, step)` (2d, ...). -> scalar"""
    return torch.linalg.slogdet(finite_difference_jacobian(outputs, step)).logabsdet
