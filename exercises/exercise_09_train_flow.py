"""Exercise 09 — train a flow: a RealNVP on two moons, and the ELBO of a flow posterior.

Run `grade exercise-09` to check your work; `grade hint exercise-09 --function NAME` gives
hints one step at a time.

Every tensor is batch first. Direction: the generative map goes z -> x; a log-density is
evaluated x -> z. The base distribution is N(0, I):

    log N(z; 0, I) = -1/2 |z|^2 - d/2 log(2 pi)

A RealNVP of K blocks. Block k maps h -> h' (generative direction), first an affine
coupling with the 0/1 mask m = masks[k] (1: the dimension is kept, 0: it is transformed),
then an ActNorm:

    (s, t) = conditioners[k](m * h)                      s, t: (B, d)
    y      = m * h + (1 - m) * (h * exp(s) + t)
    h'     = y * exp(log_scales[k]) + shifts[k]          log_scales, shifts: (K, d)

Block 0 is applied to z first, block K-1 produces x. A conditioner returns values for all
d dimensions; only those where m = 0 are used by the layer.

A VAE with a flow posterior: the encoder gives q0(z|x) = N(mu(x), diag sigma(x)^2), a
sample is z_0 = mu + sigma * eps with eps ~ N(0, I), and K flow layers push it to
z_K = f_K(...f_1(z_0)). The prior is p(z) = N(0, I), the decoder gives log p(x|z).

Rules: keep each input's dtype and device (create new tensors with dtype=x.dtype,
device=x.device); do not modify in place any input, nor any tensor returned by a
conditioner or module you are given.
"""

from __future__ import annotations

import math  # noqa: F401 - you may need it
from collections.abc import Callable, Sequence

import torch  # noqa: F401 - you will need it
from torch import Tensor, nn

Conditioner = Callable[[Tensor], tuple[Tensor, Tensor]]


def coupling_masks(dim: int, n_layers: int) -> Tensor:
    """The masks of a RealNVP whose coupling layers alternate.

    Args:
        dim: the number of dimensions d.
        n_layers: the number of coupling layers K.

    Returns:
        (K, d) tensor of 0.0 / 1.0: mask[k, i] = 1 where layer k keeps dimension i.
        Layer 0 keeps the dimensions with an even index (0, 2, 4, ...); each next layer
        keeps exactly the dimensions the layer before it transforms.
    """
    raise NotImplementedError


def realnvp_log_prob(
    x: Tensor,
    masks: Tensor,
    conditioners: Sequence[Conditioner],
    log_scales: Tensor,
    shifts: Tensor,
) -> Tensor:
    """log p(x) under the RealNVP described at the top of this file.

    Args:
        x: (B, d) data points.
        masks: (K, d) 0/1 masks, one row per block.
        conditioners: K callables; conditioners[k](v) with v of shape (B, d) returns
            (s, t), both (B, d).
        log_scales, shifts: (K, d), the ActNorm parameters of each block.

    Returns:
        (B,) log-density of each x. It must be differentiable with respect to x and
        every parameter (training maximises it).
    """
    raise NotImplementedError


def train_flow(train_x: Tensor, eval_x: Tensor, seed: int, steps: int) -> Tensor:
    """Fit a density model to train_x by maximum likelihood and return log p(eval_x).

    Build a RealNVP (alternating coupling masks, with ActNorm or a permutation between
    the couplings; your own conditioner networks) and train it for `steps` optimiser
    steps. Draw every random number from torch after torch.manual_seed(seed): the same
    call must return the same values. Train on train_x only.

    The grader calls it with two-moons data, train_x of shape (2048, 2), and steps = 300,
    on one CPU thread, and stops it after 30 s (the reference needs about 2 s). The mean
    negative log-likelihood of held-out two-moons points hidden in eval_x must be at most
    1.50 nats (a single Gaussian gets ~1.9), and exp(log p) must integrate to 1 over a grid
    that eval_x also contains.

    Args:
        train_x: (N, d) training points.
        eval_x: (M, d) points at which to evaluate the trained density.
        seed: the seed of all randomness.
        steps: the number of optimiser steps.

    Returns:
        (M,) log p(eval_x) of the trained, normalised density (no gradient needed).
    """
    raise NotImplementedError


def flow_vae_elbo(
    x: Tensor,
    eps: Tensor,
    encoder: Callable[[Tensor], tuple[Tensor, Tensor]],
    flow: Sequence[nn.Module],
    decoder: nn.Module,
) -> Tensor:
    """Monte Carlo estimate of the ELBO of each x for a VAE with a flow posterior.

    Args:
        x: (B, d_x) data points.
        eps: (S, B, d_z) standard normal noise, S samples per data point.
        encoder: encoder(x) returns (mu, log_sigma), both (B, d_z): q0(z|x) =
            N(mu, diag exp(log_sigma)^2).
        flow: K layers; layer.forward(z) with z of shape (N, d_z) returns
            (f(z), log|det df/dz|) of shapes (N, d_z) and (N,).
        decoder: decoder.log_likelihood(x, z) with z of shape (S, B, d_z) returns
            log p(x|z), shape (S, B).

    Returns:
        (B,) the ELBO estimate of each data point: the average over the S samples of its
        single-sample estimate. Differentiable with respect to the encoder's and the
        flow's parameters.
    """
    raise NotImplementedError
