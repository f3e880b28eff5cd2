"""Exercise 07 — multi-scale flows: squeeze, factor-out, a two-level log-likelihood, bits/dim.

Run `grade exercise-07` to check your work; `grade hint exercise-07 --function NAME` gives
hints one step at a time.

Images are batch first, (B, C, H, W). Log-dets and log-densities are one number per
sample, shape (B,); log-densities are natural logs (nats). Forward is the generative
direction z -> x; a log-det returned with y = map(x) is log|det dy/dx| of that map.

Squeeze trades space for channels: every 2 x 2 patch of pixels becomes 4 channels,
(B, C, H, W) -> (B, 4C, H/2, W/2), in exactly this order (i, j in {0, 1}):

    y[b, 4c + 2i + j, h, w] = x[b, c, 2h + i, 2w + j]

so channel 4c + 0 holds the top-left pixel of each patch of channel c, 4c + 1 the top-right,
4c + 2 the bottom-left and 4c + 3 the bottom-right. unsqueeze is its inverse,
(B, 4C, H, W) -> (B, C, 2H, 2W). Sizes that do not fit raise ValueError with exactly these
messages (sizes filled in):

    squeeze:     "squeeze needs even H and W, got H=5, W=4"
    unsqueeze:   "unsqueeze needs a channel count divisible by 4, got C=6"
    factor_out:  "factor_out needs an even channel count, got C=3"

Factor-out: after a level, the *second* half of the channels leaves the flow and is scored
under the standard normal; the first half goes on to the next level. The standard normal
log-density of a tensor is the sum over all its entries of -1/2 v^2 - 1/2 log(2 pi).

The two-level model. A level is a trusted object with two methods:

    level.forward(z) -> (x, log_det)    log_det = log|det dx/dz|   (B,)
    level.inverse(x) -> (z, log_det)    log_det = log|det dz/dx|   (B,), undoes forward

Each level keeps the shape of its input. The model generates x (B, C, H, W), with H and W
divisible by 4, from two independent standard normal latents:

    z1 ~ N(0, I), shape (B, 2C, H/2, W/2)        factored out after level 1
    z2 ~ N(0, I), shape (B, 8C, H/4, W/4)        what is left after level 2
    h2, _ = level_2.forward(z2)                                   (B, 8C, H/4, W/4)
    h1, _ = level_1.forward(cat([unsqueeze(h2), z1], dim=1))      (B, 4C, H/2, W/2)
    x = unsqueeze(h1)                                             (B, C, H, W)

Dequantisation. 8-bit data x holds integers 0..255 (a uint8 tensor). A density model needs
continuous data, so uniform noise u in [0, 1) (given, same shape) is added and the result
scaled into [0, 1):

    y = (x + u) / 256

Bits per dimension is how image models report likelihoods: the average number of bits
per 8-bit value. With D = C * H * W values per image and p_y the model's density of y,
it is -(1/D) log2 p_v(v) for v = x + u = 256 y, the same point measured on the data's
own scale [0, 256)^D.

Rules: keep each floating input's dtype and device (create new tensors with
dtype=x.dtype, device=x.device); do not modify in place any input, nor any tensor
that a level you are given returns.
"""

from __future__ import annotations

import math  # noqa: F401 - you may need it
from typing import Any

import torch  # noqa: F401 - you will need it
from torch import Tensor

Level = Any  # an object with .forward(z) -> (x, log_det) and .inverse(x) -> (z, log_det)


def squeeze(x: Tensor) -> tuple[Tensor, Tensor]:
    """(B, C, H, W) -> (B, 4C, H/2, W/2) in the channel order above.

    Returns:
        y: (B, 4C, H/2, W/2) with y[b, 4c + 2i + j, h, w] = x[b, c, 2h + i, 2w + j].
        log_det: (B,), log|det dy/dx| of the squeeze.
    """
    raise NotImplementedError


def unsqueeze(y: Tensor) -> tuple[Tensor, Tensor]:
    """(B, 4C, H, W) -> (B, C, 2H, 2W), the inverse of squeeze.

    Returns:
        x: (B, C, 2H, 2W) with squeeze(x)[0] == y.
        log_det: (B,), log|det dx/dy| of the unsqueeze.
    """
    raise NotImplementedError


def factor_out(h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Split h (B, C, H, W) along the channels and score the half that leaves.

    Returns:
        kept: (B, C/2, H, W), the first half of the channels (goes on to the next level).
        factored: (B, C/2, H, W), the second half (leaves the flow).
        log_prob: (B,), the standard normal log-density of each sample's factored half.
    """
    raise NotImplementedError


def multiscale_log_prob(x: Tensor, level_1: Level, level_2: Level) -> Tensor:
    """log p(x) of the two-level model above, for data x (B, C, H, W).

    Args:
        x: (B, C, H, W), H and W divisible by 4.
        level_1: the level acting on (B, 4C, H/2, W/2) tensors.
        level_2: the level acting on (B, 8C, H/4, W/4) tensors.

    Returns:
        (B,) the model's log-density of each sample (nats).
    """
    raise NotImplementedError


def dequantize(x: Tensor, noise: Tensor) -> Tensor:
    """y = (x + u) / 256 for 8-bit data x and uniform noise u.

    Args:
        x: (B, C, H, W) uint8, values 0..255.
        noise: (B, C, H, W) floating, values in [0, 1).

    Returns:
        y: (B, C, H, W) with noise's dtype and device, values in [0, 1).
    """
    raise NotImplementedError


def bits_per_dim(log_prob: Tensor, x: Tensor) -> Tensor:
    """Bits per dimension of the 8-bit data, from the model's log-density of dequantised y.

    Args:
        log_prob: (B,) log p_y(y) in nats, y = dequantize(x, u) in [0, 1)^D.
        x: (B, C, H, W) the batch log_prob belongs to (only its shape is used).

    Returns:
        (B,) -(1/D) log2 p_v(v) for v = 256 y, D = C * H * W values per sample.
    """
    raise NotImplementedError
