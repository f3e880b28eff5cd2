"""Hidden tests for exercise-04 (Glow invertible 1x1 convolution, LU-factored). 10 points.

Inputs are drawn per test from the run's seed; expected values come from `solutions`,
cross-checked by independent oracles (round trip, slogdet of the student's own W,
finite-difference Jacobian + slogdet of the student's own map) and the seed's practice
problem 4 (C = 3, H = W = 32, U diagonal (2, 0.5, 0.8): log|det| ~= -228.5). U's diagonal
reaches e^+-80 in float32 and e^+-600 in float64; gradients with respect to the input and
the trained factors (lower, upper, log_abs_diag) are compared with the reference's; the
structure test runs under the virtual-device check and the worker's watch.
"""

from __future__ import annotations

import math
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
)
from grader.testing.gradients import (
    expect_same_gradients,
    gradient_spec,
)
from grader.testing.oracles import finite_difference_log_abs_det, perturbation_batch

# (B, C, H, W, dtype): one channel, square and non-square images, both float dtypes.
CASES = [
    (1, 1, 2, 3, torch.float64),
    (2, 3, 4, 4, torch.float32),
    (3, 4, 2, 5, torch.float64),
    (2, 6, 3, 2, torch.float32),
]
PARAM_NAMES = ["permutation", "lower", "upper", "sign_diag", "log_abs_diag"]

WRONG_SIGN = (
    "the log-det has the wrong sign: forward gives +H*W*sum(log_abs_diag), "
    "the inverse -H*W*sum(log_abs_diag)"
)
MISSING_HW = (
    "the log-det counts every pixel: the map applies W at each of the H*W pixels, so "
    "log|det| = H * W * sum(log_abs_diag), not sum(log_abs_diag) alone"
)
ALL_ENTRIES = (
    "multiply by the number of pixels H * W, not by C * H * W: each pixel contributes "
    "log|det W| once"
)
SCALAR = (
    "return one log-det per sample, shape (B,), even though every sample has the same "
    "value (e.g. expand it to the batch size)"
)
MISSING_ABS = (
    "you took the log of U's signed diagonal (NaN where U_ii < 0): log|det W| uses "
    "|U_ii|, i.e. sum(log_abs_diag)"
)
NOT_LOG = (
    "log|det W| is the sum of the logs log|U_ii| = log_abs_diag, not of the entries "
    "|U_ii| = exp(log_abs_diag)"
)
ORDER = "wrong product order: W = P @ L @ U (permutation, then unit-lower L, then upper U)"
L_DIAGONAL = (
    "L is unit lower-triangular: use tril(lower, -1) + I, so its diagonal is exactly 1 "
    "(and det L = 1); `lower`'s own diagonal must be ignored"
)
U_DIAGONAL = (
    "U's diagonal is sign_diag * exp(log_abs_diag) only: use triu(upper, 1), "
    "`upper`'s own diagonal must be ignored"
)
NO_SIGN = "U's diagonal is sign_diag * exp(log_abs_diag): you dropped sign_diag"
NO_EXP = "U's diagonal is sign_diag * exp(log_abs_diag): log_abs_diag is a log, exponentiate it"
TRANSPOSED = (
    "W acts on each pixel's channel vector as W @ z[b, :, h, w]; you applied the transpose "
    "(z @ W, i.e. W^T @ z)"
)
NOT_ORTHOGONAL = (
    "W is not orthogonal, so W^T does not undo it: z = U^-1 (L^-1 (P^T x)) with triangular solves"
)
FORWARD_NOT_INVERSE = "forward vs inverse: this is W @ x, the forward map; the inverse undoes it"
INVERSE_NOT_FORWARD = "forward vs inverse: this is W^-1 @ z, the inverse map; the forward applies W"
P_NOT_TRANSPOSED = "undo the permutation with P^T (P^-1 = P^T), not with P itself"
NO_CANCEL = (
    "your forward and inverse log-dets do not cancel: at matching points log|det dz/dx| = "
    "-log|det dx/dz| = -H*W*sum(log_abs_diag)"
)
EXTREME_DIAGONAL = (
    "use log_abs_diag itself: it is log|U_ii| exactly. Rebuilding |U_ii| = exp(log_abs_diag) "
    "and taking the log again (or adding an eps, or slogdet of W) loses it when |U_ii| is "
    "tiny or huge"
)
# |log_abs_diag| for the extreme-diagonal check: exp() of it is still representable.
EXTREME_LOG = {torch.float32: (30.0, 80.0), torch.float64: (30.0, 600.0)}
SOLVE_ORDER = (
    "undo the factors in reverse order: W^-1 = U^-1 L^-1 P^T, so solve with L first, then with U"
)


# ------------------------------------------------------------------ inputs and oracles


def _permutation_indices(rng: torch.Generator, channels: int) -> Tensor:
    """A random permutation that is not the identity and, for C >= 3, not its own inverse."""
    perm = torch.randperm(channels, generator=rng)
    cycle = torch.arange(channels).roll(1)
    if channels == 2:
        return cycle
    if channels >= 3 and bool((perm[perm] == torch.arange(channels)).all()):
        return cycle
    return perm


def _params(
    rng: torch.Generator, channels: int, dtype: torch.dtype, device: Any
) -> tuple[Tensor, ...]:
    """(permutation, lower, upper, sign_diag, log_abs_diag); sign_diag[0] is always -1."""
    permutation = torch.eye(channels, dtype=torch.float64)[_permutation_indices(rng, channels)]
    lower = torch.randn(channels, channels, generator=rng, dtype=torch.float64) * 0.5
    upper = torch.randn(channels, channels, generator=rng, dtype=torch.float64) * 0.5
    sign_diag = torch.where(torch.rand(channels, generator=rng) < 0.5, -1.0, 1.0).double()
    sign_diag[0] = -1.0
    log_abs_diag = torch.randn(channels, generator=rng, dtype=torch.float64) * 0.3
    return tuple(
        p.to(dtype).to(device) for p in (permutation, lower, upper, sign_diag, log_abs_diag)
    )


def _inputs(rng: torch.Generator, batch, channels, height, width, dtype, device):
    z = torch.randn(batch, channels, height, width, generator=rng, dtype=torch.float64)
    return z.to(dtype).to(device), _params(rng, channels, dtype, device)


def _factors(params: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """P, L, U in float64, built directly from the definitions (an independent oracle)."""
    permutation, lower, upper, sign_diag, log_abs_diag = (p.double() for p in params)
    eye = torch.eye(lower.shape[0], dtype=torch.float64, device=lower.device)
    unit_lower = torch.tril(lower, -1) + eye
    upper_tri = torch.triu(upper, 1) + torch.diag(sign_diag * torch.exp(log_abs_diag))
    return permutation, unit_lower, upper_tri


def _wrong_weights(params: tuple[Tensor, ...]) -> dict[str, Tensor]:
    """W as a student with each known misconception about lu_weight would build it."""
    permutation, unit_lower, upper_tri = _factors(params)
    _, lower, upper, sign_diag, log_abs_diag = (p.double() for p in params)
    eye = torch.eye(lower.shape[0], dtype=torch.float64, device=lower.device)
    diagonal = torch.diag(sign_diag * torch.exp(log_abs_diag))
    weight = permutation @ unit_lower @ upper_tri
    return {
        f"{ORDER}; you computed L @ U @ P": unit_lower @ upper_tri @ permutation,
        f"{ORDER}; you computed U @ L @ P": upper_tri @ unit_lower @ permutation,
        f"{ORDER}; you computed L @ U (P left out)": unit_lower @ upper_tri,
        f"{ORDER}; you computed P @ U @ L": permutation @ upper_tri @ unit_lower,
        f"{L_DIAGONAL} (you used tril(lower) + I)": permutation
        @ (torch.tril(lower) + eye)
        @ upper_tri,
        f"{L_DIAGONAL} (you used tril(lower))": permutation @ torch.tril(lower) @ upper_tri,
        U_DIAGONAL: permutation @ unit_lower @ (torch.triu(upper) + diagonal),
        NO_SIGN: permutation @ unit_lower @ (torch.triu(upper, 1) + torch.diag(log_abs_diag.exp())),
        NO_EXP: permutation
        @ unit_lower
        @ (torch.triu(upper, 1) + torch.diag(sign_diag * log_abs_diag)),
        f"{TRANSPOSED}; lu_weight returned W^T": weight.T,
    }


def _per_pixel(matrix: Tensor, v: Tensor) -> Tensor:
    """matrix @ v[b, :, h, w] for every sample and pixel, in float64."""
    return torch.einsum("ij,bjhw->bihw", matrix.double(), v.double())


def _x_misconceptions(z: Tensor, params: tuple[Tensor, ...]) -> dict[str, Tensor]:
    """Wrong forward outputs x (B, C, H, W), one per known misconception."""
    permutation, unit_lower, upper_tri = _factors(params)
    weight = permutation @ unit_lower @ upper_tri
    wrong = {TRANSPOSED: _per_pixel(weight.T, z)}
    wrong.update({k: _per_pixel(w, z) for k, w in _wrong_weights(params).items()})
    wrong[INVERSE_NOT_FORWARD] = _per_pixel(torch.linalg.inv(weight), z)
    return wrong


def _z_misconceptions(x: Tensor, params: tuple[Tensor, ...]) -> dict[str, Tensor]:
    """Wrong inverse outputs z (B, C, H, W), one per known misconception."""
    permutation, unit_lower, upper_tri = _factors(params)
    weight = permutation @ unit_lower @ upper_tri
    inv_lower, inv_upper = torch.linalg.inv(unit_lower), torch.linalg.inv(upper_tri)
    wrong = {
        FORWARD_NOT_INVERSE: _per_pixel(weight, x),
        NOT_ORTHOGONAL: _per_pixel(weight.T, x),
        TRANSPOSED: _per_pixel(torch.linalg.inv(weight.T), x),
        P_NOT_TRANSPOSED: _per_pixel(inv_upper @ inv_lower @ permutation, x),
        SOLVE_ORDER: _per_pixel(inv_lower @ inv_upper @ permutation.T, x),
    }
    for hint, wrong_weight in _wrong_weights(params).items():
        if bool(torch.linalg.det(wrong_weight).abs() > 1e-8):
            wrong.setdefault(hint, _per_pixel(torch.linalg.inv(wrong_weight), x))
    return wrong


def _log_det_misconceptions(expected: Tensor, params: tuple[Tensor, ...], pixels: int, sign: int):
    """Wrong log-dets (B,) for a forward (sign=+1) or inverse (sign=-1) pass."""
    log_abs_diag = params[4].double()
    total = log_abs_diag.sum()
    batch = expected.shape
    per_channel = (sign * pixels * log_abs_diag).unsqueeze(-1).expand(-1, *batch)
    name = lambda k: f"channel {k + 1}'s H*W*log|U_kk|"  # noqa: E731
    wrong = {
        WRONG_SIGN: -expected,
        MISSING_HW: (sign * total).expand(batch),
        ALL_ENTRIES: (sign * total * pixels * log_abs_diag.numel()).expand(batch),
        NOT_LOG: (sign * pixels * log_abs_diag.exp().sum()).expand(batch),
        MISSING_ABS: torch.full(batch, math.nan, dtype=torch.float64),
        SCALAR: expected[0],
    }
    total_ld = (sign * pixels * total).expand(batch)
    wrong.update(missing_term_misconceptions(total_ld, per_channel, name))
    for eps in (1e-12, 1e-8, 1e-6):
        wrong.setdefault(
            EXTREME_DIAGONAL,
            (sign * pixels * torch.log(log_abs_diag.exp() + eps).sum()).expand(batch),
        )
    return wrong


def _where(batch: int, channels: int, height: int, width: int, dtype: torch.dtype) -> str:
    return f"(B={batch}, C={channels}, H={height}, W={width}, {str(dtype).removeprefix('torch.')})"


def _expect_log_det(
    got: Any,
    expected: Tensor,
    *,
    what: str,
    misconceptions: MisconceptionSource,
    hint: str | None = None,
) -> None:
    """expect_close for a log-det, recognising a plain Python number as a missing batch axis."""
    if isinstance(got, int | float):
        fail(what, f"expected a tensor of {describe(expected)}, got the number {got:.6g}", SCALAR)
    expect_close(got, expected, what=what, misconceptions=misconceptions, hint=hint)


def _call_pair(student: Any, function: str, v: Tensor, params: tuple[Tensor, ...]):
    names = "(x, log_det)" if "forward" in function else "(z, log_det)"
    return expect_tuple(getattr(student, function)(v, *params), 2, function, names)


# ------------------------------------------------------------------ tests


@pytest.mark.points(1)
def test_lu_weight_matches_reference(student, reference, device, rng):
    """lu_weight builds W = P @ L @ U (unit-lower L, U with diagonal sign * exp(log|U_ii|))."""
    for channels, dtype in (
        (1, torch.float64),
        (3, torch.float32),
        (4, torch.float64),
        (6, torch.float32),
    ):
        params = _params(rng, channels, dtype, device)
        expected = reference.lu_weight(*params)
        got = student.lu_weight(*params)
        expect_close(
            got,
            expected,
            what=f"W = lu_weight(...) for C={channels}, {str(dtype).removeprefix('torch.')}",
            misconceptions=lazy(_wrong_weights, params),
        )


@pytest.mark.points(1)
def test_lu_weight_determinant(student, rng):
    """The sign and log|det W| of your W (slogdet) agree with its LU parameters."""
    for channels in (2, 3, 5):
        params = _params(rng, channels, torch.float64, "cpu")
        got = student.lu_weight(*params)
        expect_true(
            isinstance(got, Tensor) and tuple(got.shape) == (channels, channels),
            f"what lu_weight returns for C={channels}",
            f"expected a ({channels}, {channels}) tensor, got "
            f"{describe(got) if isinstance(got, Tensor) else type(got).__name__}",
        )
        sign, log_abs = torch.linalg.slogdet(got.double())
        wrong = {k: torch.linalg.slogdet(v) for k, v in _wrong_weights(params).items()}
        expect_close(
            log_abs,
            params[4].sum(),
            what=f"log|det W| of your W (torch.linalg.slogdet), C={channels}; "
            "expected sum(log_abs_diag)",
            misconceptions={k: v.logabsdet for k, v in wrong.items()},
            hint="det P = +-1 and det L = 1, so log|det W| must equal sum(log|U_ii|)",
        )
        expect_close(
            sign,
            torch.linalg.det(params[0]) * params[3].prod(),
            what=f"sign of det W of your W, C={channels}; expected det(P) * prod(sign_diag)",
            hint="det W = det(P) * det(L) * prod(U_ii) with det L = 1: check that P is included "
            "and that U's diagonal carries sign_diag",
        )


@pytest.mark.points(1)
def test_practice_problem_4(student, rng):
    """Practice problem 4: C=3, H=W=32, U diagonal (2, 0.5, 0.8) gives log|det| ~= -228.5."""
    permutation, lower, upper, _, _ = _params(rng, 3, torch.float64, "cpu")
    sign_diag = torch.ones(3, dtype=torch.float64)
    log_abs_diag = torch.tensor([math.log(2.0), math.log(0.5), math.log(0.8)], dtype=torch.float64)
    params = (permutation, lower, upper, sign_diag, log_abs_diag)
    z = torch.randn(2, 3, 32, 32, generator=rng, dtype=torch.float64)
    exact = 32 * 32 * (math.log(2.0) + math.log(0.5) + math.log(0.8))
    for function, sign in (("invertible_conv_forward", 1), ("invertible_conv_inverse", -1)):
        _, log_det = _call_pair(student, function, z, params)
        expected = torch.full((2,), sign * exact, dtype=torch.float64)
        direction = "dx/dz from forward" if sign > 0 else "dz/dx from inverse"
        _expect_log_det(
            log_det,
            expected,
            what=f"log|det {direction} for C=3, H=W=32, U diagonal (2, 0.5, 0.8) "
            f"(expected {sign * exact:.4g})",
            misconceptions=lazy(_log_det_misconceptions, expected, params, 32 * 32, sign),
        )


@pytest.mark.points(1)
def test_forward_matches_reference(student, reference, device, rng):
    """Forward pass z -> (x, log_det) matches the reference for several shapes and dtypes."""
    for batch, channels, height, width, dtype in CASES:
        z, params = _inputs(rng, batch, channels, height, width, dtype, device)
        x_ref, ld_ref = reference.invertible_conv_forward(z, *params)
        x, log_det = _call_pair(student, "invertible_conv_forward", z, params)
        where = _where(batch, channels, height, width, dtype)
        expect_close(
            x,
            x_ref,
            what=f"x = forward(z) {where}",
            misconceptions=lazy(_x_misconceptions, z, params),
        )
        _expect_log_det(
            log_det,
            ld_ref,
            what=f"log|det dx/dz| from forward {where}",
            misconceptions=lazy(_log_det_misconceptions, ld_ref, params, height * width, 1),
        )


@pytest.mark.points(1)
def test_inverse_matches_reference(student, reference, device, rng):
    """Inverse pass x -> (z, log_det) matches the reference for several shapes and dtypes."""
    for batch, channels, height, width, dtype in CASES:
        x, params = _inputs(rng, batch, channels, height, width, dtype, device)
        z_ref, ld_ref = reference.invertible_conv_inverse(x, *params)
        z, log_det = _call_pair(student, "invertible_conv_inverse", x, params)
        where = _where(batch, channels, height, width, dtype)
        expect_close(
            z,
            z_ref,
            what=f"z = inverse(x) {where}",
            misconceptions=lazy(_z_misconceptions, x, params),
        )
        _expect_log_det(
            log_det,
            ld_ref,
            what=f"log|det dz/dx| from inverse {where}",
            misconceptions=lazy(_log_det_misconceptions, ld_ref, params, height * width, -1),
        )


@pytest.mark.points(1)
def test_round_trip(student, device, rng):
    """Your inverse undoes your forward: inverse(forward(z)) = z and the log-dets cancel."""
    for batch, channels, height, width, dtype in CASES:
        z, params = _inputs(rng, batch, channels, height, width, dtype, device)
        x, ld_forward = _call_pair(student, "invertible_conv_forward", z, params)
        back, ld_inverse = _call_pair(student, "invertible_conv_inverse", x, params)
        expect_close(
            back,
            z,
            what=f"inverse(forward(z)) for z of {describe(z)}",
            hint="your inverse does not undo your forward; z = U^-1 (L^-1 (P^T x)) per pixel",
        )
        for name, log_det in (("forward", ld_forward), ("inverse", ld_inverse)):
            expect_true(
                isinstance(log_det, Tensor) and tuple(log_det.shape) == (batch,),
                f"the log-det of your {name} pass for B={batch}",
                f"expected a tensor of shape ({batch},)",
                SCALAR,
            )
        nan = torch.full((batch,), math.nan, dtype=torch.float64)
        expect_close(
            ld_forward + ld_inverse,
            torch.zeros(batch, dtype=dtype),
            what="forward log-det + inverse log-det (should be 0)",
            misconceptions={MISSING_ABS: nan, WRONG_SIGN: 2 * ld_forward},
            hint=NO_CANCEL,
        )


@pytest.mark.points(1)
def test_log_det_matches_jacobian(student, rng):
    """Your log-dets equal log|det J| of your own maps (finite differences + slogdet)."""
    for channels, height, width in ((2, 2, 3), (3, 1, 2), (1, 3, 1)):
        z, params = _inputs(rng, 1, channels, height, width, torch.float64, "cpu")
        points = perturbation_batch(z[0])
        for function, names in (
            ("invertible_conv_forward", "dx/dz"),
            ("invertible_conv_inverse", "dz/dx"),
        ):
            outputs, _ = _call_pair(student, function, points, params)
            _, log_det = _call_pair(student, function, z, params)
            outputs = expect_map_outputs(outputs, points, function=function)
            oracle = finite_difference_log_abs_det(outputs).reshape(1)
            _expect_log_det(
                log_det,
                oracle,
                what=f"log_det of {function} vs log|det {names}| of your own map at one point "
                f"(C={channels}, H={height}, W={width})",
                misconceptions=lazy(
                    _log_det_misconceptions,
                    oracle,
                    params,
                    height * width,
                    1 if "forward" in function else -1,
                ),
                hint="the log-det you return does not describe the map you implemented: "
                "check that your W really has log|det W| = sum(log_abs_diag)",
            )


@pytest.mark.points(1)
def test_extreme_diagonal(student, reference, device, rng):
    """|U_ii| from e^-80 to e^80 (float32), e^-600 to e^600 (float64): log-dets stay exact.

    They are H*W*sum(log_abs_diag), finite, whatever W's entries do."""
    for dtype in (torch.float32, torch.float64):
        low, high = EXTREME_LOG[dtype]
        z, params = _inputs(rng, 2, 3, 2, 3, dtype, device)
        size = low + (high - low) * torch.rand(3, generator=rng, dtype=torch.float64)
        log_abs_diag = (size * torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64)).to(dtype)
        params = (*params[:4], log_abs_diag.to(device))
        for function, sign in (("invertible_conv_forward", 1), ("invertible_conv_inverse", -1)):
            _, ld_ref = getattr(reference, function)(z, *params)
            _, log_det = _call_pair(student, function, z, params)
            what = (
                f"log-det of {function} with |U_ii| from e^-{high:g} to e^{high:g} "
                f"({str(dtype).removeprefix('torch.')})"
            )
            _expect_log_det(
                log_det,
                ld_ref,
                what=what,
                misconceptions=lazy(_log_det_misconceptions, ld_ref, params, 6, sign),
                hint=EXTREME_DIAGONAL,
            )
            expect_finite(log_det, what=what, hint=EXTREME_DIAGONAL)


@pytest.mark.points(1)
def test_gradients(student, reference, rng):
    """Gradients of W, the maps, log-dets (input, lower, upper, log_abs_diag) match the reference.

    Compared in float64 with the reference's autograd: what training needs."""
    trained = (2, 3, 5)  # lower, upper, log_abs_diag as arguments of the maps (z comes first)
    params = _params(rng, 3, torch.float64, "cpu")
    spec = gradient_spec(rng, reference.lu_weight(*params), wrt=(1, 2, 4))
    expect_same_gradients(
        student,
        reference,
        "lu_weight",
        params,
        spec,
        names=PARAM_NAMES,
        outputs=["W"],
    )
    for function, first in (("invertible_conv_forward", "z"), ("invertible_conv_inverse", "x")):
        v, params = _inputs(rng, 2, 3, 2, 2, torch.float64, "cpu")
        args = (v, *params)
        spec = gradient_spec(rng, getattr(reference, function)(*args), wrt=(0, *trained))
        expect_same_gradients(
            student,
            reference,
            function,
            args,
            spec,
            names=[first, *PARAM_NAMES],
            outputs=["x" if first == "z" else "z", "log_det"],
        )


@pytest.mark.points(1)
def test_structure(student, reference, device, rng):
    """Shape, dtype, device kept; no in-place writes, no stray device (needs correct values)."""
    for dtype in (torch.float32, torch.float64):
        z, params = _inputs(rng, 3, 3, 2, 5, dtype, device)
        for function in ("invertible_conv_forward", "invertible_conv_inverse"):
            result = student.call_full(
                function, (z, *params), return_inputs=True, check_device=True
            )
            got = expect_tuple(result.value, 2, function, "(tensor, log_det)")
            expected = getattr(reference, function)(z, *params)
            forward = "forward" in function
            expect_close(
                got[0],
                expected[0],
                what=f"{function} values (structure points need correct values)",
                misconceptions=lazy(_x_misconceptions if forward else _z_misconceptions, z, params),
            )
            _expect_log_det(
                got[1],
                expected[1],
                what=f"{function} log-det values",
                misconceptions=lazy(
                    _log_det_misconceptions,
                    expected[1],
                    params,
                    z.shape[-2] * z.shape[-1],
                    1 if forward else -1,
                ),
            )
            expect_structure(
                got[0], expected[0], what=f"first output of {function} for input of {describe(z)}"
            )
            expect_structure(
                got[1], expected[1], what=f"log_det of {function} for input of {describe(z)}"
            )
            first = "z" if "forward" in function else "x"
            expect_unchanged(
                [z, *params], result.inputs_after, function=function, names=[first, *PARAM_NAMES]
            )
            expect_finite(got[0], what=f"{function} output")
            expect_clean_call(result, function=function, names=[first, *PARAM_NAMES])
        weight = student.call_full("lu_weight", params, return_inputs=True, check_device=True)
        expect_close(
            weight.value,
            reference.lu_weight(*params),
            what="lu_weight values",
            misconceptions=lazy(_wrong_weights, params),
        )
        expect_structure(weight.value, reference.lu_weight(*params), what="W from lu_weight")
        expect_unchanged(params, weight.inputs_after, function="lu_weight", names=PARAM_NAMES)
        expect_clean_call(weight, function="lu_weight", names=PARAM_NAMES)
