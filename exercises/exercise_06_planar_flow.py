"""Exercise 06 — planar flows: a rank-one Jacobian, invertibility, and densities at samples.

Run `grade exercise-06` to check your work; `grade hint exercise-06 --function NAME` gives
hints one step at a time.

One planar layer (Rezende & Mohamed, 2015) maps z in R^d to

    f(z) = z + u * tanh(w^T z + b)          u, w in R^d, b a scalar

Direction: f is the forward (generative) map z -> x. Every tensor is batch first:
z and x have shape (B, d); u and w have shape (d,); b is a 0-dim tensor. A log-det is one
number per sample, shape (B,): forward returns log|det dx/dz|.

Compute the log-determinant in O(d) per sample: never build a d x d matrix and never call
a determinant or factorisation routine (det, slogdet, LU, ...); the grader tries d = 3000.

Worked example (the unit's example 3): u = (1, 0), w = (1, 2), b = 0, z = (0.5, -0.5) give
x = (0.0379, -0.5) and log|det dx/dz| = log(1.7864) ~= 0.580.

A flow of K planar layers applies layer 0 first, then layer 1, ..., with the parameters
stacked row by row: us and ws have shape (K, d), bs has shape (K,). Its base distribution
is the standard normal N(0, I) in d dimensions:

    log N(z; 0, I) = -1/2 |z|^2 - d/2 log(2 pi)

A planar layer has no closed-form inverse, so a planar flow is used where the density is
needed only at its own samples (variational inference): push z0 ~ N(0, I) forward and
evaluate the density of the result at the same time.

Rules: keep each input's dtype and device (create new tensors with dtype=z.dtype,
device=z.device); do not modify any input in place.
"""

from __future__ import annotations

import math  # noqa: F401 - you may need it

import torch  # noqa: F401 - you will need it
from torch import Tensor


def planar_forward(z: Tensor, u: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Forward pass z -> x of one planar layer.

    Args:
        z: (B, d) inputs.
        u, w: (d,) the layer's vectors; they satisfy the invertibility condition.
        b: 0-dim tensor, the bias.

    Returns:
        x: (B, d), x = z + u * tanh(w^T z + b) for each sample.
        log_det: (B,), log|det dx/dz| at each sample, in O(d) per sample.
    """
    raise NotImplementedError


def planar_is_invertible(u: Tensor, w: Tensor) -> Tensor:
    """Whether f(z) = z + u * tanh(w^T z + b) is invertible on R^d (for every b).

    Args:
        u, w: (d,) the layer's vectors.

    Returns:
        A 0-dim bool tensor (a Python bool is accepted too): True exactly when f is a
        bijection of R^d.
    """
    raise NotImplementedError


def planar_u_hat(u: Tensor, w: Tensor) -> Tensor:
    """The standard reparameterisation of u that makes every planar layer invertible.

    Training updates u freely, so the layer uses u_hat instead of u: u_hat is u moved along
    the direction of w only (u_hat - u is a multiple of w), by exactly the amount that makes

        w^T u_hat = softplus(w^T u) - 1,     softplus(s) = log(1 + e^s).

    Args:
        u, w: (d,) raw vectors; w is not zero.

    Returns:
        u_hat: (d,). Finite for every finite input, however large w^T u is.
    """
    raise NotImplementedError


def planar_flow_sample(z0: Tensor, us: Tensor, ws: Tensor, bs: Tensor) -> tuple[Tensor, Tensor]:
    """Push base samples through K planar layers and return the flow's density at them.

    Args:
        z0: (B, d) samples of the base distribution N(0, I).
        us, ws: (K, d); row k holds layer k's u and w (use them as given, they already
            satisfy the invertibility condition).
        bs: (K,), layer k's bias.

    Returns:
        x: (B, d), the output of the last layer (layer 0 is applied to z0 first).
        log_prob: (B,), log q_K(x): the log-density of the flow's output distribution at
            each returned sample x.
    """
    raise NotImplementedError
