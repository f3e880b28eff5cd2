"""Hidden tests for exercise-02 (triangular Jacobians, affine autoregressive flow). 10 points.

Inputs are drawn per test from the run's seed; expected values come from `solutions`,
cross-checked by independent oracles (round trip, finite-difference Jacobian + slogdet of
the student's own map, the unit's worked numbers). A cost test rejects a dense O(d^3)
determinant: at once when the student's code decomposes the whole matrix with torch
(`flows_02.WatchedMatrix`), otherwise by a time limit that a correct O(d) answer meets a
thousand times over. Diagonal entries reach 1e-20 and 1e20 (in float32 too); gradients
are compared with the reference's; the structure test runs under the virtual-device check
and the worker's watch for in-place writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType

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
    expect_clean_call,
    lazy,
    missing_term_misconceptions,
    part_of,
)
from grader.testing.cost import call_within
from grader.testing.flows_02 import (
    LargeLowerTriangular,
    WholeMatrixDecomposition,
    triangular_diagonal,
)
from grader.testing.gradients import (
    expect_same_gradients,
    gradient_spec,
)
from grader.testing.oracles import finite_difference_jacobian, perturbation_batch

CASES = [
    (1, 1, torch.float64),
    (5, 4, torch.float32),
    (4, 7, torch.float64),
    (3, 10, torch.float32),
]
Weights = tuple[Tensor, Tensor, Tensor, Tensor]  # (W_m, b_m, W_a, b_a)
Device = torch.device | str
COST_D = 6000
# |J_ii| ~ e^(+-7) over 150 entries: the product is e^(+-1050), past float64's e^(+-709)
EXTREME_D = 150
COST_TIMEOUT_S = 0.5  # a dense determinant at d = 6000 takes ~5 s on one thread

WRONG_SIGN = "wrong sign of the log-det: the forward map gives +sum_i a_i, the inverse -sum_i a_i"
MISSING_ABS = (
    "take the absolute value first: log|J_ii|, not log(J_ii) — a negative diagonal entry "
    "gives NaN, yet |det J| is perfectly well defined"
)
LOG_OF_PRODUCT = (
    "sum the logs, do not take the log of the product: prod_i |J_ii| underflows to 0 "
    "(log -> -inf) or overflows to inf for large d, while sum_i log|J_ii| is an ordinary number"
)
EPS_IN_LOG = (
    "do not add an eps inside the log: log(|J_ii| + eps) is wrong for diagonal entries near "
    "or below eps (here |J_ii| reaches 1e-20), and an invertible triangular J has no zero on "
    "its diagonal to protect against"
)
EPSILONS = (1e-30, 1e-20, 1e-16, 1e-12, 1e-10, 1e-8, 1e-6)
DENSE_DETERMINANT = (
    "formed a dense determinant: O(d^3) work (det, slogdet, logdet or an LU factorisation), "
    "or worked on the whole d x d matrix (J.abs(), J * eye: O(d^2)); for a triangular matrix "
    "log|det J| = sum_i log|J_ii| costs O(d): take J.diagonal(dim1=-2, dim2=-1) first"
)
INCLUSIVE_MASK = (
    "the conditioner must see z_<i only: mask with the strictly lower triangle tril(W, -1); "
    "tril(W) keeps the diagonal, so x_i would depend on z_i through m_i and a_i too"
)
NO_MASK = (
    "mask the weights: m_i and a_i may depend on z_<i only, so use tril(W, -1), "
    "not the full matrix W"
)
WRONG_TRANSPOSE = (
    "m = z @ tril(W, -1).T: row i of the masked weight produces m_i; without .T, "
    "x_i is conditioned on the later z_j (j > i)"
)
SCALE_NOT_EXP = "the scale is exp(a): x = z * exp(a) + m, not z * a + m"
SHIFT_FIRST = "x = z * exp(a) + m: scale first, then shift (not (z + m) * exp(a))"
LOG_DET_EXP = "log|det dx/dz| = sum_i a_i (the log of exp(a_i)), not sum_i exp(a_i)"
ROUND_TRIP = (
    "your inverse does not undo your forward: both must use the same strictly lower "
    "masks tril(W, -1), and the inverse must feed the z_<i it has already computed (not x) "
    "into the conditioner"
)
TRIANGULAR = (
    "an autoregressive map has a lower-triangular Jacobian: output i may depend on inputs "
    "1..i only; check the mask tril(W, -1) and the transpose in z @ tril(W, -1).T"
)
NO_CANCEL = (
    "the log-dets of your forward and inverse passes do not cancel: at matching points "
    "log|det dz/dx| = -log|det dx/dz|; check that each pass sums a_i over every dimension"
)
PARALLEL_INVERSE = (
    "the inverse is sequential: m_i and a_i are functions of z_<i, which you only know "
    "after computing z_1..z_(i-1); feeding x into the conditioner solves a different map"
)


def _case_name(batch: int, d: int, dtype: torch.dtype) -> str:
    return f"(B={batch}, d={d}, {str(dtype).removeprefix('torch.')})"


def _weights(
    rng: torch.Generator, d: int, dtype: torch.dtype, device: Device, scale: float = 0.6
) -> Weights:
    """(W_m, b_m, W_a, b_a) with full (unmasked) random matrices, so a missing mask shows."""
    gain = scale / max(d, 1) ** 0.5
    shapes = [(d, d), (d,), (d, d), (d,)]
    gains = [gain * 2, 0.5, gain, 0.3]
    return tuple(  # type: ignore[return-value]
        (torch.randn(*shape, generator=rng, dtype=torch.float64) * g).to(dtype).to(device)
        for shape, g in zip(shapes, gains, strict=True)
    )


def _conditioner(
    v: Tensor, weights: Weights, diagonal: int | None = -1, transpose: bool = True
) -> tuple[Tensor, Tensor]:
    """(m, a) with the given mask; the defaults are the correct strictly lower masks."""
    w_m, b_m, w_a, b_a = weights
    masked_m = torch.tril(w_m, diagonal) if diagonal is not None else w_m
    masked_a = torch.tril(w_a, diagonal) if diagonal is not None else w_a
    if transpose:
        masked_m, masked_a = masked_m.T, masked_a.T
    return v @ masked_m + b_m, v @ masked_a + b_a


def _forward_misconceptions(
    z: Tensor, weights: Weights
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """What typical mistakes return for (x, log_det) of the forward map."""
    m, a = _conditioner(z, weights)
    variants = {
        INCLUSIVE_MASK: _conditioner(z, weights, diagonal=0),
        NO_MASK: _conditioner(z, weights, diagonal=None),
        WRONG_TRANSPOSE: _conditioner(z, weights, transpose=False),
    }
    x_misc = {hint: z * torch.exp(va) + vm for hint, (vm, va) in variants.items()}
    x_misc[SCALE_NOT_EXP] = z * a + m
    x_misc[SHIFT_FIRST] = (z + m) * torch.exp(a)
    ld_misc = {WRONG_SIGN: -a.sum(-1), LOG_DET_EXP: torch.exp(a).sum(-1)}
    ld_misc.update({hint: va.sum(-1) for hint, (_, va) in variants.items()})
    ld_misc.update(_missing_a_term(a.sum(-1), a))
    return x_misc, ld_misc


def _missing_a_term(total: Tensor, log_scales: Tensor) -> dict[str, Tensor]:
    """The log-det sum_i a_i with one a_i left out, for every i."""
    name = lambda i: f"a_{i + 1} (dimension {i + 1} of {log_scales.shape[-1]})"  # noqa: E731
    return dict(missing_term_misconceptions(total, log_scales.movedim(-1, 0), name))


def _sequential_inverse(
    x: Tensor, weights: Weights, step: Callable[[Tensor, Tensor, Tensor], Tensor]
) -> tuple[Tensor, Tensor]:
    """Solve for z one dimension at a time with z_i = step(x_i, m_i, a_i); -> (z, a (B, d))."""
    w_m, b_m, w_a, b_a = weights
    columns: list[Tensor] = []
    log_scales: list[Tensor] = []
    for i in range(x.shape[-1]):
        previous = torch.stack(columns, -1) if columns else x[..., :0]
        m = previous @ torch.tril(w_m, -1)[i, :i] + b_m[i]
        a = previous @ torch.tril(w_a, -1)[i, :i] + b_a[i]
        columns.append(step(x[..., i], m, a))
        log_scales.append(a)
    return torch.stack(columns, -1), torch.stack(log_scales, -1)


def _inverse_misconceptions(
    x: Tensor, weights: Weights, reference: ModuleType
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """What typical mistakes return for (z, log_det) of the inverse map."""
    m_x, a_x = _conditioner(x, weights)
    z_multiply, _ = _sequential_inverse(x, weights, lambda xi, m, a: (xi - m) * torch.exp(a))
    z_order, _ = _sequential_inverse(x, weights, lambda xi, m, a: xi * torch.exp(-a) - m)
    _, log_scales = _sequential_inverse(x, weights, lambda xi, m, a: (xi - m) * torch.exp(-a))
    sum_a = log_scales.sum(-1)
    forward_x, _ = reference.autoregressive_affine_forward(x, *weights)
    z_misc = {
        PARALLEL_INVERSE: (x - m_x) * torch.exp(-a_x),
        "the inverse divides by exp(a_i): z_i = (x_i - m_i) * exp(-a_i)": z_multiply,
        "undo the forward steps in reverse order: subtract m_i first, then divide by "
        "exp(a_i)": z_order,
        "this is the forward map; the inverse must undo it": forward_x,
    }
    ld_misc = {WRONG_SIGN: sum_a, PARALLEL_INVERSE: -a_x.sum(-1)}
    ld_misc.update(_missing_a_term(-sum_a, -log_scales))
    return z_misc, ld_misc


def _data(
    rng: torch.Generator,
    batch: int,
    d: int,
    dtype: torch.dtype,
    device: Device,
    weights: Weights,
    reference: ModuleType,
) -> Tensor:
    """Data x = forward(z) for z ~ N(0, I): typical flow outputs, so the sequential inverse
    stays moderate (for arbitrary x it can grow exponentially along the dimensions)."""
    z = torch.randn(batch, d, generator=rng, dtype=torch.float64).to(dtype).to(device)
    return reference.autoregressive_affine_forward(z, *weights)[0]


def _triangular(
    rng: torch.Generator,
    batch: int,
    d: int,
    dtype: torch.dtype,
    device: Device,
    log_range: float = 1.0,
) -> Tensor:
    """Lower-triangular (B, d, d) with random-sign diagonal |J_ii| = exp(U(-r, r))."""
    lower = torch.tril(torch.randn(batch, d, d, generator=rng, dtype=torch.float64), -1)
    magnitude = torch.exp(
        (torch.rand(batch, d, generator=rng, dtype=torch.float64) * 2 - 1) * log_range
    )
    sign = torch.where(torch.rand(batch, d, generator=rng) < 0.5, -1.0, 1.0).to(torch.float64)
    return (lower + torch.diag_embed(magnitude * sign)).to(dtype).to(device)


def _triangular_misconceptions(jacobian: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    diagonal = torch.diagonal(jacobian, dim1=-2, dim2=-1).double()
    logs = torch.log(diagonal.abs())
    correct = logs.sum(-1)
    wrong = [(EPS_IN_LOG, torch.log(diagonal.abs() + eps).sum(-1)) for eps in EPSILONS]
    wrong += missing_term_misconceptions(
        correct, logs.movedim(-1, 0), lambda i: f"log|J_ii| of diagonal entry i = {i}"
    )
    return wrong + list(_named_triangular_mistakes(diagonal, correct).items())


def _named_triangular_mistakes(diagonal: Tensor, correct: Tensor) -> dict[str, Tensor]:
    return {
        MISSING_ABS: torch.log(diagonal).sum(-1),
        LOG_OF_PRODUCT: torch.log(torch.prod(diagonal, dim=-1).abs()),
        "wrong sign: log|det J| = +sum_i log|J_ii|": -correct,
        "the determinant is the product of the diagonal, so its log is sum_i log|J_ii|, "
        "not sum_i J_ii": diagonal.sum(-1),
        "sum the logs of the diagonal entries, not the log of their sum (the trace)": torch.log(
            diagonal.sum(-1).abs()
        ),
    }


@pytest.mark.points(1)
def test_worked_example(student):
    """The unit's numbers: planar-flow J with det 1.7864 -> 0.580; diag (2, 0.5, 0.8) -> -0.2231."""
    sech2 = 1.0 / math.cosh(-0.5) ** 2  # w^T z + b = 0.5 - 1.0 = -0.5
    planar = torch.tensor([[[1.0 + sech2, 0.0], [2.0 * sech2, 1.0]]], dtype=torch.float64)
    diag = torch.tensor([[[2.0, 0.0, 0.0], [0.3, 0.5, 0.0], [-1.2, 0.7, 0.8]]], dtype=torch.float64)
    examples = [
        (planar, math.log(1.0 + sech2), "J^T of the planar flow in worked example 3 (det 1.7864)"),
        (diag, math.log(2.0 * 0.5 * 0.8), "lower-triangular J with diagonal (2, 0.5, 0.8)"),
    ]
    for jacobian, value, name in examples:
        expect_close(
            student.triangular_log_abs_det(jacobian),
            torch.tensor([value], dtype=torch.float64),
            what=f"triangular_log_abs_det for the {name}: expected {value:.4f}",
            misconceptions=lazy(_triangular_misconceptions, jacobian),
        )


@pytest.mark.points(1)
def test_triangular_matches_reference(student, reference, device, rng):
    """triangular_log_abs_det matches the reference: several shapes, dtypes, negative diagonals."""
    for batch, d, dtype in CASES:
        jacobian = _triangular(rng, batch, d, dtype, device)
        expect_close(
            student.triangular_log_abs_det(jacobian),
            reference.triangular_log_abs_det(jacobian),
            what=f"triangular_log_abs_det(J) for J of {describe(jacobian)}",
            misconceptions=lazy(_triangular_misconceptions, jacobian),
        )


@pytest.mark.points(1)
def test_triangular_extreme_diagonals(student, reference, device, rng):
    """Tiny and huge diagonals (|J_ii| from 1e-20 to 1e20, both dtypes): log|det J| stays right.

    Also d = 150 entries whose product over- or underflows."""
    cases = [(2, EXTREME_D, log_center, torch.float64, 0.5) for log_center in (-7.0, 7.0)]
    cases.append((2, EXTREME_D, -3.0, torch.float32, 0.5))
    for dtype in (torch.float32, torch.float64):  # |J_ii| = 10^(13..20), tiny and huge
        cases += [(3, 6, sign * 16.5 * math.log(10.0), dtype, 3.5 * math.log(10.0))
                  for sign in (-1.0, 1.0)]  # fmt: skip
    for batch, d, log_center, dtype, spread in cases:
        jacobian = _triangular(rng, batch, d, torch.float64, "cpu", log_range=spread)
        scaled = torch.diagonal(jacobian, dim1=-2, dim2=-1) * math.exp(log_center)
        jacobian = torch.tril(jacobian, -1) + torch.diag_embed(scaled)
        jacobian = jacobian.to(dtype).to(device)
        expected = reference.triangular_log_abs_det(jacobian)
        got = student.triangular_log_abs_det(jacobian)
        size = "tiny" if log_center < 0 else "huge"
        low, high = math.exp(log_center - spread), math.exp(log_center + spread)
        what = (
            f"triangular_log_abs_det for {size} diagonal entries, |J_ii| from {low:.2g} to "
            f"{high:.2g} ({describe(jacobian)})"
        )
        misconceptions = lazy(_triangular_misconceptions, jacobian)
        expect_close(got, expected, what=what, misconceptions=misconceptions)
        expect_finite(got, what=what, hint=LOG_OF_PRODUCT)


@pytest.mark.points(1)
def test_triangular_cost(student_cpu, rng):
    """Cost: log|det J| of a 6000 x 6000 triangular matrix within 0.5 s on one CPU thread (O(d))."""
    seed = int(torch.randint(0, 2**31 - 2, (1,), generator=rng))
    what = f"triangular_log_abs_det(J) for J of shape (1, {COST_D}, {COST_D}), float64"
    result = call_within(
        student_cpu,
        "triangular_log_abs_det",
        (LargeLowerTriangular(COST_D, seed),),
        timeout=COST_TIMEOUT_S,
        what=what,
        quick="a diagonal sum takes milliseconds",
        requirement="O(d) work, no determinant or factorisation of the whole matrix",
        refusal=WholeMatrixDecomposition,
        hint=DENSE_DETERMINANT,
    )
    diagonal = triangular_diagonal(COST_D, seed)
    expected = torch.log(diagonal.abs()).sum().reshape(1)
    expect_close(
        result.value,
        expected,
        what=what,
        misconceptions={
            LOG_OF_PRODUCT: torch.log(torch.prod(diagonal).abs()).reshape(1),
            MISSING_ABS: torch.log(diagonal).sum().reshape(1),
        },
    )


@pytest.mark.points(1)
def test_forward_matches_reference(student, reference, device, rng):
    """Forward z -> (x, log_det) matches the reference for several shapes and dtypes."""
    for batch, d, dtype in CASES:
        z = torch.randn(batch, d, generator=rng, dtype=torch.float64).to(dtype).to(device)
        weights = _weights(rng, d, dtype, device)
        x_ref, ld_ref = reference.autoregressive_affine_forward(z, *weights)
        misc = lazy(_forward_misconceptions, z, weights)
        x, log_det = expect_tuple(
            student.autoregressive_affine_forward(z, *weights),
            2,
            "autoregressive_affine_forward",
            "(x, log_det)",
        )
        where = _case_name(batch, d, dtype)
        expect_close(x, x_ref, what=f"x = forward(z) {where}", misconceptions=part_of(misc, 0))
        expect_close(
            log_det,
            ld_ref,
            what=f"log|det dx/dz| from forward {where}",
            misconceptions=part_of(misc, 1),
        )


@pytest.mark.points(1)
def test_inverse_matches_reference(student, reference, device, rng):
    """Inverse x -> (z, log_det), solved dimension by dimension, matches the reference."""
    for batch, d, dtype in CASES:
        weights = _weights(rng, d, dtype, device)
        x = _data(rng, batch, d, dtype, device, weights, reference)
        z_ref, ld_ref = reference.autoregressive_affine_inverse(x, *weights)
        misc = lazy(_inverse_misconceptions, x, weights, reference)
        z, log_det = expect_tuple(
            student.autoregressive_affine_inverse(x, *weights),
            2,
            "autoregressive_affine_inverse",
            "(z, log_det)",
        )
        where = _case_name(batch, d, dtype)
        expect_close(z, z_ref, what=f"z = inverse(x) {where}", misconceptions=part_of(misc, 0))
        expect_close(
            log_det,
            ld_ref,
            what=f"log|det dz/dx| from inverse {where}",
            misconceptions=part_of(misc, 1),
        )


@pytest.mark.points(1)
def test_round_trip(student, device, rng):
    """Your inverse undoes your forward (both ways round) and the log-dets cancel."""
    for batch, d, dtype in CASES:
        weights = _weights(rng, d, dtype, device)
        z = torch.randn(batch, d, generator=rng, dtype=torch.float64).to(dtype).to(device)
        x, ld_forward = expect_tuple(
            student.autoregressive_affine_forward(z, *weights),
            2,
            "autoregressive_affine_forward",
            "(x, log_det)",
        )
        back, ld_inverse = expect_tuple(
            student.autoregressive_affine_inverse(x, *weights),
            2,
            "autoregressive_affine_inverse",
            "(z, log_det)",
        )
        where = _case_name(batch, d, dtype)
        expect_close(
            back,
            z,
            what=f"inverse(forward(z)) {where}",
            hint=ROUND_TRIP,
        )
        expect_close(
            ld_forward + ld_inverse,
            torch.zeros_like(ld_forward),
            what=f"forward log-det + inverse log-det (should be 0) {where}",
            misconceptions={WRONG_SIGN: 2 * ld_forward},  # both passes gave the same sign
            hint=NO_CANCEL,
        )
        again, _ = expect_tuple(
            student.autoregressive_affine_forward(back, *weights),
            2,
            "autoregressive_affine_forward",
            "(x, log_det)",
        )
        expect_close(
            again,
            x,
            what=f"forward(inverse(x)) {where}",
            hint="your forward and inverse are not inverse maps",
        )


@pytest.mark.points(1)
def test_log_det_matches_jacobian(student, reference, rng):
    """Your maps are triangular; their log-dets equal log|det J| (finite differences, slogdet)."""
    for d in (2, 5):
        weights = _weights(rng, d, torch.float64, "cpu", scale=1.5)
        z = torch.randn(1, d, generator=rng, dtype=torch.float64)
        x, _ = reference.autoregressive_affine_forward(z, *weights)
        for function, point, sign in (
            ("autoregressive_affine_forward", z, 1.0),
            ("autoregressive_affine_inverse", x, -1.0),
        ):
            outputs, _ = expect_tuple(
                student.call(function, perturbation_batch(point[0]), *weights),
                2,
                function,
                "(tensor, log_det)",
            )
            _, log_det = expect_tuple(
                student.call(function, point, *weights), 2, function, "(tensor, log_det)"
            )
            outputs = expect_map_outputs(outputs, perturbation_batch(point[0]), function=function)
            jacobian = finite_difference_jacobian(outputs)
            upper = torch.triu(jacobian, 1).abs().max().item() if d > 1 else 0.0
            expect_true(
                upper < 1e-6,
                f"that output i of {function} does not depend on input j > i (d={d})",
                f"the Jacobian of your map has an entry of size {upper:.3g} above the diagonal",
                TRIANGULAR,
            )
            oracle = torch.linalg.slogdet(jacobian).logabsdet.reshape(1)
            expect_close(
                log_det,
                oracle,
                what=f"log_det of {function} vs log|det J| of your own map at one point (d={d})",
                rtol=1e-5,
                atol=1e-6,
                misconceptions={WRONG_SIGN: -oracle},
                hint="the log-det you return does not describe the map you implemented"
                + ("" if sign > 0 else " (the inverse's log-det is log|det dz/dx|)"),
            )


@pytest.mark.points(1)
def test_gradients(student, reference, rng):
    """Gradients of the log-dets and maps (inputs and weights) match the reference's (float64)."""
    jacobian = _triangular(rng, 3, 5, torch.float64, "cpu")
    spec = gradient_spec(rng, reference.triangular_log_abs_det(jacobian), wrt=(0,))
    lower = torch.ones(5, 5, dtype=torch.bool).tril().expand(3, 5, 5)
    expect_same_gradients(
        student,
        reference,
        "triangular_log_abs_det",
        (jacobian,),
        spec,
        names=["jacobian"],
        outputs=["log|det J|"],
        masks={"args[0]": lower},  # the function is defined on lower-triangular J only
    )
    names = ["z", "weight_shift", "bias_shift", "weight_log_scale", "bias_log_scale"]
    passes = (("autoregressive_affine_forward", "z"), ("autoregressive_affine_inverse", "x"))
    for function, point in passes:
        weights = _weights(rng, 4, torch.float64, "cpu")
        if point == "z":
            v = torch.randn(3, 4, generator=rng, dtype=torch.float64)
        else:
            v = _data(rng, 3, 4, torch.float64, "cpu", weights, reference)
        args = (v, *weights)
        spec = gradient_spec(rng, getattr(reference, function)(*args), wrt=range(5))
        expect_same_gradients(
            student,
            reference,
            function,
            args,
            spec,
            names=[point, *names[1:]],
            outputs=[names[0] if point == "x" else "x", "log_det"],
        )


@pytest.mark.points(1)
def test_structure(student, reference, device, rng):
    """Shape, dtype, device kept; no in-place writes, no stray device (needs correct values)."""
    names = ["z or x", "weight_shift", "bias_shift", "weight_log_scale", "bias_log_scale"]
    for dtype in (torch.float32, torch.float64):
        weights = _weights(rng, 6, dtype, device)
        v = _data(rng, 3, 6, dtype, device, weights, reference)
        jacobian = _triangular(rng, 3, 6, dtype, device)
        calls = [
            ("triangular_log_abs_det", (jacobian,), ["jacobian"]),
            ("autoregressive_affine_forward", (v, *weights), names),
            ("autoregressive_affine_inverse", (v, *weights), names),
        ]
        for function, args, arg_names in calls:
            result = student.call_full(function, args, return_inputs=True, check_device=True)
            expected = getattr(reference, function)(*args)
            got = result.value
            if isinstance(expected, tuple):
                got = expect_tuple(got, 2, function, "(tensor, log_det)")
            else:
                got, expected = (got,), (expected,)
            for value, want in zip(got, expected, strict=True):
                expect_close(
                    value, want, what=f"{function} values (structure points need correct values)"
                )
                expect_structure(
                    value, want, what=f"output of {function} for input of {describe(v)}"
                )
                expect_finite(value, what=f"output of {function}")
            expect_unchanged(list(args), result.inputs_after, function=function, names=arg_names)
            expect_clean_call(result, function=function, names=arg_names)
