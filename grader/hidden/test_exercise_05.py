"""Hidden tests for exercise-05 (composing flows). 10 points.

Inputs and flows are drawn per test from the run's seed (layers from grader.testing.layers);
expected values come from `solutions`, cross-checked by independent oracles: round trip,
finite-difference Jacobian + slogdet of the student's own composed map, and the exact
Gaussian density N(b, A A^T) of a flow made of affine layers only, also far in its tails.
Gradients are compared with the reference's; the structure test runs under the
virtual-device check and the worker's watch for in-place writes into the log-dets the
layers return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
import torch
from torch import Tensor

from grader.testing import (
    describe,
    expect_close,
    expect_finite,
    expect_map_outputs,
    expect_structure,
    expect_true,
    expect_tuple,
    expect_unchanged,
)
from grader.testing.checks import (
    MisconceptionSource,
    expect_clean_call,
    fail,
    lazy,
    missing_term_misconceptions,
    part_of,
)
from grader.testing.flows import ConstantConditioner
from grader.testing.gradients import (
    expect_same_gradients,
    gradient_spec,
)
from grader.testing.layers import (
    Reverse,
    SinhArcsinh,
    SinhArcsinhCoupling,
    affine_flow,
    random_flow,
)
from grader.testing.oracles import finite_difference_log_abs_det, perturbation_batch

# (B, d, depth, dtype)
CASES = [
    (1, 2, 3, torch.float64),
    (5, 4, 6, torch.float32),
    (4, 7, 5, torch.float64),
    (3, 3, 4, torch.float32),
    (2, 1, 3, torch.float64),
]
LOG_2PI = math.log(2 * math.pi)
EMPTY_FLOW = (
    "an empty flow is the identity with log-det 0 for every sample: start the total as a "
    "(B,) tensor of zeros (z.new_zeros(B)), not the number 0"
)

ADD_LOG_DETS = (
    "log-dets add: determinants multiply along a composition, so their logs add "
    "(you multiplied the log-dets)"
)
LAST_ONLY = (
    "log-dets add: the total is the sum over ALL layers, not just the last layer's log-det "
    "(accumulate, do not overwrite)"
)
FIRST_ONLY = "log-dets add: the total is the sum over ALL layers, not just the first layer's"
FORWARD_ORDER = (
    "layers[0] is applied first: x = f_K(...f_2(f_1(z))); you ran the layers in reverse order"
)
FORWARD_NEGATED = (
    "each layer's .forward already returns log|det dx/dz|; add these log-dets, do not "
    "subtract (or negate) them"
)
FORWARD_USES_INVERSE = "the forward pass calls each layer's .forward, not its .inverse"
INVERSE_FORWARD_ORDER = (
    "the inverse runs in REVERSE order: undo the last layer first "
    "(for layer in reversed(layers): layer.inverse)"
)
INVERSE_SUBTRACTED = (
    "each layer's .inverse already returns log|det dz/dx|; add these log-dets, do not "
    "subtract (or negate) them"
)
INVERSE_USES_FORWARD = (
    "the inverse pass calls each layer's .inverse (in reverse order), not its .forward"
)
FORWARD_NOT_INVERSE = "forward vs inverse: this is the forward map; x -> z needs the inverse pass"
BATCH_SUM = (
    "a log-det is one number per sample, shape (B,): add the layers' (B,) log-dets "
    "elementwise, do not sum over the batch"
)
MISSING_CONSTANT = (
    "the standard normal log-density includes the constant -d/2 log(2 pi): "
    "log N(z; 0, I) = -1/2 |z|^2 - d/2 log(2 pi)"
)
ONE_CONSTANT = (
    "the normalising constant is -d/2 log(2 pi), one -1/2 log(2 pi) per dimension, "
    "not a single -1/2 log(2 pi)"
)
MISSING_HALF = "log N(z; 0, I) = -1/2 |z|^2 - d/2 log(2 pi): you dropped the 1/2 in front of |z|^2"
DENSITY_USES_FORWARD = (
    "density evaluation goes x -> z: use the inverse pass z = f^-1(x) and its log|det dz/dx|, "
    "not the forward pass"
)
DENSITY_SIGN = (
    "log p_X(x) = log p_Z(z) + log|det dz/dx|: add the inverse pass's log-det, do not subtract it"
)
LOG_SPACE = (
    "work in log space: far in the tails exp(log N(z; 0, I)) underflows to 0 while the "
    "log-density itself is an ordinary number; never form the density and take its log"
)
NO_CANCEL = (
    "the totals must cancel: each layer's inverse log-det is minus its forward one, so sum "
    "all of them (no products, no overwriting) in both passes"
)
# |z| in the far-tail check: the density underflows, the log-density does not.
FAR = {torch.float32: 15.0, torch.float64: 40.0}
DENSITY_NO_LOG_DET = (
    "log p_X(x) = log p_Z(z) + log|det dz/dx|: the change-of-variables term is missing"
)


# ------------------------------------------------------------------ inputs and oracles


def _inputs(rng: torch.Generator, batch: int, d: int, depth: int, dtype, device):
    v = torch.randn(batch, d, generator=rng, dtype=torch.float64).to(dtype).to(device)
    seed = int(torch.randint(0, 2**31, (1,), generator=rng))
    return v, [layer.to(device) for layer in random_flow(d, seed, depth)]


def _run(layers: Sequence[Any], v: Tensor, method: str, order: str) -> tuple[Tensor, list]:
    """Apply layer.<method> over the layers in `order` ('given' or 'reversed'); all log-dets."""
    sequence = list(layers) if order == "given" else list(reversed(layers))
    log_dets = []
    for layer in sequence:
        v, log_det = getattr(layer, method)(v)
        log_dets.append(log_det.detach())
    return v.detach(), log_dets


def _total(log_dets: list[Tensor], like: Tensor) -> Tensor:
    return torch.stack(log_dets).sum(0) if log_dets else like.new_zeros(like.shape[0])


def _log_det_misconceptions(log_dets: list[Tensor], like: Tensor) -> dict[str, Tensor]:
    """Wrong totals built from the per-layer log-dets of the correct pass."""
    if not log_dets:
        return {}
    total = _total(log_dets, like)
    wrong = {
        BATCH_SUM: total.sum(),
        ADD_LOG_DETS: torch.stack(log_dets).prod(0),
        LAST_ONLY: log_dets[-1],
        FIRST_ONLY: log_dets[0],
    }
    name = lambda k: f"the log-det of layers[{k}] ({len(log_dets)} layers)"  # noqa: E731
    for hint, value in missing_term_misconceptions(total, torch.stack(log_dets), name):
        wrong.setdefault(hint, value)
    return _merge_ambiguous(wrong)


def _merge_ambiguous(misconceptions: dict[str, Tensor]) -> dict[str, Tensor]:
    """Join the hints of misconceptions that give the same value (e.g. all 0), so that a
    match never names just one of several equally likely mistakes."""
    merged: dict[str, Tensor] = {}
    for hint, value in misconceptions.items():
        twin = next(
            (
                key
                for key, other in merged.items()
                if other.shape == value.shape
                and bool(torch.allclose(other.double(), value.double(), rtol=1e-6, atol=1e-9))
            ),
            None,
        )
        if twin is None:
            merged[hint] = value
        else:
            merged[f"{twin}; or: {hint}"] = merged.pop(twin)
    return merged


def _forward_misconceptions(layers, z):
    """x and log-det misconceptions for compose_forward."""
    _, log_dets = _run(layers, z, "forward", "given")
    x_misc, ld_misc = {}, _log_det_misconceptions(log_dets, z)
    ld_misc[FORWARD_NEGATED] = -_total(log_dets, z)
    for hint, method, order in (
        (FORWARD_ORDER, "forward", "reversed"),
        (FORWARD_USES_INVERSE, "inverse", "given"),
    ):
        wrong_x, wrong_lds = _run(layers, z, method, order)
        x_misc[hint] = wrong_x
        ld_misc.setdefault(hint, _total(wrong_lds, z))
    return x_misc, ld_misc


def _inverse_misconceptions(layers, x):
    """z and log-det misconceptions for compose_inverse."""
    _, log_dets = _run(layers, x, "inverse", "reversed")
    z_misc, ld_misc = {}, {INVERSE_SUBTRACTED: -_total(log_dets, x)}
    ld_misc.update(_log_det_misconceptions(log_dets, x))
    for hint, method, order in (
        (INVERSE_FORWARD_ORDER, "inverse", "given"),
        (FORWARD_NOT_INVERSE, "forward", "given"),
        (INVERSE_USES_FORWARD, "forward", "reversed"),
    ):
        wrong_z, wrong_lds = _run(layers, x, method, order)
        z_misc[hint] = wrong_z
        ld_misc.setdefault(hint, _total(wrong_lds, x))
    return z_misc, ld_misc


def _base_log_prob(z: Tensor) -> Tensor:
    return -0.5 * (z.double() ** 2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI


def _density_misconceptions(layers, x) -> dict[str, Tensor]:
    """log p_X(x) as a student with each known misconception would compute it."""
    z, log_dets = _run(layers, x, "inverse", "reversed")
    log_det = _total(log_dets, x).double()
    d = x.shape[-1]
    squared = (z.double() ** 2).sum(-1)
    x_fwd, fwd_lds = _run(layers, x, "forward", "given")
    fwd_log_det = _total(fwd_lds, x).double()
    z_order, order_lds = _run(layers, x, "inverse", "given")
    correct = _base_log_prob(z) + log_det
    name = lambda k: f"the log-det of layers[{k}]"  # noqa: E731
    terms = torch.stack(order_lds) if order_lds else log_det.new_zeros(0, *log_det.shape)
    wrong = dict(missing_term_misconceptions(correct, terms.double(), name))
    density = torch.exp(-0.5 * z.double() ** 2).prod(-1) / (2 * math.pi) ** (0.5 * d)
    wrong[LOG_SPACE] = torch.log(density) + log_det
    return wrong | {
        MISSING_CONSTANT: correct + 0.5 * d * LOG_2PI,
        ONE_CONSTANT: correct + 0.5 * (d - 1) * LOG_2PI,
        MISSING_HALF: correct - 0.5 * squared,
        DENSITY_SIGN: _base_log_prob(z) - log_det,
        DENSITY_NO_LOG_DET: _base_log_prob(z),
        DENSITY_USES_FORWARD: _base_log_prob(x_fwd) + fwd_log_det,
        f"{DENSITY_USES_FORWARD} (and its log-det sign)": _base_log_prob(x_fwd) - fwd_log_det,
        INVERSE_FORWARD_ORDER: _base_log_prob(z_order) + _total(order_lds, x).double(),
        BATCH_SUM: correct.sum(),
    }


def _gaussian_oracle(layers, x: Tensor) -> Tensor:
    """log N(x; b, A A^T) for an affine flow x = A z + b, found by probing the trusted layers."""
    d = x.shape[-1]
    probes = torch.cat([torch.zeros(1, d), torch.eye(d)]).double()
    images, _ = _run(layers, probes, "forward", "given")
    shift = images[0]
    matrix = (images[1:] - shift).T  # column i = A e_i
    gaussian = torch.distributions.MultivariateNormal(shift, matrix @ matrix.T)
    return gaussian.log_prob(x.double())


def _where(batch: int, d: int, depth: int, dtype: torch.dtype) -> str:
    return f"(B={batch}, d={d}, {depth} layers, {str(dtype).removeprefix('torch.')})"


def _expect_batch_values(
    got: Any,
    expected: Tensor,
    *,
    what: str,
    misconceptions: MisconceptionSource,
    number_hint: str = BATCH_SUM,
    **kw: Any,
) -> None:
    """expect_close for a tensor result, recognising a plain Python number (a summed batch,
    or a total that started as the number 0 and never became a tensor)."""
    if isinstance(got, int | float):
        got_text = f"got the number {got:.6g}"
        fail(what, f"expected a tensor of {describe(expected)}, {got_text}", number_hint)
    expect_close(got, expected, what=what, misconceptions=misconceptions, **kw)


def _call_pair(student: Any, function: str, layers, v: Tensor):
    names = "(x, log_det)" if function == "compose_forward" else "(z, log_det)"
    return expect_tuple(getattr(student, function)(layers, v), 2, function, names)


# ------------------------------------------------------------------ tests


def _worked_flow() -> tuple[list[Any], Tensor, Tensor]:
    """The flow of the worked example and, computed by hand with `math`, where it sends
    z = (1, 3) and its log-det. Layers: a coupling that keeps feature 0 and maps feature 1
    by sinh(2 asinh(v) + 0.5); Reverse; the elementwise map with (a, b) = (-log 2, 0) for
    feature 0 and (0, 1) for feature 1, i.e. (sinh(asinh(v) / 2), sinh(asinh(v) + 1))."""
    layers = [
        SinhArcsinhCoupling(ConstantConditioner([math.log(2.0)], [0.5]), kept=[0], moved=[1]),
        Reverse(),
        SinhArcsinh([-math.log(2.0), 0.0], [0.0, 1.0]),
    ]
    moved = math.sinh(2.0 * math.asinh(3.0) + 0.5)  # layer 1, feature 1; feature 0 stays 1
    first, second = math.sinh(math.asinh(moved) / 2.0), math.sinh(math.asinh(1.0) + 1.0)

    def log_slope(log_tail: float, before: float, after: float) -> float:
        return log_tail + 0.5 * math.log1p(after * after) - 0.5 * math.log1p(before * before)

    log_det = (
        log_slope(math.log(2.0), 3.0, moved)
        + log_slope(-math.log(2.0), moved, first)
        + log_slope(0.0, 1.0, second)
    )
    x = torch.tensor([[first, second]], dtype=torch.float64)
    return layers, x, torch.tensor([log_det], dtype=torch.float64)


@pytest.mark.points(1)
def test_worked_example(student):
    """A sinh-arcsinh coupling, Reverse and an elementwise sinh-arcsinh map on z = (1, 3)."""
    layers, x_hand, log_det_hand = _worked_flow()
    z = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    x, log_det = _call_pair(student, "compose_forward", layers, z)
    forward_misc = lazy(_forward_misconceptions, layers, z)
    expect_close(
        x,
        x_hand,
        what=f"x for z = (1, 3) (expected ({x_hand[0, 0]:.4f}, {x_hand[0, 1]:.4f}))",
        misconceptions=part_of(forward_misc, 0),
    )
    _expect_batch_values(
        log_det,
        log_det_hand,
        what=f"log|det dx/dz| of that flow (expected {log_det_hand[0]:.4f}: the layers' "
        "log-dets added)",
        misconceptions=part_of(forward_misc, 1),
    )
    back, inverse_log_det = _call_pair(student, "compose_inverse", layers, x_hand)
    inverse_misc = lazy(_inverse_misconceptions, layers, x_hand)
    expect_close(
        back, z, what="z = inverse(x) for that x (expected (1, 3))",
        misconceptions=part_of(inverse_misc, 0),
    )  # fmt: skip
    _expect_batch_values(
        inverse_log_det,
        -log_det_hand,
        what=f"log|det dz/dx| for that x (expected {-log_det_hand[0]:.4f})",
        misconceptions=part_of(inverse_misc, 1),
    )
    log_prob = student.flow_log_prob(layers, x_hand)
    expected = -5.0 - LOG_2PI - log_det_hand
    _expect_batch_values(
        log_prob,
        expected,
        what=f"log p_X(x) = log N((1, 3); 0, I) + log|det dz/dx| = -5 - log(2 pi) "
        f"{-log_det_hand[0]:+.4f} = {expected[0]:.4f}",
        misconceptions=lazy(_density_misconceptions, layers, x_hand),
    )


@pytest.mark.points(1)
def test_forward_matches_reference(student, reference, device, rng):
    """compose_forward z -> (x, log_det) matches the reference for several flows and dtypes."""
    for batch, d, depth, dtype in CASES:
        z, layers = _inputs(rng, batch, d, depth, dtype, device)
        x_ref, ld_ref = reference.compose_forward(layers, z)
        x, log_det = _call_pair(student, "compose_forward", layers, z)
        misc = lazy(_forward_misconceptions, layers, z)
        where = _where(batch, d, depth, dtype)
        expect_close(
            x, x_ref, what=f"x = compose_forward(z) {where}", misconceptions=part_of(misc, 0)
        )
        _expect_batch_values(
            log_det,
            ld_ref,
            what=f"log|det dx/dz| of the flow {where}",
            misconceptions=part_of(misc, 1),
        )


@pytest.mark.points(1)
def test_inverse_matches_reference(student, reference, device, rng):
    """compose_inverse x -> (z, log_det) matches the reference for several flows and dtypes."""
    for batch, d, depth, dtype in CASES:
        x, layers = _inputs(rng, batch, d, depth, dtype, device)
        z_ref, ld_ref = reference.compose_inverse(layers, x)
        z, log_det = _call_pair(student, "compose_inverse", layers, x)
        misc = lazy(_inverse_misconceptions, layers, x)
        where = _where(batch, d, depth, dtype)
        expect_close(
            z, z_ref, what=f"z = compose_inverse(x) {where}", misconceptions=part_of(misc, 0)
        )
        _expect_batch_values(
            log_det,
            ld_ref,
            what=f"log|det dz/dx| of the flow {where}",
            misconceptions=part_of(misc, 1),
        )


@pytest.mark.points(1)
def test_log_prob_matches_reference(student, reference, device, rng):
    """flow_log_prob matches the reference for several flows and dtypes."""
    for batch, d, depth, dtype in CASES:
        x, layers = _inputs(rng, batch, d, depth, dtype, device)
        expected = reference.flow_log_prob(layers, x)
        _expect_batch_values(
            student.flow_log_prob(layers, x),
            expected,
            what=f"log p_X(x) {_where(batch, d, depth, dtype)}",
            misconceptions=lazy(_density_misconceptions, layers, x),
        )


@pytest.mark.points(1)
def test_log_prob_of_affine_flow_is_gaussian(student, rng):
    """An affine flow x = A z + b maps N(0, I) to N(b, A A^T): your log p_X matches that density."""
    for batch, d in ((6, 1), (5, 3), (4, 5)):
        seed = int(torch.randint(0, 2**31, (1,), generator=rng))
        layers = affine_flow(d, seed, depth=5)
        x = torch.randn(batch, d, generator=rng, dtype=torch.float64) * 1.5
        _expect_batch_values(
            student.flow_log_prob(layers, x),
            _gaussian_oracle(layers, x),
            what=f"log p_X(x) vs the exact Gaussian log N(x; b, A A^T) (d={d})",
            misconceptions=lazy(_density_misconceptions, layers, x),
            rtol=1e-6,
            atol=1e-8,
        )


@pytest.mark.points(1)
def test_round_trip(student, device, rng):
    """compose_inverse undoes your compose_forward: z comes back and the log-dets cancel."""
    for batch, d, depth, dtype in CASES:
        z, layers = _inputs(rng, batch, d, depth, dtype, device)
        x, ld_forward = _call_pair(student, "compose_forward", layers, z)
        back, ld_inverse = _call_pair(student, "compose_inverse", layers, x)
        for name, log_det in (("compose_forward", ld_forward), ("compose_inverse", ld_inverse)):
            expect_true(
                isinstance(log_det, Tensor) and tuple(log_det.shape) == (batch,),
                f"the log-det from {name} for B={batch}",
                f"expected a tensor of shape ({batch},)",
                BATCH_SUM,
            )
        expect_close(
            back,
            z,
            what=f"compose_inverse(compose_forward(z)) for z of {describe(z)}",
            hint="compose_inverse must undo compose_forward: call each layer's .inverse in the "
            "reverse of the order compose_forward uses",
        )
        expect_close(
            ld_forward + ld_inverse,
            torch.zeros(batch, dtype=dtype),
            what="forward log-det + inverse log-det (should be 0)",
            misconceptions={INVERSE_SUBTRACTED: 2 * ld_forward},  # the same sign in both
            hint=NO_CANCEL,
        )


@pytest.mark.points(1)
def test_log_det_matches_jacobian(student, rng):
    """Your log-dets equal log|det J| of your own composed maps (finite differences + slogdet)."""
    for d, depth in ((2, 4), (5, 6)):
        z, layers = _inputs(rng, 1, d, depth, torch.float64, "cpu")
        points = perturbation_batch(z[0])
        for function, names in (("compose_forward", "dx/dz"), ("compose_inverse", "dz/dx")):
            outputs, _ = _call_pair(student, function, layers, points)
            _, log_det = _call_pair(student, function, layers, z)
            outputs = expect_map_outputs(outputs, points, function=function)
            oracle = finite_difference_log_abs_det(outputs).reshape(1)
            wrong = (
                _forward_misconceptions
                if function == "compose_forward"
                else _inverse_misconceptions
            )
            _expect_batch_values(
                log_det,
                oracle,
                what=f"log_det of {function} vs log|det {names}| of your own map at one point "
                f"(d={d}, {depth} layers)",
                misconceptions=part_of(lazy(wrong, layers, z), 1),
                rtol=1e-5,
                atol=1e-6,
                hint="the log-det you return does not describe the map you implemented",
            )


@pytest.mark.points(1)
def test_far_tails(student, device, rng):
    """Far in the tails (|z| ~ 15 in float32, ~40 in float64) log p_X(x) is the exact Gaussian's.

    The density itself underflows to 0; its logarithm is an ordinary number."""
    for dtype in (torch.float32, torch.float64):
        seed = int(torch.randint(0, 2**31, (1,), generator=rng))
        layers = affine_flow(3, seed, depth=5)
        direction = torch.randn(4, 3, generator=rng, dtype=torch.float64)
        z = FAR[dtype] * direction / direction.norm(dim=-1, keepdim=True)
        x, _ = _run(layers, z, "forward", "given")
        x = x.to(dtype).to(device)
        what = (
            f"log p_X(x) far in the tails (|z| = {FAR[dtype]:g}, "
            f"{str(dtype).removeprefix('torch.')}) vs the exact Gaussian log N(x; b, A A^T)"
        )
        got = student.flow_log_prob(layers, x)
        _expect_batch_values(
            got,
            _gaussian_oracle(layers, x).to(dtype),
            what=what,
            misconceptions=lazy(_density_misconceptions, layers, x),
            hint=LOG_SPACE,
        )
        expect_finite(got, what=what, hint=LOG_SPACE)


@pytest.mark.points(1)
def test_gradients(student, reference, rng):
    """Gradients of the composed maps, log-dets and log-density match the reference's (float64)."""
    for function, first in (
        ("compose_forward", "z"),
        ("compose_inverse", "x"),
        ("flow_log_prob", "x"),
    ):
        v, layers = _inputs(rng, 3, 4, 6, torch.float64, "cpu")
        args = (layers, v)
        spec = gradient_spec(rng, getattr(reference, function)(*args), wrt=(1,))
        outputs = ["log p_X(x)"] if function == "flow_log_prob" else [
            "x" if first == "z" else "z", "log_det"]  # fmt: skip
        expect_same_gradients(
            student,
            reference,
            function,
            args,
            spec,
            names=["layers", first],
            outputs=outputs,
        )


@pytest.mark.points(1)
def test_structure(student, reference, device, rng):
    """Shape, dtype, device kept; no in-place writes or stray device; empty flow = identity.

    In-place writes count into the layers' returned log-dets too (needs correct values)."""
    for dtype in (torch.float32, torch.float64):
        v, layers = _inputs(rng, 3, 4, 5, dtype, device)
        for flow in (layers, []):
            _check_structure(student, reference, flow, v)


def _check_structure(student, reference, layers, v: Tensor) -> None:
    label = f"{len(layers)} layers" if layers else "an empty flow (the identity)"
    for function in ("compose_forward", "compose_inverse", "flow_log_prob"):
        result = student.call_full(function, (layers, v), return_inputs=True, check_device=True)
        expected = getattr(reference, function)(layers, v)
        if function == "flow_log_prob":
            got, expected_parts = (result.value,), (expected,)
            misconceptions = [lazy(_density_misconceptions, layers, v)]
        else:
            got = expect_tuple(result.value, 2, function, "(tensor, log_det)")
            expected_parts = expected
            wrong = (
                _forward_misconceptions
                if function == "compose_forward"
                else _inverse_misconceptions
            )
            pair = lazy(wrong, layers, v)
            misconceptions = [part_of(pair, 0), part_of(pair, 1)]
        for index, (part, want, misc) in enumerate(
            zip(got, expected_parts, misconceptions, strict=True)
        ):
            what = f"output {index + 1} of {function} with {label} (structure needs values)"
            _expect_batch_values(
                part,
                want,
                what=what,
                misconceptions=misc,
                number_hint=BATCH_SUM if layers else EMPTY_FLOW,
            )
            expect_structure(part, want, what=f"output {index + 1} of {function}, {describe(v)}")
            expect_finite(part, what=f"output {index + 1} of {function}")
        names = ["layers", "z" if function == "compose_forward" else "x"]
        expect_unchanged([layers, v], result.inputs_after, function=function, names=names)
        expect_clean_call(result, function=function, names=names)
