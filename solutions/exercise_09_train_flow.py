"""Exercise 09 — train a flow (reference solution).

A RealNVP block k maps h -> h' in the generative direction (z -> x), first an affine
coupling with mask m_k (1 = kept, 0 = transformed), then an ActNorm:

    (s, t) = conditioner_k(m * h)                         s, t: (B, d), used where m = 0
    y      = m * h + (1 - m) * (h * exp(s) + t)           log|det| = sum_i (1 - m_i) s_i
    h'     = y * exp(log_scales[k]) + shifts[k]            log|det| = sum_i log_scales[k, i]

Masks alternate (layer k keeps the dimensions i with i + k even), so what one layer keeps
the next transforms. Density evaluation runs x -> z, undoing blocks K-1, ..., 0 and in each
block the ActNorm before the coupling; every inverse step has log-det = minus the forward
one, so log p(x) = log N(z; 0, I) - sum of all forward log-dets. Because m * y = m * h,
the conditioner sees the same input when undoing a coupling as when applying it.

Flow posterior in a VAE: z_0 = mu + sigma * eps ~ q0(.|x), z_K = f_K o ... o f_1(z_0),
log q_K(z_K|x) = log q0(z_0|x) - sum_k log|det df_k/dz_{k-1}|, hence

    ELBO(x) = E[log p(x|z_K) + log N(z_K; 0, I) - log q0(z_0|x) + sum_k log|det J_k|].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

LOG_TWO_PI = math.log(2.0 * math.pi)
Conditioner = Callable[[Tensor], tuple[Tensor, Tensor]]
LAYERS = 8
HIDDEN = 32
BATCH = 512
LEARNING_RATE = 1e-2


def _standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) per sample: (..., d) -> (...)."""
    return -0.5 * (z * z).sum(dim=-1) - 0.5 * z.shape[-1] * LOG_TWO_PI


def coupling_masks(dim: int, n_layers: int) -> Tensor:
    """(n_layers, dim) of 0/1: mask[k, i] = 1 where layer k keeps dimension i (i + k even)."""
    index = torch.arange(dim)
    return torch.stack([((index + k) % 2 == 0).float() for k in range(n_layers)])


def realnvp_log_prob(
    x: Tensor,
    masks: Tensor,
    conditioners: Sequence[Conditioner],
    log_scales: Tensor,
    shifts: Tensor,
) -> Tensor:
    """log p(x) under the RealNVP of the module docstring: x (B, d) -> (B,)."""
    masks = masks.to(x.dtype)
    h = x
    total = x.new_zeros(x.shape[0])
    for k in reversed(range(len(conditioners))):
        h = (h - shifts[k]) * torch.exp(-log_scales[k])
        total = total + log_scales[k].sum()
        m = masks[k]
        log_scale, shift = conditioners[k](m * h)
        h = m * h + (1 - m) * (h - shift) * torch.exp(-log_scale)
        total = total + ((1 - m) * log_scale).sum(dim=-1)
    return _standard_normal_log_prob(h) - total


class _Conditioner(nn.Module):
    """(B, d) masked input -> (log-scale in (-1, 1), shift), both (B, d); starts at identity."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, 2 * dim),
        )  # fmt: skip
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.dim = dim

    def forward(self, v: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(v)
        return torch.tanh(out[..., : self.dim]), out[..., self.dim :]


def train_flow(train_x: Tensor, eval_x: Tensor, seed: int, steps: int) -> Tensor:
    """Fit a RealNVP to train_x by maximum likelihood; return log p(eval_x), shape (M,)."""
    torch.manual_seed(seed)
    dim = train_x.shape[-1]
    masks = coupling_masks(dim, LAYERS).to(train_x.dtype)
    conditioners = nn.ModuleList(_Conditioner(dim, HIDDEN) for _ in range(LAYERS))
    log_scales = nn.Parameter(torch.zeros(LAYERS, dim, dtype=train_x.dtype))
    shifts = nn.Parameter(torch.zeros(LAYERS, dim, dtype=train_x.dtype))
    with torch.no_grad():  # data-dependent init: the last ActNorm standardises the data
        shifts[-1] = train_x.mean(dim=0)
        log_scales[-1] = train_x.std(dim=0).log()
    conditioners.to(train_x.dtype)
    parameters = [*conditioners.parameters(), log_scales, shifts]
    optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    for _ in range(steps):
        batch = train_x[torch.randint(0, train_x.shape[0], (min(BATCH, train_x.shape[0]),))]
        loss = -realnvp_log_prob(batch, masks, conditioners, log_scales, shifts).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        return realnvp_log_prob(eval_x, masks, conditioners, log_scales, shifts)


def flow_vae_elbo(
    x: Tensor,
    eps: Tensor,
    encoder: Callable[[Tensor], tuple[Tensor, Tensor]],
    flow: Sequence[nn.Module],
    decoder: nn.Module,
) -> Tensor:
    """Monte Carlo ELBO per data point with a flow posterior: x (B, d_x), eps (S, B, d_z)
    -> (B,), the mean over the S samples (see the module docstring)."""
    mu, log_sigma = encoder(x)
    z0 = mu + torch.exp(log_sigma) * eps
    log_q0 = (-0.5 * eps * eps - log_sigma - 0.5 * LOG_TWO_PI).sum(dim=-1)
    samples, batch, d_z = eps.shape
    z = z0.reshape(samples * batch, d_z)
    log_dets = [z.new_zeros(samples * batch)]  # one (S * B,) term per layer
    for layer in flow:
        z, layer_log_det = layer.forward(z)
        log_dets.append(layer_log_det)
    log_det = torch.stack(log_dets).sum(dim=0).reshape(samples, batch)
    z_k = z.reshape(samples, batch, d_z)
    log_joint = decoder.log_likelihood(x, z_k) + _standard_normal_log_prob(z_k)
    return (log_joint - log_q0 + log_det).mean(dim=0)
