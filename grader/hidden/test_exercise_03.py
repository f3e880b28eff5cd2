"""Hidden tests for exercise-03 (RealNVP affine coupling). 10 points.

Inputs are drawn per test from the run's seed; expected values come from `solutions`,
cross-checked by independent oracles (round trip, finite-difference Jacobian + slogdet).
Log-scales reach e^+-40 (float32 too); gradients with respect to the input and the
conditioner's weights are compared with the reference's; the structure test runs under the
virtual-device check and the worker's watch for in-place writes (into the conditioner's
outputs too).
"""

from __future__ import annotations

import math

import pytest
import torch

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
from grader.testing.checks import expect_clean_call, missing_term_misconceptions
from grader.testing.flows import ConstantConditioner, MLPConditioner
from grader.testing.gradients import (
    expect_same_gradients,
    gradient_spec,
)
from grader.testing.oracles import finite_difference_log_abs_det, perturbation_batch

CASES = [(1, 2, torch.float64), (5, 5, torch.float32), (4, 8, torch.float64), (3, 7, torch.float32)]

WRONG_SIGN = "the log-det has the wrong sign: forward gives +sum(log_s), the inverse -sum(log_s)"
SCALE_NOT_LOG = "the determinant uses s = exp(log_s), not log_s: log|det| = sum(log_s), not sum(s)"
NO_CANCEL = (
    "your forward and inverse log-dets do not cancel: at matching points log|det dz/dx| = "
    "-log|det dx/dz|; check that both sum log_s over every transformed dimension"
)
EPS_IN_LOG = (
    "the log-det is sum(log_s) exactly: do not recompute it as log(s + eps) from "
    "s = exp(log_s), which is wrong for tiny scales (here s reaches e^-40)"
)
WRONG_HALF = (
    "wrong half of the split: keep z[:, :d//2] unchanged, feed it to the conditioner, "
    "and transform z[:, d//2:]"
)


def _inputs(rng: torch.Generator, batch: int, d: int, dtype: torch.dtype, device, scale=0.5):
    z = torch.randn(batch, d, generator=rng, dtype=torch.float64).to(dtype).to(device)
    seed = int(torch.randint(0, 2**31, (1,), generator=rng))
    conditioner = MLPConditioner(d // 2, d - d // 2, seed=seed, scale=scale).to(device)
    return z, conditioner


def _forward_misconceptions(reference, z, conditioner, clamp=None):
    """Values that a typical mistake would produce for (x, log_det)."""
    half = z.shape[-1] // 2
    z_a, z_b = z[..., :half], z[..., half:]
    log_s, t = conditioner(z_a)
    if clamp is not None:
        log_s = reference.soft_clamp(log_s, clamp)
    x_ref, ld_ref = reference.affine_coupling_forward(z, conditioner, clamp)
    x_lin = torch.cat([z_a, z_b * log_s + t], dim=-1)
    x_misc = {
        "the scale is s = exp(log_s): x_b = z_b * exp(log_s) + t, not z_b * log_s + t": x_lin,
        "x_b = z_b * exp(log_s) + t: multiply first, then add the shift (not (z_b + t) * s)": (
            torch.cat([z_a, (z_b + t) * torch.exp(log_s)], dim=-1)
        ),
    }
    ld_misc = [
        (WRONG_SIGN, -ld_ref),
        (SCALE_NOT_LOG, torch.exp(log_s).sum(-1)),
        *_log_det_slips(log_s, 1.0),
    ]
    return x_ref, ld_ref, x_misc, ld_misc


def _log_det_slips(log_s: torch.Tensor, sign: float) -> list[tuple[str, torch.Tensor]]:
    """sign * sum(log_s) with one dimension left out, or recomputed as log(exp(log_s) + eps)."""
    log_s = log_s.detach().double()
    name = lambda k: f"log_s of transformed dimension {k + 1} of {log_s.shape[-1]}"  # noqa: E731
    wrong = missing_term_misconceptions(sign * log_s.sum(-1), sign * log_s.movedim(-1, 0), name)
    for eps in (1e-12, 1e-10, 1e-8, 1e-6):
        wrong.append((EPS_IN_LOG, sign * torch.log(torch.exp(log_s) + eps).sum(-1)))
    return wrong


@pytest.mark.points(1)
def test_soft_clamp(student, reference, device, rng):
    """soft_clamp matches the course's tanh soft clamp: identity near 0, bounded, finite."""
    raw = torch.cat(
        [
            torch.randn(20, generator=rng, dtype=torch.float64) * 3,
            torch.tensor([0.0, 1e-4, 50.0, -1e4]),
        ]
    ).to(device)
    for bound in (1.0, 3.0):
        got = student.soft_clamp(raw, bound)
        expected = reference.soft_clamp(raw, bound)
        expect_close(
            got,
            expected,
            what=f"soft_clamp(raw, bound={bound}) on {describe(raw)}",
            misconceptions={
                "use a *soft* clamp: a hard clamp (torch.clamp) has zero gradient beyond the "
                "bound, so the network stops learning there": raw.clamp(-bound, bound),
                "divide inside the tanh: bound * tanh(raw / bound) has slope 1 at zero, "
                "bound * tanh(raw) does not": bound * torch.tanh(raw),
            },
        )


@pytest.mark.points(1)
def test_worked_example(student):
    """Worked example 2: z = (1, 3), log s = 0.5, t = 2 gives x = (1, 6.946), log|det J| = 0.5."""
    conditioner = ConstantConditioner([0.5], [2.0])
    z = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    x, log_det = expect_tuple(
        student.affine_coupling_forward(z, conditioner),
        2,
        "affine_coupling_forward",
        "(x, log_det)",
    )
    expected_x = torch.tensor([[1.0, 3.0 * math.exp(0.5) + 2.0]], dtype=torch.float64)
    expect_close(
        x,
        expected_x,
        what="x for z = (1, 3), log s = 0.5, t = 2 (expected (1, 6.946))",
        misconceptions={WRONG_HALF: torch.tensor([[1.0 * math.exp(0.5) + 2.0, 3.0]])},
    )
    expect_close(
        log_det,
        torch.tensor([0.5], dtype=torch.float64),
        what="log|det dx/dz| for that example (expected 0.5)",
        misconceptions={
            WRONG_SIGN: torch.tensor([-0.5]),
            SCALE_NOT_LOG: torch.tensor([math.exp(0.5)]),
        },
    )


@pytest.mark.points(1)
def test_forward_matches_reference(student, reference, device, rng):
    """Forward pass z -> (x, log_det) matches the reference for several shapes and dtypes."""
    for batch, d, dtype in CASES:
        z, conditioner = _inputs(rng, batch, d, dtype, device)
        x_ref, ld_ref, x_misc, ld_misc = _forward_misconceptions(reference, z, conditioner)
        x_misc = list(x_misc.items())
        if d % 2 == 0:  # conditioning on the wrong half only type-checks for even d
            half = d // 2
            log_s, t = conditioner(z[..., half:])
            kept, moved = z[..., half:], z[..., :half] * torch.exp(log_s) + t
            x_misc += [(WRONG_HALF, torch.cat([moved, kept], -1))]
            x_misc += [(WRONG_HALF, torch.cat([kept, moved], -1))]
        x, log_det = expect_tuple(
            student.affine_coupling_forward(z, conditioner),
            2,
            "affine_coupling_forward",
            "(x, log_det)",
        )
        where = f"(B={batch}, d={d}, {str(dtype).removeprefix('torch.')})"
        expect_close(
            x,
            x_ref,
            what=f"x = forward(z) {where}",
            misconceptions=x_misc,
        )
        expect_close(
            log_det, ld_ref, what=f"log|det dx/dz| from forward {where}", misconceptions=ld_misc
        )


@pytest.mark.points(1)
def test_inverse_matches_reference(student, reference, device, rng):
    """Inverse pass x -> (z, log_det) matches the reference for several shapes and dtypes."""
    for batch, d, dtype in CASES:
        x, conditioner = _inputs(rng, batch, d, dtype, device)
        z_ref, ld_ref = reference.affine_coupling_inverse(x, conditioner)
        half = d // 2
        x_a, x_b = x[..., :half], x[..., half:]
        log_s, t = conditioner(x_a)
        z, log_det = expect_tuple(
            student.affine_coupling_inverse(x, conditioner),
            2,
            "affine_coupling_inverse",
            "(z, log_det)",
        )
        where = f"(B={batch}, d={d}, {str(dtype).removeprefix('torch.')})"
        expect_close(
            z,
            z_ref,
            what=f"z = inverse(x) {where}",
            misconceptions={
                "undo the steps in reverse order: subtract t first, then divide by s: "
                "z_b = (x_b - t) * exp(-log_s)": torch.cat([x_a, x_b * torch.exp(-log_s) - t], -1),
                "the inverse divides by s = exp(log_s); it does not multiply": torch.cat(
                    [x_a, (x_b - t) * torch.exp(log_s)], -1
                ),
                "forward vs inverse: this is the forward map; the inverse must undo it": (
                    reference.affine_coupling_forward(x, conditioner)[0]
                ),
            },
        )
        expect_close(
            log_det,
            ld_ref,
            what=f"log|det dz/dx| from inverse {where}",
            misconceptions=[
                (WRONG_SIGN, -ld_ref),
                (SCALE_NOT_LOG, -torch.exp(log_s).sum(-1)),
                *_log_det_slips(log_s, -1.0),
            ],
        )


@pytest.mark.points(1)
def test_round_trip(student, device, rng):
    """Your inverse undoes your forward: inverse(forward(z)) = z and the log-dets cancel."""
    for batch, d, dtype in CASES:
        z, conditioner = _inputs(rng, batch, d, dtype, device)
        x, ld_forward = expect_tuple(
            student.affine_coupling_forward(z, conditioner),
            2,
            "affine_coupling_forward",
            "(x, log_det)",
        )
        back, ld_inverse = expect_tuple(
            student.affine_coupling_inverse(x, conditioner),
            2,
            "affine_coupling_inverse",
            "(z, log_det)",
        )
        expect_close(
            back,
            z,
            what=f"inverse(forward(z)) for z of {describe(z)}",
            hint="your inverse does not undo your forward; derive z_b from x_b step by step",
        )
        expect_close(
            ld_forward + ld_inverse,
            torch.zeros_like(ld_forward),
            what="forward log-det + inverse log-det (should be 0)",
            misconceptions={WRONG_SIGN: 2 * ld_forward},  # both passes gave the same sign
            hint=NO_CANCEL,
        )


@pytest.mark.points(1)
def test_log_det_matches_jacobian(student, rng):
    """Your forward log-det equals log|det J| of your own map (finite differences + slogdet)."""
    for d in (2, 5):
        z, conditioner = _inputs(rng, 1, d, torch.float64, "cpu", scale=1.0)
        points = perturbation_batch(z[0])
        outputs, _ = expect_tuple(
            student.affine_coupling_forward(points, conditioner),
            2,
            "affine_coupling_forward",
            "(x, log_det)",
        )
        _, log_det = expect_tuple(
            student.affine_coupling_forward(z, conditioner),
            2,
            "affine_coupling_forward",
            "(x, log_det)",
        )
        outputs = expect_map_outputs(outputs, points, function="affine_coupling_forward")
        oracle = finite_difference_log_abs_det(outputs).reshape(1)
        log_s, _ = conditioner(z[..., : d // 2])
        expect_close(
            log_det,
            oracle,
            what=f"log_det vs log|det J| of your forward map at one point (d={d})",
            rtol=1e-5,
            atol=1e-6,
            misconceptions=[(WRONG_SIGN, -oracle), *_log_det_slips(log_s, 1.0)],
            hint="the log-det you return does not describe the map you implemented",
        )


@pytest.mark.points(1)
def test_clamped_large_log_scales(student, reference, device, rng):
    """With clamp=2 and huge raw log-scales, forward and inverse stay finite and correct."""
    z, conditioner = _inputs(rng, 6, 6, torch.float32, device, scale=200.0)
    x_ref, ld_ref = reference.affine_coupling_forward(z, conditioner, 2.0)
    x, log_det = expect_tuple(
        student.affine_coupling_forward(z, conditioner, 2.0),
        2,
        "affine_coupling_forward",
        "(x, log_det)",
    )
    hint = (
        "when clamp is given, apply soft_clamp(log_s, clamp) to the conditioner's log-scale "
        "before exp()"
    )
    expect_finite(x, what="x = forward(z, clamp=2) with raw log-scales near +-200", hint=hint)
    expect_close(x, x_ref, what="x = forward(z, clamp=2)", hint=hint)
    expect_close(log_det, ld_ref, what="log_det of forward(z, clamp=2)", hint=hint)
    z_back, _ = expect_tuple(
        student.affine_coupling_inverse(x_ref, conditioner, 2.0),
        2,
        "affine_coupling_inverse",
        "(z, log_det)",
    )
    expect_close(
        z_back,
        reference.affine_coupling_inverse(x_ref, conditioner, 2.0)[0],
        what="z = inverse(x, clamp=2)",
        hint=hint,
    )


@pytest.mark.points(1)
def test_extreme_log_scales(student, reference, device, rng):
    """Log-scales of +-25 to +-40 without a clamp (float32 too): the log-dets stay exact.

    s = exp(log_s) runs from e^-40 to e^40; the maps stay finite."""
    for dtype in (torch.float32, torch.float64):
        for size in ((3, 2), (2, 4)):
            batch, d_b = size
            magnitude = 25.0 + 15.0 * torch.rand(d_b, generator=rng, dtype=torch.float64)
            sign = torch.where(torch.rand(d_b, generator=rng) < 0.5, -1.0, 1.0).double()
            shift = torch.randn(d_b, generator=rng, dtype=torch.float64)
            conditioner = ConstantConditioner((magnitude * sign).tolist(), shift.tolist())
            d = 2 * d_b
            z = torch.randn(batch, d, generator=rng, dtype=torch.float64).to(dtype).to(device)
            where = f"(B={batch}, d={d}, {str(dtype).removeprefix('torch.')})"
            log_s = conditioner(z[..., :d_b])[0]
            for function, sign_of_log_det in (("affine_coupling_forward", 1.0),
                                              ("affine_coupling_inverse", -1.0)):  # fmt: skip
                v = z if sign_of_log_det > 0 else reference.affine_coupling_forward(
                    z, conditioner)[0]  # fmt: skip
                out_ref, ld_ref = getattr(reference, function)(v, conditioner)
                out, log_det = expect_tuple(
                    getattr(student, function)(v, conditioner), 2, function, "(tensor, log_det)"
                )
                what = f"{function} with log-scales of size 25 to 40 {where}"
                expect_close(out, out_ref, what=f"output of {what}")
                expect_close(
                    log_det,
                    ld_ref,
                    what=f"log-det of {what}",
                    misconceptions=[(WRONG_SIGN, -ld_ref), *_log_det_slips(log_s, sign_of_log_det)],
                )
                expect_finite(log_det, what=f"log-det of {what}", hint=EPS_IN_LOG)


@pytest.mark.points(1)
def test_gradients(student, reference, rng):
    """Gradients with respect to z, x, the conditioner's weights and raw match the reference's.

    Compared in float64 with the reference's autograd: what training needs."""
    raw = torch.randn(7, generator=rng, dtype=torch.float64) * 3
    spec = gradient_spec(rng, reference.soft_clamp(raw, 2.0), wrt=(0,))
    expect_same_gradients(
        student,
        reference,
        "soft_clamp",
        (raw, 2.0),
        spec,
        names=["raw", "bound"],
        outputs=["clamped log-scale"],
        hint="a hard clamp has zero gradient beyond the bound: use bound * tanh(raw / bound)",
    )
    for function, names, clamp in (
        ("affine_coupling_forward", ["z", "conditioner"], None),
        ("affine_coupling_inverse", ["x", "conditioner"], None),
        ("affine_coupling_forward", ["z", "conditioner", "clamp"], 1.5),
    ):
        v, conditioner = _inputs(rng, 3, 5, torch.float64, "cpu", scale=1.0)
        args = (v, conditioner) if clamp is None else (v, conditioner, clamp)
        spec = gradient_spec(rng, getattr(reference, function)(*args), wrt=(0,), params=True)
        expect_same_gradients(
            student,
            reference,
            function,
            args,
            spec,
            label=function + ("" if clamp is None else f" with clamp={clamp}"),
            names=names,
            outputs=["x" if "forward" in function else "z", "log_det"],
        )


@pytest.mark.points(1)
def test_structure(student, reference, device, rng):
    """Shape, dtype, device kept; no in-place writes, no stray device (needs correct values)."""
    for dtype in (torch.float32, torch.float64):
        z, conditioner = _inputs(rng, 3, 6, dtype, device)
        for function in ("affine_coupling_forward", "affine_coupling_inverse"):
            names = ["z" if "forward" in function else "x"]
            result = student.call_full(
                function, (z, conditioner), return_inputs=True, check_device=True
            )
            got = expect_tuple(result.value, 2, function, "(tensor, log_det)")
            expected = getattr(reference, function)(z, conditioner)
            expect_close(
                got[0],
                expected[0],
                what=f"{function} values (structure points need correct values)",
            )
            expect_close(got[1], expected[1], what=f"{function} log-det values")
            expect_structure(
                got[0], expected[0], what=f"first output of {function} for input of {describe(z)}"
            )
            expect_structure(
                got[1], expected[1], what=f"log_det of {function} for input of {describe(z)}"
            )
            expect_unchanged(
                [z],
                result.inputs_after,
                function=function,
                names=names,
            )
            expect_true(bool(torch.isfinite(got[1]).all()), f"{function} log-det", "not finite")
            expect_clean_call(result, function=function, names=[names[0], "conditioner"])
