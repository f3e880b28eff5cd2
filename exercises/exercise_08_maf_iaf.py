"""Exercise 08 — MAF vs IAF: one masked affine transform, two flows, opposite costs.

Run `grade exercise-08` to check your work; `grade hint exercise-08 --function NAME` gives
hints one step at a time.

Both flows use the same autoregressive affine transform between noise z and data x,

    x_i = z_i * exp(a_i) + m_i          i = 1, ..., d

with the log-scale a_i and the shift m_i given by a masked conditioner network:

    log_scale, shift = conditioner(v)   v (B, d) -> two tensors (B, d)

where entry i of both outputs depends on v_1, ..., v_(i-1) only (v_<i; entry 1 is a
constant). The flows differ only in what v is:

    MAF (masked autoregressive flow):     v = x, so  x_i = z_i * exp(a_i(x_<i)) + m_i(x_<i)
    IAF (inverse autoregressive flow):    v = z, so  x_i = z_i * exp(a_i(z_<i)) + m_i(z_<i)

You implement both directions of both flows. z -> x is the sampling direction (the
forward, generative map); x -> z is the density direction (what log p(x) needs). The
conditioner is a trusted torch.nn.Module: call it as `conditioner(v)` on a whole batch.
Calling it is the expensive step, so the grader counts the calls (it does not time you):
each direction needs either exactly one call, or one call per dimension (d calls), and
nothing beyond that. Which is which is the point of the exercise.

Every tensor is batch first: z and x have shape (B, d). A log-det is one number per
sample, shape (B,): the z -> x functions return log|det dx/dz|, the x -> z functions
return log|det dz/dx|.

Rules: keep the input's dtype and device (create new tensors with dtype=x.dtype,
device=x.device, or with torch.zeros_like and friends); do not modify in place any
input, nor the tensors the conditioner returns; keep everything in torch (a training
step needs the gradients with respect to the input and to the conditioner's weights).
"""

from __future__ import annotations

import torch  # noqa: F401 - you will need it
from torch import Tensor, nn


def maf_inverse(x: Tensor, conditioner: nn.Module) -> tuple[Tensor, Tensor]:
    """MAF, density direction x -> z.

    Args:
        x: (B, d) data.
        conditioner: v (B, d) -> (log_scale, shift), each (B, d); for a MAF, v is x.

    Returns:
        z: (B, d) with x = MAF(z), i.e. x_i = z_i * exp(a_i(x_<i)) + m_i(x_<i).
        log_det: (B,), log|det dz/dx| at each sample.
    """
    raise NotImplementedError


def maf_forward(z: Tensor, conditioner: nn.Module) -> tuple[Tensor, Tensor]:
    """MAF, sampling direction z -> x.

    Args:
        z: (B, d) noise.
        conditioner: v (B, d) -> (log_scale, shift), each (B, d); for a MAF, v is x.

    Returns:
        x: (B, d), x_i = z_i * exp(a_i(x_<i)) + m_i(x_<i).
        log_det: (B,), log|det dx/dz| at each sample.
    """
    raise NotImplementedError


def iaf_forward(z: Tensor, conditioner: nn.Module) -> tuple[Tensor, Tensor]:
    """IAF, sampling direction z -> x.

    Args:
        z: (B, d) noise.
        conditioner: v (B, d) -> (log_scale, shift), each (B, d); for an IAF, v is z.

    Returns:
        x: (B, d), x_i = z_i * exp(a_i(z_<i)) + m_i(z_<i).
        log_det: (B,), log|det dx/dz| at each sample.
    """
    raise NotImplementedError


def iaf_inverse(x: Tensor, conditioner: nn.Module) -> tuple[Tensor, Tensor]:
    """IAF, density direction x -> z.

    Args:
        x: (B, d) data.
        conditioner: v (B, d) -> (log_scale, shift), each (B, d); for an IAF, v is z.

    Returns:
        z: (B, d) with x = IAF(z), i.e. x_i = z_i * exp(a_i(z_<i)) + m_i(z_<i).
        log_det: (B,), log|det dz/dx| at each sample.
    """
    raise NotImplementedError
