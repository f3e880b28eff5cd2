"""Exercise 05 — Composing flows: log-dets add, the inverse runs in reverse.

Run `grade exercise-05` to check your work.

Direction: the forward map is the generative one, z -> x (sampling); the inverse is
x -> z (density evaluation). Every tensor is batch first: z and x have shape (B, d), and
every log-det is one number per sample, shape (B,).

Layer contract. You are given a sequence of layers; each one is an object with two methods
(like FrEIA's invertible modules, with forward meaning z -> x):

    layer.forward(z) -> (x, log_det)    log_det = log|det dx/dz|  (B,)
    layer.inverse(x) -> (z, log_det)    log_det = log|det dz/dx|  (B,)

layer.inverse undoes layer.forward, and its log-det is the *negative* of the forward
log-det at the matching point: each method already returns the log-det for its own
direction, so you never need to flip a sign yourself. Log-dets may differ from sample to
sample (a coupling layer's does). Call the methods; do not look inside the layers.

Composition. layers[0] is applied first: for f = f_K o ... o f_1 with h_0 = z,

    h_k = f_k(h_{k-1}),   x = h_K
    log|det dx/dz| = sum_k log|det df_k/dh_{k-1}|

because the Jacobian of a composition is the product of the Jacobians (chain rule) and
det(A B) = det(A) det(B): determinants multiply, so log-dets add.

Inverse. To undo f_K o ... o f_1 you undo f_K first: run layer.inverse over the layers in
REVERSE order. The inverse log-dets add the same way:
    log|det dz/dx| = sum_k (log-det returned by layers[k].inverse)

Density. With a standard normal base p_Z = N(0, I) in d dimensions and z = f^-1(x):

    log p_X(x) = log p_Z(z) + log|det dz/dx|
    log p_Z(z) = -1/2 sum_i z_i^2 - d/2 log(2 pi)

Density evaluation goes x -> z, so it uses the inverse pass, not the forward one.

An empty sequence of layers is the identity map, with log-det 0 for every sample.
Rules: keep each input's dtype and device; do not modify inputs in place.
"""

from __future__ import annotations

import math  # noqa: F401 - you will need it
from collections.abc import Sequence
from typing import Any

import torch  # noqa: F401 - you may need it
from torch import Tensor

Layer = Any  # an object with .forward(z) -> (x, log_det) and .inverse(x) -> (z, log_det)


def compose_forward(layers: Sequence[Layer], z: Tensor) -> tuple[Tensor, Tensor]:
    """Run the flow forward, z -> x.

    Args:
        layers: the flow's layers; layers[0] is applied to z first.
        z: (B, d) base samples.

    Returns:
        x: (B, d), the output of the last layer.
        log_det: (B,), log|det dx/dz| = the sum of every layer's forward log-det.
    """
    raise NotImplementedError


def compose_inverse(layers: Sequence[Layer], x: Tensor) -> tuple[Tensor, Tensor]:
    """Run the flow backwards, x -> z: each layer's inverse, last layer first.

    Returns:
        z: (B, d) with compose_forward(layers, z) == x.
        log_det: (B,), log|det dz/dx| = the sum of the layers' inverse log-dets
            (minus the forward log-det of the whole flow at z).
    """
    raise NotImplementedError


def flow_log_prob(layers: Sequence[Layer], x: Tensor) -> Tensor:
    """log p_X(x) for each sample, shape (B,), with a standard normal base N(0, I).

    log p_X(x) = -1/2 |z|^2 - d/2 log(2 pi) + log|det dz/dx|, where z = f^-1(x) comes
    from the inverse pass (compose_inverse).
    """
    raise NotImplementedError
