"""Exercise 06 — planar flows (reference solution).

One planar layer, forward (generative) direction z -> x, z and x of shape (B, d):

    a = z @ w + b                        (B,)    pre-activation w^T z + b
    x = z + u * tanh(a)                  (B, d)
    dx/dz = I + u psi^T,  psi = h'(a) w,  h'(a) = 1 - tanh(a)^2
    log|det dx/dz| = log|1 + u^T psi| = log|1 + h'(a) w^T u|     (matrix determinant lemma)

O(d) per sample: w^T u is one dot product shared by the batch. The layer is invertible
iff w^T u >= -1 (along w the map is a -> a + (w^T u) tanh(a + b) up to a shift, increasing
iff 1 + (w^T u) h' >= 0 for every h' in (0, 1]). The standard reparameterisation

    u_hat = u + (m(w^T u) - w^T u) * w / |w|^2,   m(s) = softplus(s) - 1

gives w^T u_hat = m(w^T u) > -1. A flow of K layers pushes samples z_0 ~ N(0, I) forward;
the density at each sample is log q_K(z_K) = log N(z_0; 0, I) - sum_k log|det J_k|.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_TWO_PI = math.log(2.0 * math.pi)


def planar_forward(z: Tensor, u: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """z (B, d) -> (x (B, d), log|det dx/dz| (B,)) for one planar layer, O(d) per sample."""
    activation = torch.tanh(z @ w + b)
    x = z + activation.unsqueeze(-1) * u
    slope = 1 - activation * activation
    log_det = torch.log(torch.abs(1 + slope * (w @ u)))
    return x, log_det


def planar_is_invertible(u: Tensor, w: Tensor) -> Tensor:
    """Whether the layer with these (d,) vectors is invertible: w^T u >= -1 (a 0-dim bool)."""
    return w @ u >= -1


def planar_u_hat(u: Tensor, w: Tensor) -> Tensor:
    """The (d,) reparameterised u_hat with w^T u_hat = softplus(w^T u) - 1 > -1."""
    wu = w @ u
    m = F.softplus(wu) - 1
    return u + (m - wu) * w / (w @ w)


def planar_flow_sample(z0: Tensor, us: Tensor, ws: Tensor, bs: Tensor) -> tuple[Tensor, Tensor]:
    """Base samples z0 (B, d) through K planar layers (rows of us, ws (K, d), bs (K,)).

    Returns (x (B, d), log q_K(x) (B,)) with log q_K(x) = log N(z0; 0, I) - sum_k log|det J_k|.
    """
    x = z0
    total = z0.new_zeros(z0.shape[0])
    for u, w, b in zip(us, ws, bs, strict=True):
        x, log_det = planar_forward(x, u, w, b)
        total = total + log_det
    d = z0.shape[-1]
    log_base = -0.5 * (z0 * z0).sum(dim=-1) - 0.5 * d * LOG_TWO_PI
    return x, log_base - total
