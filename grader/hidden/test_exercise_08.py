"""Hidden tests for exercise-08 (MAF vs IAF). 10 points.

Inputs are drawn per test from the run's seed; the conditioner is the trusted masked
network of `grader.testing.flows_08`. Expected values come from `solutions`, cross-checked
by independent oracles: round trips and cancelling log-dets of the student's own maps,
and a finite-difference Jacobian + slogdet of each of the four maps (which must also be
lower triangular). Which direction is parallel is judged by the number of conditioner
calls, counted by the worker's watch (`result.calls`) and limited by the conditioner itself
(`call_limit`, which a kit enforces too), never by wall time: one call for MAF density and
IAF sampling, at most d for MAF sampling and IAF density. Log-scales reach +-200 (their
sum +-1200, past float64's exp range); gradients (input and conditioner weights) are
compared with the reference's; the structure test runs under the virtual-device check and
the worker's watch for in-place writes.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import Tensor

from grader.runner.errors import StudentRaised
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
from grader.testing.checks import expect_clean_call, fail, lazy, part_of
from grader.testing.flows_08 import ConditionerCallLimit, MaskedConditioner
from grader.testing.gradients import (
    expect_same_gradients,
    gradient_spec,
)
from grader.testing.oracles import finite_difference_jacobian, perturbation_batch

CASES = [(1, 1, torch.float64), (5, 2, torch.float32), (4, 5, torch.float64), (3, 8, torch.float32)]
Device = torch.device | str
Step = Callable[[Tensor, Tensor, Tensor], Tensor]  # (given_i, a_i, m_i) -> output_i
FUNCTIONS = ("maf_inverse", "maf_forward", "iaf_forward", "iaf_inverse")
# what each function reads and returns, and the log-det it returns
INPUT = {"maf_inverse": "x", "maf_forward": "z", "iaf_forward": "z", "iaf_inverse": "x"}
OUTPUT = {"maf_inverse": "z", "maf_forward": "x", "iaf_forward": "x", "iaf_inverse": "z"}
LOG_DET = {f: f"log|det d{OUTPUT[f]}/d{INPUT[f]}|" for f in FUNCTIONS}
CALLS = "args[1].forward"  # the watch's name for the conditioner's calls

MAF_FED_Z = (
    "MAF and IAF swapped: in a MAF the conditioner reads the DATA x (a_i(x_<i), m_i(x_<i)); "
    "you fed it z, which is the IAF"
)
IAF_FED_X = (
    "MAF and IAF swapped: in an IAF the conditioner reads the NOISE z (a_i(z_<i), m_i(z_<i)); "
    "you fed it x, which is the MAF"
)
EXP_SIGN_INVERSE = (
    "to undo x_i = z_i exp(a_i) + m_i you divide by exp(a_i): multiply by exp(-a_i), not exp(+a_i)"
)
INVERSE_ORDER = (
    "undo the forward steps in reverse order: subtract m_i first, then divide by exp(a_i): "
    "z_i = (x_i - m_i) exp(-a_i), not x_i exp(-a_i) - m_i"
)
SHIFT_FIRST = "x_i = z_i exp(a_i) + m_i: scale first, then shift (not (z_i + m_i) exp(a_i))"
EXP_SIGN_FORWARD = "the forward map scales by exp(+a_i): x_i = z_i exp(a_i) + m_i"
OUTPUTS_SWAPPED = (
    "the conditioner returns (log_scale, shift) in that order: a, m = conditioner(v); "
    "you used them the other way round"
)
FORWARD_NOT_INVERSE = "this is the sampling map z -> x; x -> z must undo it"
INVERSE_NOT_FORWARD = "this undoes the map; z -> x is x = z exp(a) + m"
SIGN_DZDX = (
    "wrong sign of the log-det: x -> z returns log|det dz/dx| = -sum_i a_i "
    "(the diagonal of dz/dx is exp(-a_i))"
)
SIGN_DXDZ = (
    "wrong sign of the log-det: z -> x returns log|det dx/dz| = +sum_i a_i "
    "(the diagonal of dx/dz is exp(a_i))"
)
LOG_DET_EXP = "log|det| = sum_i log exp(+-a_i) = +-sum_i a_i, not a sum of exp(a_i)"
TOO_FEW_PASSES = (
    "one pass too few: after k passes only the first k entries are final (pass k reads "
    "entries 1..k-1), so a sequential direction needs d passes"
)
ONE_PASS_PARALLEL = (
    "a loop where one pass suffices: here the conditioner's input is known from the start "
    "(x for a MAF's density, z for an IAF's samples), so ONE call conditioner(v) on the "
    "whole batch gives every a_i and m_i"
)
SEQUENTIAL_BUDGET = (
    "d calls suffice: call i, on the whole batch with the entries found so far (and "
    "anything finite after them), gives a_i and m_i; the last call's log-scales are all "
    "final, so the log-det needs no extra call. Do not loop over samples: the sequence "
    "runs over dimensions"
)
NOT_TRIANGULAR = (
    "an autoregressive map has a lower-triangular Jacobian: output i may depend on inputs "
    "1..i only; entry i of your output depends on a later input"
)
ROUND_TRIP = (
    "your {inverse} does not undo your {forward}: both must feed the conditioner the same "
    "variable ({variable}), and the sequential one must solve for it one dimension at a time"
)
NO_CANCEL = (
    "the log-dets of your two directions do not cancel: at matching points "
    "log|det dz/dx| = -log|det dx/dz|"
)
HUGE_LOG_SCALES = (
    "with log-scales near +-200 (float64) or +-40 (float32) the scales exp(a_i) of d = 6 "
    "dimensions multiply to exp(+-1200) or exp(+-240), past the dtype's range: "
    "log|det| = +-sum_i a_i needs no exp and no product"
)


# ------------------------------------------------------------------ inputs


def _conditioner(
    rng: torch.Generator, d: int, device: Device, scale: float = 0.5, offset: float = 0.0
) -> MaskedConditioner:
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=rng))
    return MaskedConditioner(d, seed, scale=scale, offset=offset).to(device)


def _normal(rng: torch.Generator, batch: int, d: int, dtype: torch.dtype, device: Device) -> Tensor:
    return torch.randn(batch, d, generator=rng, dtype=torch.float64).to(dtype).to(device)


def _data(
    function: str, z: Tensor, conditioner: MaskedConditioner, reference: ModuleType
) -> Tensor:
    """What `function` is given: z itself, or data x = forward(z) of the same flow (typical
    flow outputs, so a sequential inverse stays moderate)."""
    if INPUT[function] == "z":
        return z
    forward = "maf_forward" if function.startswith("maf") else "iaf_forward"
    return getattr(reference, forward)(z, conditioner)[0].detach()


def _away_from_shifts(function: str, noise: Tensor, conditioner: MaskedConditioner) -> Tensor:
    """Data x for an x -> z function whose entries keep |x_i - m_i| >= 0.25 from their shifts.

    With log-scales near -40, z_i = (x_i - m_i) exp(-a_i) amplifies the cancellation in
    x_i - m_i: x drawn from N(0, I) lands within float32 rounding of m_i now and then, and a
    correct answer that calls the conditioner in float64 would miss the tolerance there. So
    x is built one dimension at a time along the map: x_i = m_i + s_i with
    |s_i| = 0.25 + |noise_i| (m_i read from x_<i for a MAF, from the solved z_<i for an IAF).
    `noise` (B, d) gives the signs and sizes; the result has its dtype and device."""
    steps = torch.sign(noise) * (0.25 + noise.abs())
    x, z = torch.zeros_like(noise), torch.zeros_like(noise)
    with torch.no_grad():
        for i in range(noise.shape[-1]):
            log_scale, shift = conditioner(x if function == "maf_inverse" else z)
            x[:, i] = shift[:, i] + steps[:, i]
            z[:, i] = steps[:, i] * torch.exp(-log_scale[:, i])
    return x


def _where(batch: int, d: int, dtype: torch.dtype, extra: str = "") -> str:
    return f"(B={batch}, d={d}{extra}, {str(dtype).removeprefix('torch.')})"


# ------------------------------------------------------------------ misconceptions


def _sequential(
    given: Tensor, conditioner: MaskedConditioner, step: Step, passes: int | None = None
) -> tuple[Tensor, Tensor]:
    """Solve output_i = step(given_i, a_i, m_i) with the conditioner reading the output:
    `passes` full passes from zeros (d passes: exact). -> (output, log-scales of the last)"""
    d = given.shape[-1]
    output = torch.zeros_like(given)
    log_scale = torch.zeros_like(given)
    for _ in range(d if passes is None else passes):
        log_scale, shift = conditioner(output)
        output = step(given, log_scale, shift)
    return output, log_scale


def _inverse_step(v: Tensor, a: Tensor, m: Tensor) -> Tensor:
    return (v - m) * torch.exp(-a)


def _forward_step(v: Tensor, a: Tensor, m: Tensor) -> Tensor:
    return v * torch.exp(a) + m


def _maf_inverse_misconceptions(x: Tensor, conditioner: MaskedConditioner) -> tuple[dict, dict]:
    """Wrong (z, log_det) of maf_inverse, one per typical mistake."""
    a, m = conditioner(x)
    z_iaf, a_iaf = _sequential(x, conditioner, _inverse_step)
    z_misc = {
        MAF_FED_Z: z_iaf,
        EXP_SIGN_INVERSE: (x - m) * torch.exp(a),
        INVERSE_ORDER: x * torch.exp(-a) - m,
        OUTPUTS_SWAPPED: (x - a) * torch.exp(-m),
        FORWARD_NOT_INVERSE: x * torch.exp(a) + m,
    }
    ld_misc = {
        SIGN_DZDX: a.sum(-1),
        MAF_FED_Z: -a_iaf.sum(-1),
        LOG_DET_EXP: -torch.exp(a).sum(-1),
        OUTPUTS_SWAPPED: -m.sum(-1),
    }
    return z_misc, ld_misc


def _maf_forward_misconceptions(z: Tensor, conditioner: MaskedConditioner) -> tuple[dict, dict]:
    """Wrong (x, log_det) of maf_forward."""
    a_z, m_z = conditioner(z)
    _, a = _sequential(z, conditioner, _forward_step)
    short, _ = _sequential(z, conditioner, _forward_step, passes=z.shape[-1] - 1)
    x_misc = {
        MAF_FED_Z: z * torch.exp(a_z) + m_z,
        SHIFT_FIRST: _sequential(z, conditioner, lambda v, a, m: (v + m) * torch.exp(a))[0],
        EXP_SIGN_FORWARD: _sequential(z, conditioner, lambda v, a, m: v * torch.exp(-a) + m)[0],
        OUTPUTS_SWAPPED: _sequential(z, conditioner, lambda v, a, m: v * torch.exp(m) + a)[0],
        INVERSE_NOT_FORWARD: _sequential(z, conditioner, _inverse_step)[0],
    }
    if z.shape[-1] > 1:
        x_misc[TOO_FEW_PASSES] = short
    ld_misc = {
        SIGN_DXDZ: -a.sum(-1),
        MAF_FED_Z: a_z.sum(-1),
        LOG_DET_EXP: torch.exp(a).sum(-1),
    }
    return x_misc, ld_misc


def _iaf_forward_misconceptions(z: Tensor, conditioner: MaskedConditioner) -> tuple[dict, dict]:
    """Wrong (x, log_det) of iaf_forward."""
    a, m = conditioner(z)
    x_maf, a_maf = _sequential(z, conditioner, _forward_step)
    x_misc = {
        IAF_FED_X: x_maf,
        SHIFT_FIRST: (z + m) * torch.exp(a),
        EXP_SIGN_FORWARD: z * torch.exp(-a) + m,
        OUTPUTS_SWAPPED: z * torch.exp(m) + a,
        INVERSE_NOT_FORWARD: (z - m) * torch.exp(-a),
    }
    ld_misc = {
        SIGN_DXDZ: -a.sum(-1),
        IAF_FED_X: a_maf.sum(-1),
        LOG_DET_EXP: torch.exp(a).sum(-1),
        OUTPUTS_SWAPPED: m.sum(-1),
    }
    return x_misc, ld_misc


def _iaf_inverse_misconceptions(x: Tensor, conditioner: MaskedConditioner) -> tuple[dict, dict]:
    """Wrong (z, log_det) of iaf_inverse."""
    a_x, m_x = conditioner(x)
    _, a = _sequential(x, conditioner, _inverse_step)
    short, _ = _sequential(x, conditioner, _inverse_step, passes=x.shape[-1] - 1)
    z_misc = {
        IAF_FED_X: (x - m_x) * torch.exp(-a_x),
        EXP_SIGN_INVERSE: _sequential(x, conditioner, lambda v, a, m: (v - m) * torch.exp(a))[0],
        INVERSE_ORDER: _sequential(x, conditioner, lambda v, a, m: v * torch.exp(-a) - m)[0],
        OUTPUTS_SWAPPED: _sequential(x, conditioner, lambda v, a, m: (v - a) * torch.exp(-m))[0],
        FORWARD_NOT_INVERSE: _sequential(x, conditioner, _forward_step)[0],
    }
    if x.shape[-1] > 1:
        z_misc[TOO_FEW_PASSES] = short
    ld_misc = {
        SIGN_DZDX: a.sum(-1),
        IAF_FED_X: -a_x.sum(-1),
        LOG_DET_EXP: -torch.exp(a).sum(-1),
    }
    return z_misc, ld_misc


MISCONCEPTIONS = {
    "maf_inverse": _maf_inverse_misconceptions,
    "maf_forward": _maf_forward_misconceptions,
    "iaf_forward": _iaf_forward_misconceptions,
    "iaf_inverse": _iaf_inverse_misconceptions,
}


def _unpack(value: Any, function: str) -> tuple[Any, Any]:
    return expect_tuple(value, 2, function, f"({OUTPUT[function]}, log_det)")  # type: ignore[return-value]


def _check_values(
    function: str,
    got: Any,
    v: Tensor,
    conditioner: MaskedConditioner,
    reference: ModuleType,
    where: str,
) -> None:
    """The student's (output, log_det) of `function` at v against the reference's."""
    expected, ld_expected = getattr(reference, function)(v, conditioner)
    output, log_det = _unpack(got, function)
    misc = lazy(MISCONCEPTIONS[function], v, conditioner)
    name = f"{OUTPUT[function]} = {function}({INPUT[function]})"
    expect_close(output, expected, what=f"{name} {where}", misconceptions=part_of(misc, 0))
    expect_close(
        log_det,
        ld_expected,
        what=f"{LOG_DET[function]} from {function} {where}",
        misconceptions=part_of(misc, 1),
    )


def _matches_reference(student: Any, reference: ModuleType, function: str, device, rng) -> None:
    for batch, d, dtype in CASES:
        conditioner = _conditioner(rng, d, device)
        v = _data(function, _normal(rng, batch, d, dtype, device), conditioner, reference)
        got = getattr(student, function)(v, conditioner)
        _check_values(function, got, v, conditioner, reference, _where(batch, d, dtype))


# ------------------------------------------------------------------ tests


@pytest.mark.points(1)
def test_maf_inverse_matches_reference(student, reference, device, rng):
    """MAF density direction x -> (z, log|det dz/dx|) matches the reference (shapes, dtypes)."""
    _matches_reference(student, reference, "maf_inverse", device, rng)


@pytest.mark.points(1)
def test_maf_forward_matches_reference(student, reference, device, rng):
    """MAF sampling direction z -> (x, log|det dx/dz|) matches the reference (shapes, dtypes)."""
    _matches_reference(student, reference, "maf_forward", device, rng)


@pytest.mark.points(1)
def test_iaf_forward_matches_reference(student, reference, device, rng):
    """IAF sampling direction z -> (x, log|det dx/dz|) matches the reference (shapes, dtypes)."""
    _matches_reference(student, reference, "iaf_forward", device, rng)


@pytest.mark.points(1)
def test_iaf_inverse_matches_reference(student, reference, device, rng):
    """IAF density direction x -> (z, log|det dz/dx|) matches the reference (shapes, dtypes)."""
    _matches_reference(student, reference, "iaf_inverse", device, rng)


@pytest.mark.points(1)
def test_round_trips(student, device, rng):
    """Your inverses undo your forwards (MAF and IAF, both ways round) and the log-dets cancel."""
    for batch, d, dtype in CASES[1:]:
        where = _where(batch, d, dtype)
        for flow, variable in (("maf", "x"), ("iaf", "z")):
            forward, inverse = f"{flow}_forward", f"{flow}_inverse"
            conditioner = _conditioner(rng, d, device)
            z = _normal(rng, batch, d, dtype, device)
            x, ld_forward = _unpack(getattr(student, forward)(z, conditioner), forward)
            if not isinstance(x, Tensor):
                fail(f"what {forward} returns", f"expected a tensor x, got {type(x).__name__}")
            back, ld_inverse = _unpack(getattr(student, inverse)(x, conditioner), inverse)
            hint = ROUND_TRIP.format(inverse=inverse, forward=forward, variable=variable)
            expect_close(back, z, what=f"{inverse}({forward}(z)) {where}", hint=hint)
            if isinstance(ld_forward, Tensor) and isinstance(ld_inverse, Tensor):
                expect_close(
                    ld_forward + ld_inverse,
                    torch.zeros_like(ld_forward),
                    what=f"{forward} log-det + {inverse} log-det (should be 0) {where}",
                    misconceptions={"one of the two log-dets has the wrong sign": 2 * ld_forward},
                    hint=NO_CANCEL,
                )
            again, _ = _unpack(getattr(student, forward)(back, conditioner), forward)
            expect_close(again, x, what=f"{forward}({inverse}(x)) {where}", hint=hint)


@pytest.mark.points(1)
def test_log_det_matches_jacobian(student, reference, rng):
    """Your four maps are triangular; their log-dets equal log|det J| (finite differences)."""
    for d in (2, 5):
        for function in FUNCTIONS:
            conditioner = _conditioner(rng, d, "cpu", scale=1.0)
            z = _normal(rng, 1, d, torch.float64, "cpu")
            point = _data(function, z, conditioner, reference)
            points = perturbation_batch(point[0])
            outputs, _ = _unpack(student.call(function, points, conditioner), function)
            _, log_det = _unpack(student.call(function, point, conditioner), function)
            outputs = expect_map_outputs(outputs, points, function=function)
            jacobian = finite_difference_jacobian(outputs)
            upper = torch.triu(jacobian, 1).abs().max().item()
            expect_true(
                upper < 1e-6,
                f"that output i of {function} does not depend on input j > i (d={d})",
                f"the Jacobian of your map has an entry of size {upper:.3g} above the diagonal",
                NOT_TRIANGULAR,
            )
            oracle = torch.linalg.slogdet(jacobian).logabsdet.reshape(1)
            sign = SIGN_DZDX if INPUT[function] == "x" else SIGN_DXDZ
            expect_close(
                log_det,
                oracle,
                what=f"log_det of {function} vs {LOG_DET[function]} of your own map (d={d})",
                rtol=1e-5,
                atol=1e-6,
                misconceptions={sign: -oracle},
                hint="the log-det you return does not describe the map you implemented",
            )


@pytest.mark.points(1)
def test_extreme_log_scales(student, reference, device, rng):
    """Log-scales near +-200 (float64) and +-40 (float32): values and log-dets stay right."""
    d, batch = 6, 3
    for dtype, offsets in ((torch.float64, (200.0, -200.0)), (torch.float32, (40.0, -40.0))):
        for offset in offsets:
            conditioner = _conditioner(rng, d, device, offset=offset)
            where = _where(batch, d, dtype, f", log-scales ~ {offset:+g}")
            for function in FUNCTIONS:
                v = _normal(rng, batch, d, dtype, device)
                if INPUT[function] == "x":
                    v = _away_from_shifts(function, v, conditioner)
                got = getattr(student, function)(v, conditioner)
                for index, part in enumerate(_unpack(got, function)):
                    if isinstance(part, Tensor):
                        name = ("z" if INPUT[function] == "x" else "x", "log_det")[index]
                        expect_finite(
                            part, what=f"{name} of {function} {where}", hint=HUGE_LOG_SCALES
                        )
                _check_values(function, got, v, conditioner, reference, where)


def _count_calls(student: Any, function: str, v: Tensor, conditioner, limit: int, why: str):
    """Call `function` with a conditioner that allows `limit` calls; -> (value, calls)."""
    what = f"how often {function} calls the conditioner for {describe(v)} input"
    try:
        result = student.call_full(function, (v, conditioner.limited(limit)))
    except StudentRaised as err:
        refused = err.detail.removeprefix(f"{ConditionerCallLimit.__name__}: ")
        if refused == err.detail:
            raise
        fail(f"{what}: {why}", f"your function stopped: {refused}", _budget_hint(function))
    return result.value, result.calls.get(CALLS, 0)


def _budget_hint(function: str) -> str:
    return ONE_PASS_PARALLEL if function in ("maf_inverse", "iaf_forward") else SEQUENTIAL_BUDGET


@pytest.mark.points(1)
def test_which_direction_is_parallel(student, reference, device, rng):
    """Each direction calls the conditioner no more often than it needs (once, or at most d)."""
    batch, d, dtype = 4, 5, torch.float64
    for function in FUNCTIONS:
        conditioner = _conditioner(rng, d, device)
        v = _data(function, _normal(rng, batch, d, dtype, device), conditioner, reference)
        parallel = function in ("maf_inverse", "iaf_forward")
        why = "one call on the whole batch" if parallel else f"at most d = {d} calls"
        value, calls = _count_calls(student, function, v, conditioner, 1 if parallel else d, why)
        _check_values(function, value, v, conditioner, reference, _where(batch, d, dtype))
        expect_true(
            calls == 1 if parallel else 1 <= calls <= d,
            f"how often {function} calls the conditioner ({why}, d = {d}, B = {batch})",
            f"your function called it {calls} times",
            _budget_hint(function),
        )


@pytest.mark.points(1)
def test_gradients(student, reference, rng):
    """Gradients with respect to the input and the conditioner's weights match the reference's."""
    for function in FUNCTIONS:
        conditioner = _conditioner(rng, 4, "cpu")
        v = _data(function, _normal(rng, 3, 4, torch.float64, "cpu"), conditioner, reference)
        args = (v, conditioner)
        spec = gradient_spec(rng, getattr(reference, function)(*args), wrt=(0,), params=True)
        expect_same_gradients(
            student,
            reference,
            function,
            args,
            spec,
            names=[INPUT[function], "conditioner"],
            outputs=[OUTPUT[function], "log_det"],
        )


@pytest.mark.points(1)
def test_structure(student, reference, device, rng):
    """Shape, dtype, device kept; no in-place writes, no stray device (needs correct values)."""
    for dtype in (torch.float32, torch.float64):
        for function in FUNCTIONS:
            conditioner = _conditioner(rng, 6, device)
            v = _data(function, _normal(rng, 3, 6, dtype, device), conditioner, reference)
            names = [INPUT[function], "conditioner"]
            result = student.call_full(
                function, (v, conditioner), return_inputs=True, check_device=True
            )
            expected = getattr(reference, function)(v, conditioner)
            got = _unpack(result.value, function)
            for name, value, want in zip((OUTPUT[function], "log_det"), got, expected, strict=True):
                what = f"{name} from {function} for input of {describe(v)}"
                expect_close(value, want, what=f"{what} (structure points need correct values)")
                expect_structure(value, want, what=what)
            expect_unchanged([v], result.inputs_after[:1], function=function, names=names[:1])
            expect_clean_call(result, function=function, names=names)
