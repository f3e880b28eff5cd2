"""Trusted, picklable flow layers that the hidden tests of exercise-05 hand to student code.

Layer contract (every class here keeps it):

    layer.forward(z) -> (x, log_det)    z, x: (B, d); log_det = log|det dx/dz|, shape (B,)
    layer.inverse(x) -> (z, log_det)    the exact inverse; log_det = log|det dz/dx|, shape (B,),
                                        minus the forward log-det at the matching point

forward is the generative direction z -> x. Parameters are stored in float64 and cast to
the input's dtype and device, so a layer works for float32 and float64 inputs anywhere.
The classes are defined at module level, so a worker can unpickle them by reference.

This file ships in the student kit, so no layer here is the answer to a graded exercise
(affine coupling, the elementwise affine flow, an LU-factored linear map, a planar flow,
squeeze / factor-out / dequantisation, a masked affine autoregressive layer). The maps are:

* `SinhArcsinh`: the elementwise sinh-arcsinh map x = sinh(e^a asinh(z) + b), whose
  log-det differs from sample to sample;
* `SinhArcsinhCoupling`: a coupling layer that transforms the features `moved` with that
  map, its (a, b) computed by a conditioner from the features `kept`;
* `HouseholderMixing`: an orthogonal map (a product of Householder reflections) that mixes
  every feature with every other, log-det 0;
* `HouseholderScale`: x = Q (e^s * z) + t with Q as above, the affine layer of `affine_flow`
  (its density is Gaussian in closed form);
* `Reverse`, `Permutation`: volume-preserving reorderings.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from grader.testing.flows import MLPConditioner


def _constant_log_det(value: Tensor, like: Tensor) -> Tensor:
    """A log-det that is the same number for each of the B samples of `like` (B, d) -> (B,),
    as a fresh tensor (never a view of a parameter)."""
    return torch.full((like.shape[0],), float(value), dtype=like.dtype, device=like.device)


def _sinh_arcsinh(v: Tensor, log_tail: Tensor, skew: Tensor) -> Tensor:
    """sinh(e^log_tail * asinh(v) + skew), elementwise."""
    return torch.sinh(torch.exp(log_tail) * torch.asinh(v) + skew)


def _sinh_arcsinh_log_slope(log_tail: Tensor, before: Tensor, after: Tensor) -> Tensor:
    """log|d after / d before| of `after = _sinh_arcsinh(before, ...)`, elementwise.

    d/dv sinh(e^a asinh v + b) = e^a cosh(e^a asinh v + b) / sqrt(1 + v^2), and
    cosh(asinh(after)) = sqrt(1 + after^2), so the log-slope is
    a + 1/2 log(1 + after^2) - 1/2 log(1 + before^2): finite for every finite input."""
    return log_tail + 0.5 * (torch.log1p(after * after) - torch.log1p(before * before))


class FlowLayer(nn.Module):
    """Base class: forward(z) -> (x, log|det dx/dz|), inverse(x) -> (z, log|det dz/dx|)."""

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class SinhArcsinh(FlowLayer):
    """x_i = sinh(exp(a_i) asinh(z_i) + b_i) per feature (a: tail weight, b: skew).

    log|det dx/dz| = sum_i [a_i + 1/2 log(1 + x_i^2) - 1/2 log(1 + z_i^2)]   (B,)
    Inverse: z_i = sinh((asinh(x_i) - b_i) exp(-a_i)), with minus that log-det.
    """

    def __init__(self, log_tail: list[float] | Tensor, skew: list[float] | Tensor) -> None:
        super().__init__()
        self.register_buffer("log_tail", torch.as_tensor(log_tail, dtype=torch.float64).clone())
        self.register_buffer("skew", torch.as_tensor(skew, dtype=torch.float64).clone())

    @classmethod
    def random(cls, d: int, seed: int) -> SinhArcsinh:
        generator = torch.Generator().manual_seed(seed)
        log_tail = torch.randn(d, generator=generator, dtype=torch.float64) * 0.3
        return cls(log_tail, torch.randn(d, generator=generator, dtype=torch.float64) * 0.5)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        log_tail, skew = self.log_tail.to(z), self.skew.to(z)
        x = _sinh_arcsinh(z, log_tail, skew)
        return x, _sinh_arcsinh_log_slope(log_tail, z, x).sum(dim=-1)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        log_tail, skew = self.log_tail.to(x), self.skew.to(x)
        z = _sinh_arcsinh(x, -log_tail, -skew * torch.exp(-log_tail))
        return z, -_sinh_arcsinh_log_slope(log_tail, z, x).sum(dim=-1)


class SinhArcsinhCoupling(FlowLayer):
    """A coupling layer with a sinh-arcsinh transform instead of an affine one.

    The features `kept` pass unchanged; the features `moved` are mapped elementwise by
    x_m = sinh(exp(a) asinh(z_m) + b), where (a, b) = conditioner(z[:, kept]), each
    (B, len(moved)). Its log-det sum_m [a_m + 1/2 log(1 + x_m^2) - 1/2 log(1 + z_m^2)]
    depends on the sample. `kept` and `moved` partition range(d) (any order).
    """

    def __init__(self, conditioner: nn.Module, kept: list[int], moved: list[int]) -> None:
        super().__init__()
        self.conditioner = conditioner
        order = torch.tensor([*kept, *moved], dtype=torch.long)
        self.register_buffer("kept", order[: len(kept)].clone())
        self.register_buffer("moved", order[len(kept) :].clone())
        self.register_buffer("restore", torch.argsort(order))

    @classmethod
    def random(cls, d: int, seed: int, scale: float = 0.5) -> SinhArcsinhCoupling:
        """Keeps a random half of the features (not always the first one)."""
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(d, generator=generator).tolist()
        kept, moved = sorted(order[: d // 2]), sorted(order[d // 2 :])
        conditioner = MLPConditioner(len(kept), len(moved), seed=seed, scale=scale)
        return cls(conditioner, kept, moved)

    def _transform(self, v: Tensor, sign: float) -> tuple[Tensor, Tensor]:
        fixed, changing = v[..., self.kept], v[..., self.moved]
        log_tail, skew = self.conditioner(fixed)
        if sign > 0:
            changed = _sinh_arcsinh(changing, log_tail, skew)
            log_det = _sinh_arcsinh_log_slope(log_tail, changing, changed).sum(dim=-1)
        else:
            changed = _sinh_arcsinh(changing, -log_tail, -skew * torch.exp(-log_tail))
            log_det = -_sinh_arcsinh_log_slope(log_tail, changed, changing).sum(dim=-1)
        return torch.cat([fixed, changed], dim=-1)[..., self.restore], log_det

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._transform(z, 1.0)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._transform(x, -1.0)


def _unit_rows(d: int, count: int, generator: torch.Generator) -> Tensor:
    vectors = torch.randn(count, d, generator=generator, dtype=torch.float64)
    return vectors / vectors.norm(dim=-1, keepdim=True)


def _reflect(v: Tensor, normals: Tensor, order: range) -> Tensor:
    """Apply the reflections v -> v - 2 (v . n) n for the unit rows n = normals[k], k in order."""
    for k in order:
        normal = normals[k]
        v = v - 2.0 * (v @ normal).unsqueeze(-1) * normal
    return v


class HouseholderMixing(FlowLayer):
    """x = Q z per sample, Q = H_1 ... H_K a product of Householder reflections
    H_k = I - 2 n_k n_k^T (unit n_k): orthogonal, so log|det| = 0 and the inverse is Q^T."""

    def __init__(self, d: int, seed: int, reflections: int = 3) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("normals", _unit_rows(d, reflections, generator))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        normals = self.normals.to(z)
        x = _reflect(z, normals, range(normals.shape[0] - 1, -1, -1))
        return x, z.new_zeros(z.shape[:1])

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        normals = self.normals.to(x)
        return _reflect(x, normals, range(normals.shape[0])), x.new_zeros(x.shape[:1])


class HouseholderScale(FlowLayer):
    """x = Q (exp(s) * z) + t per sample with Q orthogonal as in `HouseholderMixing`:
    an affine map with a dense matrix Q diag(exp(s)), log|det dx/dz| = sum(s) for every
    sample. Inverse: z = exp(-s) * (Q^T (x - t)), log-det -sum(s)."""

    def __init__(self, d: int, seed: int, reflections: int = 3) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("normals", _unit_rows(d, reflections, generator))
        stretch, offset = torch.randn(2, d, generator=generator, dtype=torch.float64)
        self.register_buffer("log_stretch", stretch * 0.3)
        self.register_buffer("offset", offset.clone())

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        normals, offset = self.normals.to(z), self.offset.to(z)
        stretched = z * torch.exp(self.log_stretch.to(z))
        x = _reflect(stretched, normals, range(normals.shape[0] - 1, -1, -1)) + offset
        return x, _constant_log_det(self.log_stretch.sum(), z)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        normals, offset = self.normals.to(x), self.offset.to(x)
        rotated = _reflect(x - offset, normals, range(normals.shape[0]))
        z = rotated * torch.exp(-self.log_stretch.to(x))
        return z, _constant_log_det(-self.log_stretch.sum(), x)


class Reverse(FlowLayer):
    """Reverse the order of the features; volume-preserving, log-det 0."""

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z.flip(-1), z.new_zeros(z.shape[:1])

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.flip(-1), x.new_zeros(x.shape[:1])


class Permutation(FlowLayer):
    """x[:, i] = z[:, perm[i]] for a fixed random permutation; log-det 0."""

    def __init__(self, d: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        perm = torch.randperm(d, generator=generator)
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z[..., self.perm], z.new_zeros(z.shape[:1])

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[..., self.inverse_perm], x.new_zeros(x.shape[:1])


def random_flow(d: int, seed: int, depth: int = 4) -> list[FlowLayer]:
    """A mixed flow of `depth` layers cycling through sinh-arcsinh maps, couplings, dense
    Householder layers and reorderings: log-dets that differ per sample, constant non-zero
    ones and zeros. Couplings are only used for d >= 2 (they need a non-empty kept part)."""
    generator = torch.Generator().manual_seed(seed)
    kinds = ["sinh-arcsinh", "coupling", "reverse", "householder-scale", "coupling", "permutation"]
    if d < 2:
        kinds = ["sinh-arcsinh", "householder-scale", "sinh-arcsinh"]
    layers: list[FlowLayer] = []
    for index in range(depth):
        kind = kinds[index % len(kinds)]
        layer_seed = int(torch.randint(0, 2**31, (1,), generator=generator))
        layers.append(_make_layer(kind, d, layer_seed))
    return layers


def affine_flow(d: int, seed: int, depth: int = 4) -> list[FlowLayer]:
    """A flow of affine layers only: x = A z + b overall, so p_X is exactly N(b, A A^T)."""
    generator = torch.Generator().manual_seed(seed)
    kinds = ["householder-scale", "permutation", "householder", "reverse", "householder-scale"]
    layers: list[FlowLayer] = []
    for index in range(depth):
        layer_seed = int(torch.randint(0, 2**31, (1,), generator=generator))
        layers.append(_make_layer(kinds[index % len(kinds)], d, layer_seed))
    return layers


def _make_layer(kind: str, d: int, seed: int) -> FlowLayer:
    if kind == "sinh-arcsinh":
        return SinhArcsinh.random(d, seed)
    if kind == "coupling":
        return SinhArcsinhCoupling.random(d, seed)
    if kind == "reverse":
        return Reverse()
    if kind == "householder":
        return HouseholderMixing(d, seed)
    if kind == "householder-scale":
        return HouseholderScale(d, seed)
    return Permutation(d, seed)
