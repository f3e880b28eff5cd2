"""Hidden tests for exercise-06 (planar flows). 10 points.

Inputs are drawn per test from the run's seed; expected values come from `solutions`,
cross-checked by independent oracles: the unit's worked example 3 by hand, a
finite-difference Jacobian + slogdet of the student's own maps (one layer, and a whole
flow for the density at its samples), and the exact invertibility boundary w^T u = -1.
A cost test at d = 3000 rejects a dense Jacobian: at once when the student's code builds
an O(d^2) tensor or decomposes a matrix made from the inputs (`flows_06.WatchedInput`),
otherwise by a time limit that an O(d) answer meets a thousand times over.

Issue 11's classes of slips: extreme magnitudes where the maths is finite (a saturated
tanh, determinants 1 + u^T psi down to 1e-8 at the boundary w^T u = -1, base samples far
in the tails), gradients of every function against the reference's (float64), and a
structure test under the virtual-device check and the worker's watch for in-place writes.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from grader.testing import (
    describe,
    expect_close,
    expect_finite,
    expect_map_outputs,
    expect_true,
    expect_tuple,
    expect_unchanged,
)
from grader.testing.checks import expect_clean_call, lazy, part_of
from grader.testing.cost import call_within
from grader.testing.flows_06 import DenseJacobian, WatchedInput
from grader.testing.gradients import (
    expect_same_gradients,
    gradient_spec,
)
from grader.testing.oracles import finite_difference_log_abs_det, perturbation_batch
from grader.testing.structure import expect_clean_outputs

CASES = [(1, 1, torch.float64), (5, 2, torch.float32), (4, 5, torch.float64), (3, 8, torch.float32)]
Device = torch.device | str
Layer = tuple[Tensor, Tensor, Tensor]  # (u, w, b)
LOG_TWO_PI = math.log(2 * math.pi)
COST_D = 3000
COST_TIMEOUT_S = 0.5  # a dense slogdet at d = 3000 takes seconds on one thread
WATCH_FACTOR = 8  # a result may have up to 8 times the entries of z before it counts as dense

WRONG_SIGN = "wrong sign: the forward map adds u * tanh(w^T z + b) to z"
NO_BIAS = "the bias b goes inside the tanh: x = z + u * tanh(w^T z + b)"
BIAS_OUTSIDE = "b is added before the tanh, not after it: tanh(w^T z + b), not tanh(w^T z) + b"
SWAPPED = "u scales the output and w projects the input: x = z + u * tanh(w^T z + b)"
ELEMENTWISE = (
    "w^T z is a dot product, one number per sample (z @ w), not the elementwise product w * z"
)
NO_TANH = "the nonlinearity is tanh: x = z + u * tanh(w^T z + b)"
TANH_NOT_DERIVATIVE = (
    "psi(z) uses the derivative of tanh, h'(a) = 1 - tanh(a)^2 = sech^2(a), not tanh(a) itself"
)
SECH_NOT_SQUARED = "the derivative of tanh is sech^2(a) = 1 - tanh(a)^2: you used sech(a)"
NO_DERIVATIVE = (
    "the chain rule brings in the derivative of tanh: psi(z) = h'(w^T z + b) w with "
    "h'(a) = 1 - tanh(a)^2; you used psi = w"
)
MISSING_ONE = (
    "the matrix determinant lemma gives det(I + u psi^T) = 1 + psi^T u: you dropped the 1 "
    "(the identity's contribution)"
)
LOG_DET_SIGN = "wrong sign of the log-det: forward returns +log|det dx/dz| = +log|1 + u^T psi|"
NOT_LOG = "return the log of the determinant: log|1 + u^T psi|, not 1 + u^T psi itself"
LINEARISED = "log(1 + s) is not s: take the log of the determinant 1 + u^T psi"
BATCH_SUM = "a log-det is one number per sample, shape (B,): do not sum over the batch"
DENSE_JACOBIAN = (
    "formed the dense d x d Jacobian (O(d^2) memory; slogdet of it is O(d^3)): by the "
    "matrix determinant lemma det(I + u psi^T) = 1 + psi^T u, one dot product per sample"
)
SATURATED = (
    "for large |w^T z + b| the tanh saturates: compute it with torch.tanh and its derivative "
    "as 1 - tanh^2 (or 1 / cosh^2); formulas built from exp(a) and exp(-a) overflow to inf/inf"
)
STRICT = (
    "the boundary w^T u = -1 is still invertible: along w the map is a + (w^T u) tanh(a + b), "
    "strictly increasing although its slope touches 0 at one point; use >= -1, not > -1"
)
NONNEGATIVE = (
    "a negative w^T u is allowed down to -1: the slope 1 + (w^T u) h'(a) stays >= 0 because "
    "h'(a) = 1 - tanh^2 lies in (0, 1]; the condition is w^T u >= -1, not w^T u >= 0"
)
BOUNDED = (
    "large w^T u > 0 only makes the slope 1 + (w^T u) h'(a) larger; the condition is "
    "w^T u >= -1, a lower bound only"
)
NORM_NOT_SQUARED = (
    "divide by |w|^2, not |w|: u_hat = u + alpha w needs w^T u_hat = w^T u + alpha |w|^2, "
    "so alpha = (m - w^T u) / |w|^2"
)
MISSING_MINUS_ONE = "m(s) = softplus(s) - 1: without the -1, w^T u_hat > 0 instead of > -1"
U_HAT_SIGN = (
    "u_hat = u + (m(w^T u) - w^T u) w / |w|^2: you moved u the wrong way along w "
    "(check w^T u_hat = softplus(w^T u) - 1)"
)
FORGOT_WU = (
    "the correction is (m(w^T u) - w^T u) w / |w|^2: subtract w^T u, or w^T u_hat comes out "
    "as w^T u + m instead of m"
)
NAIVE_SOFTPLUS = (
    "softplus(s) = log(1 + e^s) overflows for large s when written out by hand (e^800 = inf), "
    "and so does log(1 + e^-s) for very negative s: use torch.nn.functional.softplus, or "
    "max(s, 0) + log1p(exp(-|s|))"
)
DENSITY_SIGN = (
    "the density of the pushed-forward samples divides by the volume change: "
    "log q_K(x) = log N(z0) - sum_k log|det J_k|; you added the log-dets"
)
DENSITY_NO_LOG_DET = "the change-of-variables term is missing: subtract sum_k log|det J_k|"
DENSITY_LAST_ONLY = "sum the log-dets of ALL layers, not just the last one"
DENSITY_AT_X = (
    "the base density is evaluated at the base sample z0, not at the output x: "
    "log q_K(x) = log N(z0; 0, I) - sum_k log|det J_k|"
)
DENSITY_ORDER = "layer 0 is applied first: x = f_{K-1}(...f_1(f_0(z0))); you reversed the order"
DENSITY_CONSTANT = "log N(z0; 0, I) includes the constant -d/2 log(2 pi)"
DENSITY_REPARAMETERISED = (
    "use each layer's u as given: the flow's u's already satisfy the invertibility "
    "condition, and u_hat(u) != u"
)
TINY_DETERMINANT = (
    "at the boundary w^T u = -1 the determinant 1 + u^T psi is tiny but positive (down to "
    "1e-8 here) and its log an ordinary number: take the log of its absolute value as it "
    "is; do not add an eps inside the log or clamp the determinant"
)
LOG_SPACE = (
    "work in log space: far in the tails exp(-|z0|^2 / 2) underflows to 0 while the "
    "log-density itself is an ordinary number; never form the density and take its log"
)
# |z0| in the far-tail check: the base density underflows, its log does not.
FAR = {torch.float32: 15.0, torch.float64: 40.0}
# w^T z + b at the boundary w^T u = -1, where 1 + u^T psi = tanh(w^T z + b)^2: small
# enough for a determinant of 1e-8 (float64) or 1e-3 (float32), large enough that
# 1 - tanh^2 in the input's dtype still gives it to float64's (float32's) tolerance.
NEAR_BOUNDARY = {torch.float64: (1e-4, -1e-3, 0.02), torch.float32: (0.1, -0.03)}


# ------------------------------------------------------------------ inputs


def _layer(
    rng: torch.Generator, d: int, dtype: torch.dtype, device: Device, spread: float = 1.5
) -> Layer:
    """(u, w, b) with w^T u drawn in [-0.9, 2]: an invertible layer, sometimes near the edge."""
    w = torch.randn(d, generator=rng, dtype=torch.float64) * spread / math.sqrt(d)
    raw = torch.randn(d, generator=rng, dtype=torch.float64) * spread / math.sqrt(d)
    target = -0.9 + 2.9 * float(torch.rand((), generator=rng, dtype=torch.float64))
    u = raw + (target - w @ raw) * w / (w @ w)
    b = torch.randn((), generator=rng, dtype=torch.float64) * 0.5
    return tuple(t.to(dtype).to(device) for t in (u, w, b))  # type: ignore[return-value]


def _samples(
    rng: torch.Generator, batch: int, d: int, dtype: torch.dtype, device: Device, scale=1.5
) -> Tensor:
    return (torch.randn(batch, d, generator=rng, dtype=torch.float64) * scale).to(dtype).to(device)


def _flow(rng: torch.Generator, d: int, depth: int, dtype: torch.dtype, device: Device):
    """(us, ws, bs) of `depth` invertible layers, stacked as (K, d), (K, d), (K,)."""
    layers = [_layer(rng, d, dtype, device) for _ in range(depth)]
    if not layers:
        empty = torch.zeros(0, d, dtype=dtype, device=device)
        return empty, empty.clone(), torch.zeros(0, dtype=dtype, device=device)
    us, ws, bs = zip(*layers, strict=True)
    return torch.stack(us), torch.stack(ws), torch.stack(bs)


def _where(batch: int, d: int, dtype: torch.dtype, extra: str = "") -> str:
    return f"(B={batch}, d={d}{extra}, {str(dtype).removeprefix('torch.')})"


# ------------------------------------------------------------------ misconceptions


def _log_abs(v: Tensor) -> Tensor:
    return torch.log(torch.abs(v))


def _forward_misconceptions(z: Tensor, layer: Layer) -> tuple[dict, dict]:
    """Wrong (x, log_det) values, one per typical mistake, in float64."""
    u, w, b = (t.double() for t in layer)
    z = z.double()
    pre = z @ w + b
    act = torch.tanh(pre)
    wu = w @ u
    slope = 1 - act * act
    correct = _log_abs(1 + slope * wu)
    x_misc = {
        WRONG_SIGN: z - act.unsqueeze(-1) * u,
        NO_BIAS: z + torch.tanh(z @ w).unsqueeze(-1) * u,
        BIAS_OUTSIDE: z + (torch.tanh(z @ w) + b).unsqueeze(-1) * u,
        SWAPPED: z + torch.tanh(z @ u + b).unsqueeze(-1) * w,
        ELEMENTWISE: z + u * torch.tanh(w * z + b),
        NO_TANH: z + pre.unsqueeze(-1) * u,
    }
    ld_misc = {
        TANH_NOT_DERIVATIVE: _log_abs(1 + act * wu),
        SECH_NOT_SQUARED: _log_abs(1 + wu / torch.cosh(pre)),
        NO_DERIVATIVE: _log_abs(1 + wu).expand(z.shape[0]),
        MISSING_ONE: _log_abs(slope * wu),
        LOG_DET_SIGN: -correct,
        NOT_LOG: 1 + slope * wu,
        LINEARISED: slope * wu,
        BATCH_SUM: correct.sum(),
        NO_BIAS: _log_abs(1 + (1 - torch.tanh(z @ w) ** 2) * wu),
    }
    return x_misc, ld_misc


def _call_forward(student: Any, z: Tensor, layer: Layer) -> tuple[Any, Any]:
    return expect_tuple(student.planar_forward(z, *layer), 2, "planar_forward", "(x, log_det)")


def _check_forward(student: Any, reference: Any, z: Tensor, layer: Layer, where: str) -> None:
    x_ref, ld_ref = reference.planar_forward(z, *layer)
    x, log_det = _call_forward(student, z, layer)
    misc = lazy(_forward_misconceptions, z, layer)
    expect_close(x, x_ref, what=f"x = planar_forward(z) {where}", misconceptions=part_of(misc, 0))
    expect_close(
        log_det,
        ld_ref,
        what=f"log|det dx/dz| from planar_forward {where}",
        misconceptions=part_of(misc, 1),
    )


def _u_hat_misconceptions(u: Tensor, w: Tensor) -> dict[str, Tensor]:
    u, w = u.double(), w.double()
    wu = w @ u
    m = F.softplus(wu) - 1
    squared = w @ w
    return {
        NORM_NOT_SQUARED: u + (m - wu) * w / torch.sqrt(squared),
        MISSING_MINUS_ONE: u + (m + 1 - wu) * w / squared,
        U_HAT_SIGN: u - (m - wu) * w / squared,
        FORGOT_WU: u + m * w / squared,
    }


def _flow_misconceptions(z0: Tensor, flow: tuple[Tensor, Tensor, Tensor], reference: Any):
    """Wrong (x, log_prob) values of planar_flow_sample, in float64."""
    us, ws, bs = (t.double() for t in flow)
    z0 = z0.double()

    def run(order: list[int], reparameterise: bool = False) -> tuple[Tensor, list[Tensor]]:
        x, log_dets = z0, []
        for k in order:
            u = reference.planar_u_hat(us[k], ws[k]) if reparameterise else us[k]
            x, log_det = reference.planar_forward(x, u, ws[k], bs[k])
            log_dets.append(log_det)
        return x, log_dets

    def base(v: Tensor) -> Tensor:
        return -0.5 * (v * v).sum(-1) - 0.5 * v.shape[-1] * LOG_TWO_PI

    def total(log_dets: list[Tensor]) -> Tensor:
        return torch.stack(log_dets).sum(0) if log_dets else z0.new_zeros(z0.shape[0])

    depth = us.shape[0]
    x, log_dets = run(list(range(depth)))
    x_reversed, log_dets_reversed = run(list(reversed(range(depth))))
    x_hat, log_dets_hat = run(list(range(depth)), reparameterise=True)
    correct = base(z0) - total(log_dets)
    x_misc = {DENSITY_ORDER: x_reversed, DENSITY_REPARAMETERISED: x_hat}
    lp_misc = {
        DENSITY_SIGN: base(z0) + total(log_dets),
        DENSITY_NO_LOG_DET: base(z0),
        DENSITY_AT_X: base(x) - total(log_dets),
        f"{DENSITY_AT_X} (and subtract the log-dets)": base(x) + total(log_dets),
        DENSITY_CONSTANT: correct + 0.5 * z0.shape[-1] * LOG_TWO_PI,
        DENSITY_ORDER: base(z0) - total(log_dets_reversed),
        DENSITY_REPARAMETERISED: base(z0) - total(log_dets_hat),
        BATCH_SUM: correct.sum(),
    }
    if log_dets:
        lp_misc[DENSITY_LAST_ONLY] = base(z0) - log_dets[-1]
    return x_misc, lp_misc


def _call_flow(student: Any, z0: Tensor, flow: tuple[Tensor, Tensor, Tensor]):
    return expect_tuple(
        student.planar_flow_sample(z0, *flow), 2, "planar_flow_sample", "(x, log_prob)"
    )


def _as_bool(value: Any, what: str) -> bool:
    """A Python bool or a one-element bool tensor, as a bool."""
    kind = describe(value) if isinstance(value, Tensor) else type(value).__name__
    if isinstance(value, Tensor) and value.numel() == 1 and value.dtype == torch.bool:
        value = bool(value.reshape(()))
    expect_true(
        isinstance(value, bool), what, f"expected a bool (or a 0-dim bool tensor), got {kind}"
    )
    return value


# ------------------------------------------------------------------ tests


@pytest.mark.points(1)
def test_worked_example(student):
    """The unit's worked example 3 gives the x and the log-det that the unit works out."""
    u = torch.tensor([1.0, 0.0], dtype=torch.float64)
    w = torch.tensor([1.0, 2.0], dtype=torch.float64)
    b = torch.tensor(0.0, dtype=torch.float64)
    z = torch.tensor([[0.5, -0.5], [0.0, 0.0]], dtype=torch.float64)
    # w^T z + b = -0.5: x = z + u tanh(-0.5), det = 1 + sech^2(-0.5) (w^T u = 1);
    # at z = 0: tanh(0) = 0, det = 1 + 1 = 2.
    sech2 = 1 / math.cosh(-0.5) ** 2
    x_hand = torch.tensor([[0.5 + math.tanh(-0.5), -0.5], [0.0, 0.0]], dtype=torch.float64)
    ld_hand = torch.tensor([math.log(1 + sech2), math.log(2.0)], dtype=torch.float64)
    layer = (u, w, b)
    x, log_det = _call_forward(student, z, layer)
    misc = lazy(_forward_misconceptions, z, layer)
    expect_close(
        x,
        x_hand,
        what="x for z = (0.5, -0.5) and z = (0, 0): expected (0.0379, -0.5) and (0, 0)",
        misconceptions=part_of(misc, 0),
    )
    expect_close(
        log_det,
        ld_hand,
        what="log|det dx/dz| at z = (0.5, -0.5) and (0, 0): expected log 1.7864 ~= 0.580 "
        "and log 2 ~= 0.693",
        misconceptions=part_of(misc, 1),
    )


@pytest.mark.points(1)
def test_forward_matches_reference(student, reference, device, rng):
    """planar_forward z -> (x, log_det) matches the reference for several shapes and dtypes."""
    for batch, d, dtype in CASES:
        z = _samples(rng, batch, d, dtype, device)
        layer = _layer(rng, d, dtype, device)
        _check_forward(student, reference, z, layer, _where(batch, d, dtype))


@pytest.mark.points(1)
def test_log_dets_match_jacobians(student, reference, rng):
    """Your log-det and your flow's log-density agree with the Jacobians of your own maps.

    The Jacobians are taken by finite differences and their log-determinants by slogdet:
    one layer (d = 2, 3, 6) and whole flows (d = 2 and 4)."""
    for d in (2, 3, 6):
        layer = _layer(rng, d, torch.float64, "cpu")
        z = _samples(rng, 1, d, torch.float64, "cpu")
        points = perturbation_batch(z[0])
        outputs, _ = _call_forward(student, points, layer)
        outputs = expect_map_outputs(outputs, points, function="planar_forward")
        _, log_det = _call_forward(student, z, layer)
        oracle = finite_difference_log_abs_det(outputs).reshape(1)
        expect_close(
            log_det,
            oracle,
            what=f"log_det of planar_forward vs log|det dx/dz| of your own map at a point (d={d})",
            rtol=1e-5,
            atol=1e-7,
            misconceptions=part_of(lazy(_forward_misconceptions, z, layer), 1),
            hint="the log-det you return does not describe the map you implemented",
        )
    for d, depth in ((2, 3), (4, 5)):
        z0 = _samples(rng, 1, d, torch.float64, "cpu", scale=1.0)
        flow = _flow(rng, d, depth, torch.float64, "cpu")
        points = perturbation_batch(z0[0])
        outputs, _ = _call_flow(student, points, flow)
        outputs = expect_map_outputs(outputs, points, function="planar_flow_sample")
        _, log_prob = _call_flow(student, z0, flow)
        base = -0.5 * (z0 * z0).sum(-1) - 0.5 * d * LOG_TWO_PI
        oracle = base - finite_difference_log_abs_det(outputs).reshape(1)
        expect_close(
            log_prob,
            oracle,
            what=f"log q_K(x) vs log N(z0) - log|det dx/dz0| of your own flow (d={d}, K={depth})",
            rtol=1e-5,
            atol=1e-7,
            misconceptions=part_of(lazy(_flow_misconceptions, z0, flow, reference), 1),
            hint="change of variables at a sample: log q_K(x) = log N(z0) - log|det dx/dz0|",
        )


@pytest.mark.points(1)
def test_forward_cost(student_cpu, reference, rng):
    """planar_forward at d = 3000 runs within 0.5 s on one CPU thread without d x d work."""
    batch = 2
    z = _samples(rng, batch, COST_D, torch.float64, "cpu")
    layer = _layer(rng, COST_D, torch.float64, "cpu")
    limit = WATCH_FACTOR * z.numel()
    watched = tuple(WatchedInput(t, limit) for t in (z, *layer))
    what = f"planar_forward for z of shape ({batch}, {COST_D}), float64"
    result = call_within(
        student_cpu,
        "planar_forward",
        watched,
        timeout=COST_TIMEOUT_S,
        what=what,
        quick="O(d) work takes well under a millisecond",
        requirement="O(d) work per sample, no d x d matrix, no determinant routine",
        refusal=DenseJacobian,
        hint=DENSE_JACOBIAN,
    )
    x, log_det = expect_tuple(result.value, 2, "planar_forward", "(x, log_det)")
    x_ref, ld_ref = reference.planar_forward(z, *layer)
    misc = lazy(_forward_misconceptions, z, layer)
    expect_close(x, x_ref, what=f"x from {what}", misconceptions=part_of(misc, 0))
    expect_close(log_det, ld_ref, what=f"log-det from {what}", misconceptions=part_of(misc, 1))


@pytest.mark.points(1)
def test_extreme_magnitudes(student, reference, device, rng):
    """Extreme magnitudes where the maths is finite give finite, right answers.

    Determinants down to 1e-8 at the invertibility boundary, a saturated tanh
    (|w^T z + b| up to 1e4), and base samples far in the tails (|z0| = 40 in float64, 15 in
    float32), each in float32 and float64."""
    _check_boundary(student, reference, device, rng)
    _check_saturated(student, reference, device, rng)
    _check_far_tails(student, reference, device, rng)


def _check_saturated(student, reference, device, rng) -> None:
    """Huge |w^T z + b|: the tanh saturates, x and the log-det stay finite and right."""
    for dtype, magnitudes in ((torch.float64, (40.0, 800.0, 1e4)), (torch.float32, (20.0, 200.0))):
        d = 4
        u, w, _ = _layer(rng, d, dtype, device)
        for magnitude in magnitudes:
            z = _samples(rng, 6, d, dtype, device)
            signs = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], dtype=dtype, device=device)
            # push every sample along w so that w^T z + b = +-magnitude (+ O(1))
            z = z + (signs * magnitude).unsqueeze(-1) * w / (w @ w)
            b = torch.tensor(0.3, dtype=dtype, device=device)
            layer = (u, w, b)
            x_ref, ld_ref = reference.planar_forward(z, *layer)
            x, log_det = _call_forward(student, z, layer)
            where = f"with |w^T z + b| ~ {magnitude:g} ({describe(z)})"
            for name, value in (("x", x), ("log_det", log_det)):
                if isinstance(value, Tensor):
                    expect_finite(value, what=f"{name} of planar_forward {where}", hint=SATURATED)
            misc = lazy(_forward_misconceptions, z, layer)
            expect_close(x, x_ref, what=f"x {where}", misconceptions=part_of(misc, 0))
            expect_close(log_det, ld_ref, what=f"log-det {where}", misconceptions=part_of(misc, 1))


def _boundary_layer(rng: torch.Generator, dtype: torch.dtype, device: Device) -> Layer:
    """(u, w, b) in d = 4 with w^T u = -1 exactly in any dtype and summation order (dyadic
    entries), signs and order shuffled by the run's seed."""
    w = torch.tensor([0.5, -0.25, 1.0, 0.75], dtype=torch.float64)
    u = torch.tensor([-1.0, 0.0, -0.5, 0.0], dtype=torch.float64)
    signs = torch.randint(0, 2, (4,), generator=rng).double() * 2 - 1
    order = torch.randperm(4, generator=rng)
    u, w = (u * signs)[order], (w * signs)[order]
    b = torch.randn((), generator=rng, dtype=torch.float64) * 0.5
    return tuple(t.to(dtype).to(device) for t in (u, w, b))  # type: ignore[return-value]


def _check_boundary(student, reference, device, rng) -> None:
    """At w^T u = -1 the determinant is tanh(w^T z + b)^2: tiny for a small pre-activation."""
    for dtype, targets in NEAR_BOUNDARY.items():
        u, w, b = _boundary_layer(rng, dtype, device)
        wide_w, wide_b = w.double().cpu(), b.double().cpu()
        z = _samples(rng, len(targets), 4, torch.float64, "cpu")
        shift = torch.tensor(targets, dtype=torch.float64) - (z @ wide_w + wide_b)
        z = (z + shift.unsqueeze(-1) * wide_w / (wide_w @ wide_w)).to(dtype).to(device)
        layer = (u, w, b)
        x, log_det = _call_forward(student, z, layer)
        x_ref, ld_ref = reference.planar_forward(z, *layer)
        shown = ", ".join(f"{t:g}" for t in targets)
        where = f"at the boundary w^T u = -1 with w^T z + b = {shown} ({describe(z)})"
        if isinstance(log_det, Tensor):
            expect_finite(log_det, what=f"log-det {where}", hint=TINY_DETERMINANT)
        misc = lazy(_forward_misconceptions, z, layer)
        expect_close(x, x_ref, what=f"x {where}", misconceptions=part_of(misc, 0))
        expect_close(
            log_det,
            ld_ref,
            what=f"log-det {where}",
            misconceptions=part_of(misc, 1),
            hint=TINY_DETERMINANT,
        )


def _check_far_tails(student, reference, device, rng) -> None:
    """log q_K(x) at base samples with |z0| = FAR[dtype]: the base density underflows."""
    for dtype, radius in FAR.items():
        direction = torch.randn(3, 3, generator=rng, dtype=torch.float64)
        z0 = (radius * direction / direction.norm(dim=-1, keepdim=True)).to(dtype).to(device)
        flow = _flow(rng, 3, 2, dtype, device)
        x_ref, lp_ref = reference.planar_flow_sample(z0, *flow)
        x, log_prob = _call_flow(student, z0, flow)
        where = f"far in the tails (|z0| = {radius:g}, {describe(z0)}, K=2)"
        if isinstance(log_prob, Tensor):
            expect_finite(log_prob, what=f"log q_K(x) {where}", hint=LOG_SPACE)
        misc = lazy(_flow_misconceptions, z0, flow, reference)
        expect_close(x, x_ref, what=f"x {where}", misconceptions=part_of(misc, 0))
        expect_close(
            log_prob,
            lp_ref,
            what=f"log q_K(x) {where}",
            misconceptions=part_of(misc, 1),
            hint=LOG_SPACE,
        )


@pytest.mark.points(1)
def test_invertibility_condition(student, device, rng):
    """planar_is_invertible is True exactly for invertible layers, boundary cases included."""
    w_edge = torch.tensor([0.5, 0.25], dtype=torch.float64)
    cases = [
        (torch.tensor([-1.0, -2.0]), w_edge),  # w^T u = -1 exactly
        (torch.tensor([-2.0, -2.0]), w_edge),  # -1.5
        (torch.tensor([-0.5, -1.0]), w_edge),  # -0.5
        (torch.tensor([1.0, -2.0]), w_edge),  # 0
        (torch.tensor([4.0, 4.0]), w_edge),  # 3
        (torch.tensor([1.0, 2.0]), torch.zeros(2)),  # w = 0: a translation
    ]
    for d in (3, 7):
        w = torch.randn(d, generator=rng, dtype=torch.float64)
        raw = torch.randn(d, generator=rng, dtype=torch.float64)
        for target in (-1.001, -0.999, -5.0, 0.2, 25.0):
            cases.append((raw + (target - w @ raw) * w / (w @ w), w))
    answers, products = [], []
    for index, (u, w) in enumerate(cases):
        dtype = torch.float32 if index % 3 == 1 else torch.float64
        u, w = u.to(dtype), w.to(dtype)
        products.append(float(w.double() @ u.double()))
        u, w = u.to(device), w.to(device)
        got = student.planar_is_invertible(u, w)
        what = f"what planar_is_invertible returns for w^T u = {products[-1]:.4g}"
        answers.append(_as_bool(got, what))
    wu = torch.tensor(products, dtype=torch.float64)
    listing = ", ".join(f"{p:.4g}" for p in products)
    expect_close(
        torch.tensor(answers, dtype=torch.float64),
        (wu >= -1).double(),
        what=f"planar_is_invertible (1 = True) for w^T u = {listing}",
        misconceptions={
            STRICT: (wu > -1).double(),
            NONNEGATIVE: (wu >= 0).double(),
            f"{NONNEGATIVE} (and -1 itself is allowed)": (wu > 0).double(),
            BOUNDED: (wu.abs() <= 1).double(),
        },
        hint="along w the map reduces to a -> a + (w^T u) tanh(a + b): for which values "
        "of w^T u is that strictly increasing?",
    )


@pytest.mark.points(1)
def test_u_hat(student, reference, device, rng):
    """planar_u_hat matches the reference, and stays finite however large |w^T u| is."""
    cases: list[tuple[Tensor, Tensor, str]] = []
    for d, dtype in (
        (1, torch.float64),
        (2, torch.float32),
        (5, torch.float64),
        (9, torch.float32),
    ):
        w = torch.randn(d, generator=rng, dtype=torch.float64)
        raw = torch.randn(d, generator=rng, dtype=torch.float64)
        for target in (-4.0, -1.5, -0.3, 0.8, 6.0):
            u = raw + (target - w @ raw) * w / (w @ w)
            cases.append((u.to(dtype), w.to(dtype), f"d={d}, w^T u = {target:g}"))
    for target, dtype in ((800.0, torch.float64), (-800.0, torch.float64), (200.0, torch.float32)):
        w = torch.randn(3, generator=rng, dtype=torch.float64)
        raw = torch.randn(3, generator=rng, dtype=torch.float64)
        u = raw + (target - w @ raw) * w / (w @ w)
        cases.append((u.to(dtype), w.to(dtype), f"d=3, extreme w^T u = {target:g}"))
    for u, w, label in cases:
        u, w = u.to(device), w.to(device)
        where = f"({label}, {str(u.dtype).removeprefix('torch.')})"
        got = student.planar_u_hat(u, w)
        if isinstance(got, Tensor):
            expect_finite(got, what=f"u_hat {where}", hint=NAIVE_SOFTPLUS)
        expect_close(
            got,
            reference.planar_u_hat(u, w),
            what=f"u_hat = planar_u_hat(u, w) {where}",
            misconceptions=lazy(_u_hat_misconceptions, u, w),
        )


@pytest.mark.points(1)
def test_flow_sample_matches_reference(student, reference, device, rng):
    """planar_flow_sample returns x and the flow's log-density at x, as the reference does."""
    cases = [*CASES, (2, 3, torch.float64)]
    for (batch, d, dtype), depth in zip(cases, (1, 3, 4, 2, 0), strict=True):
        z0 = _samples(rng, batch, d, dtype, device, scale=1.0)
        flow = _flow(rng, d, depth, dtype, device)
        x_ref, lp_ref = reference.planar_flow_sample(z0, *flow)
        x, log_prob = _call_flow(student, z0, flow)
        misc = lazy(_flow_misconceptions, z0, flow, reference)
        where = _where(batch, d, dtype, f", K={depth}")
        what = f"x from planar_flow_sample {where}"
        expect_close(x, x_ref, what=what, misconceptions=part_of(misc, 0))
        expect_close(
            log_prob,
            lp_ref,
            what=f"log q_K(x) from planar_flow_sample {where}",
            misconceptions=part_of(misc, 1),
        )


@pytest.mark.points(1)
def test_gradients(student, reference, rng):
    """Gradients of every function that returns a tensor match the reference's (float64).

    planar_forward (x and its log-det), planar_u_hat and planar_flow_sample (x and the
    log-density), each with respect to every input: a training step needs them all."""
    d = 4
    z = _samples(rng, 3, d, torch.float64, "cpu")
    layer = _layer(rng, d, torch.float64, "cpu")
    flow = _flow(rng, d, 3, torch.float64, "cpu")
    calls = (
        ("planar_forward", (z, *layer), ["z", "u", "w", "b"], ["x", "log_det"]),
        ("planar_u_hat", layer[:2], ["u", "w"], ["u_hat"]),
        ("planar_flow_sample", (z, *flow), ["z0", "us", "ws", "bs"], ["x", "log q_K(x)"]),
    )
    for function, args, names, outputs in calls:
        expected = getattr(reference, function)(*args)
        spec = gradient_spec(rng, expected, wrt=tuple(range(len(args))))
        expect_same_gradients(
            student,
            reference,
            function,
            args,
            spec,
            names=names,
            outputs=outputs,
        )


@pytest.mark.points(1)
def test_structure(student, reference, device, rng):
    """Outputs keep their shape, dtype and device, and every call leaves its inputs alone.

    These points need correct values. Each call runs under the virtual-device check (a
    tensor a GPU run would put on the CPU fails) and the worker's watch for in-place writes."""
    for dtype in (torch.float32, torch.float64):
        z = _samples(rng, 3, 4, dtype, device)
        layer = _layer(rng, 4, dtype, device)
        flow = _flow(rng, 4, 2, dtype, device)
        calls = (
            ("planar_forward", (z, *layer), ("z", "u", "w", "b")),
            ("planar_u_hat", layer[:2], ("u", "w")),
            ("planar_flow_sample", (z, *flow), ("z0", "us", "ws", "bs")),
        )
        for function, args, names in calls:
            expect_clean_outputs(student, reference, function, args, names)
        result = student.call_full(
            "planar_is_invertible", layer[:2], return_inputs=True, check_device=True
        )
        answer = _as_bool(result.value, "what planar_is_invertible returns")
        expect_true(
            answer == bool(reference.planar_is_invertible(*layer[:2])),
            "planar_is_invertible for an invertible layer",
            f"expected True, got {answer}",
        )
        expect_unchanged(
            list(layer[:2]), result.inputs_after, function="planar_is_invertible", names=("u", "w")
        )
        expect_clean_call(result, function="planar_is_invertible", names=("u", "w"))
