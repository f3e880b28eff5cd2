"""Trusted, picklable flow layers that the hidden tests of exercise-05 hand to student code.

Layer contract (every class here keeps it):

    layer.forward(z) -> (x, log_det)    z, x: (B, d); log_det = log|det dx/dz|, shape (B,)
    layer.inverse(x) -> (z, log_det)    the exact inverse; log_det = log|det dz/dx|, shape (B,),
                                        minus the forward log-det at the matching point

forward is the generative direction z -> x. Parameters are stored in float64 and cast to
the input's dtype, so a layer works for float32 and float64 inputs on any device. The
classes are defined at module level, so a worker can unpickle them by reference.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from grader.testing.flows import MLPConditioner


def _per_sample(value: Tensor, like: Tensor) -> Tensor:
    """A scalar log-det repeated for each of the B samples of `like` (B, d) -> (B,)."""
    return value.to(like.dtype).expand(like.shape[0]).clone()


class FlowLayer(nn.Module):
    """Base class: forward(z) -> (x, log|det dx/dz|), inverse(x) -> (z, log|det dz/dx|)."""

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class ElementwiseAffine(FlowLayer):
    """x = z * exp(log_scale) + shift per feature; log|det dx/dz| = sum(log_scale), same for all."""

    def __init__(self, log_scale: list[float] | Tensor, shift: list[float] | Tensor) -> None:
        super().__init__()
        self.register_buffer("log_scale", torch.as_tensor(log_scale, dtype=torch.float64))
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float64))

    @classmethod
    def random(cls, d: int, seed: int, scale: float = 0.5) -> ElementwiseAffine:
        generator = torch.Generator().manual_seed(seed)
        log_scale = torch.randn(d, generator=generator, dtype=torch.float64) * scale
        return cls(log_scale, torch.randn(d, generator=generator, dtype=torch.float64))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        log_scale, shift = self.log_scale.to(z.dtype), self.shift.to(z.dtype)
        return z * torch.exp(log_scale) + shift, _per_sample(log_scale.sum(), z)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        log_scale, shift = self.log_scale.to(x.dtype), self.shift.to(x.dtype)
        return (x - shift) * torch.exp(-log_scale), _per_sample(-log_scale.sum(), x)


class AffineCoupling(FlowLayer):
    """RealNVP coupling: keep z[:, :d//2], x_b = z_b * exp(log_s) + t with (log_s, t) = cond(z_a).

    Its log-det sum(log_s) depends on the sample, so it differs across the batch.
    """

    def __init__(self, conditioner: nn.Module) -> None:
        super().__init__()
        self.conditioner = conditioner

    @classmethod
    def random(cls, d: int, seed: int, scale: float = 0.5) -> AffineCoupling:
        return cls(MLPConditioner(d // 2, d - d // 2, seed=seed, scale=scale))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        half = z.shape[-1] // 2
        z_a, z_b = z[..., :half], z[..., half:]
        log_scale, shift = self.conditioner(z_a)
        x_b = z_b * torch.exp(log_scale) + shift
        return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        half = x.shape[-1] // 2
        x_a, x_b = x[..., :half], x[..., half:]
        log_scale, shift = self.conditioner(x_a)
        z_b = (x_b - shift) * torch.exp(-log_scale)
        return torch.cat([x_a, z_b], dim=-1), -log_scale.sum(dim=-1)


class Reverse(FlowLayer):
    """Reverse the order of the features; volume-preserving, log-det 0."""

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z.flip(-1), z.new_zeros(z.shape[0])

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.flip(-1), x.new_zeros(x.shape[0])


class Permutation(FlowLayer):
    """x[:, i] = z[:, perm[i]] for a fixed random permutation; log-det 0."""

    def __init__(self, d: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        perm = torch.randperm(d, generator=generator)
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z[..., self.perm], z.new_zeros(z.shape[0])

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[..., self.inverse_perm], x.new_zeros(x.shape[0])


class LULinear(FlowLayer):
    """x = W z per sample with W = L U (unit lower L, upper U); log|det dx/dz| = sum log|U_ii|."""

    def __init__(self, d: int, seed: int, scale: float = 0.5) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        lower = torch.randn(d, d, generator=generator, dtype=torch.float64) * scale
        upper = torch.randn(d, d, generator=generator, dtype=torch.float64) * scale
        log_abs = torch.randn(d, generator=generator, dtype=torch.float64) * 0.3
        signs = torch.where(torch.rand(d, generator=generator) < 0.5, -1.0, 1.0).double()
        self.register_buffer("lower", torch.tril(lower, -1) + torch.eye(d, dtype=torch.float64))
        self.register_buffer("upper", torch.triu(upper, 1) + torch.diag(signs * log_abs.exp()))
        self.register_buffer("log_abs_diag", log_abs)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        weight = (self.lower @ self.upper).to(z.dtype)
        return z @ weight.T, _per_sample(self.log_abs_diag.sum(), z)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        lower, upper = self.lower.to(x.dtype), self.upper.to(x.dtype)
        # rows are samples: solve z U^T L^T = x, first for y = z U^T, then for z
        y = torch.linalg.solve_triangular(lower.T, x, upper=True, left=False, unitriangular=True)
        z = torch.linalg.solve_triangular(upper.T, y, upper=False, left=False)
        return z, _per_sample(-self.log_abs_diag.sum(), x)


def random_flow(d: int, seed: int, depth: int = 4) -> list[FlowLayer]:
    """A mixed flow of `depth` layers cycling through affine, coupling, linear and permutations.

    Couplings are only used for d >= 2 (they need a non-empty kept half).
    """
    generator = torch.Generator().manual_seed(seed)
    kinds = ["affine", "coupling", "reverse", "linear", "coupling", "permutation"]
    if d < 2:
        kinds = ["affine", "linear", "affine"]
    layers: list[FlowLayer] = []
    for index in range(depth):
        kind = kinds[index % len(kinds)]
        layer_seed = int(torch.randint(0, 2**31, (1,), generator=generator))
        layers.append(_make_layer(kind, d, layer_seed))
    return layers


def affine_flow(d: int, seed: int, depth: int = 4) -> list[FlowLayer]:
    """A flow of affine layers only: x = A z + b overall, so p_X is exactly N(b, A A^T)."""
    generator = torch.Generator().manual_seed(seed)
    kinds = ["linear", "affine", "permutation", "linear", "reverse", "affine"]
    layers: list[FlowLayer] = []
    for index in range(depth):
        layer_seed = int(torch.randint(0, 2**31, (1,), generator=generator))
        layers.append(_make_layer(kinds[index % len(kinds)], d, layer_seed))
    return layers


def _make_layer(kind: str, d: int, seed: int) -> FlowLayer:
    if kind == "affine":
        return ElementwiseAffine.random(d, seed)
    if kind == "coupling":
        return AffineCoupling.random(d, seed)
    if kind == "reverse":
        return Reverse()
    if kind == "linear":
        return LULinear(d, seed)
    return Permutation(d, seed)
