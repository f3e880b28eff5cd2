"""Exercise 05 — Composing flows: a deep flow from simple layers.

Run `grade exercise-05` to check your work; `grade hint exercise-05` when you are stuck.

Direction: the forward map is the generative one, z -> x (sampling); the inverse is
x -> z (density evaluation). Every tensor is batch first: z and x have shape (B, d), and
every log-det is one number per sample, shape (B,).

Layer contract. You are given a sequence of layers; each one is an object with two methods
(like FrEIA's invertible modules, with forward meaning z -> x):

    layer.forward(z) -> (x, log_det)    log_det = log|det dx/dz| at z   (B,)
    layer.inverse(x) -> (z, log_det)    log_det = log|det dz/dx| at x   (B,)

layer.inverse undoes layer.forward, and each method already returns the log-det for its
own direction. Log-dets may differ from sample to sample (a coupling layer's does). Call
the methods; do not look inside the layers.

The flow. layers[0] is applied first: with h_0 = z,

    h_k = f_k(h_{k-1})  for k = 1..K,   x = h_K,   f = f_K o ... o f_1

Your tasks: run the flow in both directions with the log-det of the whole map, and
evaluate its density. The base density is the standard normal in d dimensions,

    p_Z(z) = (2 pi)^(-d / 2) * exp(-|z|^2 / 2).

An empty sequence of layers is the identity map, with log-det 0 for every sample.
Rules: keep each input's dtype and device; do not modify in place any input, nor
any tensor returned by a function or module you are given.
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
        log_det: (B,), log|det dx/dz| of the whole flow at z.
    """
    raise NotImplementedError


def compose_inverse(layers: Sequence[Layer], x: Tensor) -> tuple[Tensor, Tensor]:
    """Run the flow backwards, x -> z, the exact inverse of compose_forward.

    Returns:
        z: (B, d) with compose_forward(layers, z)[0] == x.
        log_det: (B,), log|det dz/dx| of the whole inverse flow at x.
    """
    raise NotImplementedError


def flow_log_prob(layers: Sequence[Layer], x: Tensor) -> Tensor:
    """log p_X(x) for each sample, shape (B,), for the flow with a standard normal base."""
    raise NotImplementedError
