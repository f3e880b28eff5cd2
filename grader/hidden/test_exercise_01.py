"""Hidden tests for exercise-01 (change of variables). 10 points.

Inputs are drawn per test from the run's seed; expected values come from `solutions`,
cross-checked by independent oracles (closed-form Gaussians via torch.distributions,
the a -> -a symmetry, the unit's worked example 1) and, for the symbolic part, by a
safe sympy comparison that never executes the student's text. Far in the tails the
density underflows while its logarithm is an ordinary number; gradients (what training
needs) are compared with the reference's, and the structure test runs the calls under the
virtual-device check and the worker's watch for in-place writes.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import pytest
import sympy
import torch
from torch import nn

from grader.runner.client import StudentModule
from grader.runner.errors import StudentRaised
from grader.runner.protocol import SympyText
from grader.symbolic import (
    SymbolicInputError,
    SymbolicTimeout,
    declare_symbols,
    first_equivalent,
    parse_expression,
)
from grader.testing import (
    describe,
    expect_close,
    expect_finite,
    expect_structure,
    expect_unchanged,
)
from grader.testing.checks import expect_clean_call, fail
from grader.testing.flows_01 import (
    DiagonalNormalLogProb,
    ElementwiseAffineInverse,
    LinearInverse,
    SinhInverse,
    StandardNormalLogProb,
)
from grader.testing.gradients import (
    expect_gradients,
    expect_same_gradients,
    gradient_spec,
    reference_gradients,
    student_gradients,
)

LOG_TWO_PI = math.log(2.0 * math.pi)
CASES = [(1, 1, torch.float64), (5, 3, torch.float32), (4, 6, torch.float64), (3, 2, torch.float32)]

JACOBIAN_SIGN = (
    "wrong sign of the log-det: inverse(x) returns log|det df^-1/dx|, which is *added*; "
    "subtracting is only right for the forward map's log|det df/dz|"
)
FORGOT_JACOBIAN = (
    "the volume-change term is missing: log p_X(x) = log p_Z(z) + log|det df^-1/dx|, "
    "not just log p_Z(z)"
)
BASE_AT_X = "evaluate the base density at z = f^-1(x), not at x itself"
DENSITY_NOT_LOG = "return the log-density, not the density: no exp() at the end"
IGNORED_BASE = (
    "call base_log_prob(z): the base density you are given is not always a standard normal"
)
SIGNED_SCALE = (
    "use log|a|, not log(a): a may be negative (the flow flips the axis), and the "
    "volume factor is |d f^-1/dx| = 1/|a|"
)
VARIANCE_A = "the variance of a z + b is a^2, not a: divide (x - b)^2 by 2 a^2"
NO_TWO_PI = "the N(0, 1) log-density includes the constant -0.5 * log(2 pi) per dimension"
AFFINE_NO_JACOBIAN = (
    "the Jacobian term -log|a| is missing: p_X(x) = p_Z((x - b)/a) * (1/|a|), "
    "otherwise the density does not integrate to 1"
)
AFFINE_JACOBIAN_SIGN = (
    "wrong sign of the Jacobian term: the inverse (x - b)/a shrinks lengths by |a|, so "
    "log p_X = log p_Z(z) - log|a|"
)
FORWARD_NOT_INVERSE = (
    "evaluate the base at the inverse z = (x - b) / a, not at the forward map a x + b"
)
LOG_SPACE = (
    "work in log space: far in the tails the density underflows to 0 (log(0) = -inf) while "
    "log p = -z^2/2 - ... is an ordinary number; never form exp(...) of a log-density"
)
# |z| for the far-tail checks: exp(-z^2/2) underflows (float32 below ~1e-38 at |z| ~ 13.2,
# float64 below ~1e-308 at |z| ~ 37.6) while -z^2/2 stays far inside the range.
FAR = {torch.float32: (14.0, 18.0), torch.float64: (38.0, 45.0)}


def _case_name(batch: int, d: int, dtype: torch.dtype) -> str:
    return f"(B={batch}, d={d}, {str(dtype).removeprefix('torch.')})"


def _standard_normal(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z * z).sum(-1) - 0.5 * z.shape[-1] * LOG_TWO_PI


def _standard_normal_misconceptions(z: torch.Tensor) -> dict[str, torch.Tensor]:
    reference = _standard_normal(z)
    density = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return {
        "the constant is -(d/2) * log(2 pi): one -0.5 * log(2 pi) per dimension, "
        "not one per sample": -0.5 * (z * z).sum(-1) - 0.5 * LOG_TWO_PI,
        NO_TWO_PI: -0.5 * (z * z).sum(-1),
        "sum over the d features (dim=-1), do not average them": -0.5 * (z * z).mean(-1)
        - 0.5 * LOG_TWO_PI,
        "work in log space: exp(-z^2/2) underflows to 0 for large |z| and log(0) = -inf, "
        "while log p = -z^2/2 - ... is finite": torch.log(torch.prod(density, dim=-1)),
        DENSITY_NOT_LOG: torch.exp(reference),
    }


def _flow_misconceptions(
    x: torch.Tensor, inverse: nn.Module, base: nn.Module
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The expected log p_X(x) and what typical mistakes would return instead."""
    z, log_det = inverse(x)
    expected = base(z) + log_det
    return expected, {
        JACOBIAN_SIGN: base(z) - log_det,
        FORGOT_JACOBIAN: base(z),
        BASE_AT_X: base(x) + log_det,
        DENSITY_NOT_LOG: torch.exp(expected),
        IGNORED_BASE: _standard_normal(z) + log_det,
    }


def _affine_misconceptions(x: torch.Tensor, a: float, b: float) -> dict[str, torch.Tensor]:
    z = (x - b) / a
    log_abs = math.log(abs(a))
    signed = torch.log(torch.tensor(a, dtype=torch.float64)).item()  # NaN when a < 0
    correct = -0.5 * z * z - log_abs - 0.5 * LOG_TWO_PI
    return {
        SIGNED_SCALE: -0.5 * z * z - signed - 0.5 * LOG_TWO_PI,
        VARIANCE_A: -0.5 * (x - b) ** 2 / abs(a) - 0.5 * math.log(2 * math.pi * abs(a)),
        NO_TWO_PI: -0.5 * z * z - log_abs,
        AFFINE_NO_JACOBIAN: -0.5 * z * z - 0.5 * LOG_TWO_PI,
        AFFINE_JACOBIAN_SIGN: -0.5 * z * z + log_abs - 0.5 * LOG_TWO_PI,
        FORWARD_NOT_INVERSE: -0.5 * (a * x + b) ** 2 - log_abs - 0.5 * LOG_TWO_PI,
        DENSITY_NOT_LOG: torch.exp(correct),
    }


@contextlib.contextmanager
def _explain_domain_error(a: float, b: float) -> Iterator[None]:
    """Turn `math.log` of a negative a inside student code into the |a| hint."""
    try:
        yield
    except StudentRaised as err:
        if "math domain error" not in err.detail:
            raise
        fail(
            f"affine_flow_log_prob(x, a={a:g}, b={b:g})",
            f"your code raised {err.detail}",
            SIGNED_SCALE,
        )


def _call_affine(student: StudentModule, x: torch.Tensor, a: float, b: float) -> Any:
    """student.affine_flow_log_prob(x, a, b), explaining a math domain error."""
    with _explain_domain_error(a, b):
        return student.affine_flow_log_prob(x, a, b)


def _flows(rng: torch.Generator, d: int) -> list[tuple[str, nn.Module, nn.Module]]:
    """Three (name, inverse, base) pairs: elementwise affine, dense linear, nonlinear sinh."""
    scale = torch.exp(torch.randn(d, generator=rng, dtype=torch.float64) * 0.5)
    scale = scale * torch.where(torch.rand(d, generator=rng) < 0.5, -1.0, 1.0)
    shift = torch.randn(d, generator=rng, dtype=torch.float64)
    matrix = torch.randn(d, d, generator=rng, dtype=torch.float64) * 0.4 + 1.5 * torch.eye(d)
    base = DiagonalNormalLogProb(
        torch.randn(d, generator=rng, dtype=torch.float64) * 0.5,
        torch.exp(torch.randn(d, generator=rng, dtype=torch.float64) * 0.3),
    )
    return [
        ("x = scale * z + shift", ElementwiseAffineInverse(scale, shift), StandardNormalLogProb()),
        ("x = z @ A.T + shift", LinearInverse(matrix, shift), base),
        ("x = sinh(z)", SinhInverse(), base),
    ]


@pytest.mark.points(1)
def test_standard_normal_log_prob(student, reference, device, rng):
    """standard_normal_log_prob matches log N(z; 0, I) for several shapes, finite for large |z|."""
    for batch, d, dtype in CASES:
        z = (torch.randn(batch, d, generator=rng, dtype=torch.float64) * 2).to(dtype).to(device)
        expect_close(
            student.standard_normal_log_prob(z),
            reference.standard_normal_log_prob(z),
            what=f"standard_normal_log_prob(z) {_case_name(batch, d, dtype)}",
            misconceptions=_standard_normal_misconceptions(z),
        )
    far = torch.tensor([[40.0, -45.0, 1.0], [0.0, 0.5, -60.0]], dtype=torch.float64).to(device)
    got = student.standard_normal_log_prob(far)
    misconceptions = _standard_normal_misconceptions(far)
    expect_close(
        got,
        reference.standard_normal_log_prob(far),
        what="standard_normal_log_prob(z) for z with entries of size 40 to 60",
        misconceptions=misconceptions,
    )
    expect_finite(got, what="log N(z; 0, I) for |z| up to 60 (about -1800, a finite number)")


@pytest.mark.points(1)
def test_change_of_variables_matches_reference(student, reference, device, rng):
    """change_of_variables_log_prob matches the reference for three flows and several shapes."""
    for batch, d, dtype in CASES:
        for name, inverse, base in _flows(rng, d):
            x = torch.randn(batch, d, generator=rng, dtype=torch.float64).to(dtype).to(device)
            expected, misconceptions = _flow_misconceptions(x, inverse, base)
            reference_value = reference.change_of_variables_log_prob(x, inverse, base)
            # the grader's own cross-check; a failure here is an internal error, not a score
            assert torch.allclose(expected, reference_value)
            got = student.change_of_variables_log_prob(x, inverse, base)
            expect_close(
                got,
                reference_value,
                what=f"change_of_variables_log_prob for {name} {_case_name(batch, d, dtype)}",
                misconceptions=misconceptions,
            )


@pytest.mark.points(1)
def test_change_of_variables_gaussian_oracle(student, rng):
    """For linear flows of N(0, I) your log p_X(x) equals the closed-form Gaussian log-density."""
    for d in (1, 3, 5):
        matrix = torch.randn(d, d, generator=rng, dtype=torch.float64) * 0.5 + torch.eye(d)
        shift = torch.randn(d, generator=rng, dtype=torch.float64)
        x = torch.randn(6, d, generator=rng, dtype=torch.float64) * 2
        inverse, base = LinearInverse(matrix, shift), StandardNormalLogProb()
        oracle = torch.distributions.MultivariateNormal(shift, matrix @ matrix.T).log_prob(x)
        _, misconceptions = _flow_misconceptions(x, inverse, base)
        expect_close(
            student.change_of_variables_log_prob(x, inverse, base),
            oracle,
            what=f"log p_X(x) for x = A z + mu, z ~ N(0, I_{d}), against log N(x; mu, A A^T)",
            rtol=1e-7,
            atol=1e-9,
            misconceptions=misconceptions,
        )


@pytest.mark.points(1)
def test_worked_example(student):
    """Worked example 1: x = 2 z + 1 with z ~ N(0, 1), at four points (log p_X(1) = -1.6121)."""
    a, b = 2.0, 1.0
    x = torch.tensor([1.0, 3.0, -2.0, 0.5], dtype=torch.float64)
    closed_form = -0.5 * math.log(2 * math.pi * a * a) - (x - b) ** 2 / (2 * a * a)
    expect_close(
        _call_affine(student, x, a, b),
        closed_form,
        what="affine_flow_log_prob(x, a=2, b=1) for x = (1, 3, -2, 0.5); at x = b = 1 the "
        "answer is -0.5 * log(8 pi) = -1.6121",
        misconceptions=_affine_misconceptions(x, a, b),
    )


@pytest.mark.points(1)
def test_affine_flow_matches_reference(student, reference, device, rng):
    """affine_flow_log_prob matches the reference for many a (either sign, tiny, huge) and b."""
    scales = [0.7, -1.3, 2.5, -0.05, 1e-3, -1e3, 40.0]
    for index, a in enumerate(scales):
        dtype = (torch.float64, torch.float32)[index % 2]
        b = float(torch.randn(1, generator=rng, dtype=torch.float64)) * 3
        spread = torch.randn(7, generator=rng, dtype=torch.float64) * 2
        x = (b + abs(a) * spread).to(dtype).to(device)
        expected = reference.affine_flow_log_prob(x, a, b)
        expect_close(
            _call_affine(student, x, a, b),
            expected,
            what=f"affine_flow_log_prob(x, a={a:g}, b={b:.3g}) for x of {describe(x)}",
            misconceptions=_affine_misconceptions(x, a, b),
        )


@pytest.mark.points(1)
def test_affine_flow_negative_scale(student, rng):
    """For a < 0 the density is the same as for |a|: finite, and equal to the exact density."""
    for a in (-0.5, -2.0, -7.0):
        b = float(torch.randn(1, generator=rng, dtype=torch.float64))
        x = b + torch.randn(9, generator=rng, dtype=torch.float64) * 3
        got = _call_affine(student, x, a, b)
        what = f"affine_flow_log_prob(x, a={a:g}, b={b:.3g})"
        misconceptions = _affine_misconceptions(x, a, b)
        expect_close(
            got,
            _normal(b, abs(a)).log_prob(x),
            what=f"{what} against log N(x; b, a^2)",
            misconceptions=misconceptions,
        )
        expect_close(
            got,
            _call_affine(student, x, -a, b),
            what=f"{what} against your own value for a = {-a:g} (a z and -a z have the same "
            "distribution)",
            hint=SIGNED_SCALE,
        )


def _normal(mean: float, std: float) -> torch.distributions.Normal:
    """N(mean, std^2) with float64 parameters (plain floats would give float32)."""
    as64 = torch.tensor([mean, std], dtype=torch.float64)
    return torch.distributions.Normal(as64[0], as64[1])


def _density_symbols() -> dict[str, sympy.Symbol]:
    return declare_symbols({"x": {"real": True}, "a": {"positive": True}, "b": {"real": True}})


def _density_candidates(symbols: dict[str, sympy.Symbol]) -> list[tuple[str, sympy.Expr]]:
    """The reference density (first) and densities a typical mistake would produce."""
    x, a, b = symbols["x"], symbols["a"], symbols["b"]
    root = sympy.sqrt(2 * sympy.pi)
    kernel = sympy.exp(-((x - b) ** 2) / (2 * a**2))
    correct = kernel / (root * a)
    return [
        ("", correct),
        (AFFINE_NO_JACOBIAN, kernel / root),
        (VARIANCE_A, sympy.exp(-((x - b) ** 2) / (2 * a)) / sympy.sqrt(2 * sympy.pi * a)),
        (NO_TWO_PI, kernel / a),
        (
            "the normalising constant is 1/sqrt(2 pi a^2) = 1/(sqrt(2 pi) a), not 1/(2 pi a^2)",
            kernel / (2 * sympy.pi * a**2),
        ),
        ("return the density p_X(x), not log p_X(x)", sympy.log(correct)),
        (FORWARD_NOT_INVERSE, sympy.exp(-((a * x + b) ** 2) / 2) / (root * a)),
        (
            "the scale multiplies: (x - b)/a, not (x - b)*a, inside the exponent",
            sympy.exp(-((x - b) ** 2) * a**2 / 2) / (root * a),
        ),
    ]


@pytest.mark.points(1)
def test_affine_flow_density_symbolic(student, rng):
    """affine_flow_density() is a sympy expression equal to the exact density (any equal form)."""
    got = student.affine_flow_density()
    checked = "the sympy expression returned by affine_flow_density()"
    if not isinstance(got, SympyText):
        kind = "a string" if isinstance(got, str) else f"a {type(got).__name__}"
        fail(
            checked,
            f"expected a sympy expression, got {kind}",
            "build the expression from sympy symbols (x, b real; a positive) and sympy "
            "functions, and return the expression itself",
        )
    symbols = _density_symbols()
    candidates = _density_candidates(symbols)
    seed = int(torch.randint(0, 2**31, (1,), generator=rng))
    try:
        expression = parse_expression(got, symbols)
    except SymbolicInputError as err:
        fail(
            checked,
            f"your expression could not be read: {err}",
            "use only the symbols x, a, b, the constants pi and E, and functions such as "
            "exp, sqrt, log",
        )
    try:
        match = first_equivalent(
            expression, [expr for _, expr in candidates], timeout_s=10.0, seed=seed
        )
    except SymbolicTimeout as err:
        fail(checked, str(err), "simplify your expression: a Gaussian density is short")
    except SymbolicInputError:
        fail(checked, "your expression could not be evaluated at sample points")
    if match == 0:
        return
    shown = got if len(got) <= 200 else got[:200] + "..."
    fail(
        checked,
        f"expected an expression equal to exp(-(x - b)**2/(2*a**2))/(sqrt(2*pi)*a), got {shown}",
        candidates[match][0] if match else None,
    )


def _far(rng: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """float64 entries of size FAR[dtype] with random signs."""
    low, high = FAR[dtype]
    size = low + (high - low) * torch.rand(shape, generator=rng, dtype=torch.float64)
    sign = torch.where(torch.rand(shape, generator=rng) < 0.5, -1.0, 1.0).double()
    return size * sign


def _expect_far(got: Any, expected: torch.Tensor, what: str, misconceptions: Any) -> None:
    expect_close(got, expected, what=what, misconceptions=misconceptions, hint=LOG_SPACE)
    expect_finite(got, what=what, hint=LOG_SPACE)


@pytest.mark.points(1)
def test_far_tails(student, reference, device, rng):
    """Far in the tails (|z| ~ 15 in float32, ~40 in float64) every log-density is finite."""
    for dtype in (torch.float32, torch.float64):
        where = str(dtype).removeprefix("torch.")
        z = _far(rng, (3, 2), dtype).to(dtype).to(device)
        _expect_far(
            student.standard_normal_log_prob(z),
            reference.standard_normal_log_prob(z),
            f"standard_normal_log_prob(z) for |z_i| of {FAR[dtype][0]:g} to {FAR[dtype][1]:g} "
            f"({where}; the density itself underflows to 0)",
            _standard_normal_misconceptions(z),
        )
        a = float(torch.randn(1, generator=rng, dtype=torch.float64)) * 2 or 1.0  # never 0
        b = float(torch.randn(1, generator=rng, dtype=torch.float64))
        x = (b + a * _far(rng, (5,), dtype)).to(dtype).to(device)
        _expect_far(
            _call_affine(student, x, a, b),
            reference.affine_flow_log_prob(x, a, b),
            f"affine_flow_log_prob(x, a={a:.3g}, b={b:.3g}) for x that many a's from b ({where})",
            _affine_misconceptions(x, a, b),
        )
        _, inverse, base = _flows(rng, 2)[0]
        x = (inverse.shift + inverse.scale * _far(rng, (4, 2), dtype)).to(dtype).to(device)
        z_far, log_det = inverse(x)
        _, misconceptions = _flow_misconceptions(x, inverse, base)
        misconceptions[LOG_SPACE] = torch.log(torch.exp(base(z_far)) * torch.exp(log_det))
        _expect_far(
            student.change_of_variables_log_prob(x, inverse, base),
            reference.change_of_variables_log_prob(x, inverse, base),
            f"change_of_variables_log_prob far in the tails of x = scale * z + shift ({where})",
            misconceptions,
        )


@pytest.mark.points(1)
def test_gradients(student, reference, rng):
    """The log-densities are differentiable: their gradients match the reference's (float64)."""
    z = torch.randn(4, 3, generator=rng, dtype=torch.float64) * 2
    spec = gradient_spec(rng, reference.standard_normal_log_prob(z), wrt=(0,))
    expect_same_gradients(
        student,
        reference,
        "standard_normal_log_prob",
        (z,),
        spec,
        names=["z"],
        outputs=["log-density"],
    )
    for name, inverse, base in _flows(rng, 3):
        x = torch.randn(5, 3, generator=rng, dtype=torch.float64)
        args = (x, inverse, base)
        spec = gradient_spec(rng, reference.change_of_variables_log_prob(*args), wrt=(0,))
        expect_same_gradients(
            student,
            reference,
            "change_of_variables_log_prob",
            args,
            spec,
            label=f"change_of_variables_log_prob for {name}",
            names=["x", "inverse", "base_log_prob"],
            outputs=["log-density"],
        )
    a = -1.5 + float(torch.rand(1, generator=rng))
    x = torch.randn(6, generator=rng, dtype=torch.float64) * 2
    spec = gradient_spec(rng, reference.affine_flow_log_prob(x, a, 0.5), wrt=(0,))
    with _explain_domain_error(a, 0.5):
        result = student_gradients(student, "affine_flow_log_prob", (x, a, 0.5), spec)
    expect_gradients(
        result,
        reference_gradients(reference.affine_flow_log_prob, (x, a, 0.5), spec),
        function=f"affine_flow_log_prob(x, a={a:.3g}, b=0.5)",
        names=["x", "a", "b"],
        outputs=["log-density"],
    )


@pytest.mark.points(1)
def test_structure(student, reference, device, rng):
    """Shape, dtype, device kept; no in-place writes, no stray device (needs correct values)."""
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(4, 3, generator=rng, dtype=torch.float64).to(dtype).to(device)
        _, inverse, base = _flows(rng, 3)[1]
        calls = [
            ("standard_normal_log_prob", (x,)),
            ("change_of_variables_log_prob", (x, inverse, base)),
            ("affine_flow_log_prob", (x[:, 0], -1.5, 0.25)),
        ]
        for function, args in calls:
            with _explain_domain_error(-1.5, 0.25):
                result = student.call_full(function, args, return_inputs=True, check_device=True)
            expected = getattr(reference, function)(*args)
            expect_close(
                result.value,
                expected,
                what=f"{function} values (structure points need correct values)",
            )
            expect_structure(
                result.value, expected, what=f"output of {function} for input of {describe(x)}"
            )
            expect_finite(result.value, what=f"output of {function}")
            expect_unchanged([args[0]], result.inputs_after, function=function, names=["x"])
            expect_clean_call(result, function=function, names=["x", "inverse", "base_log_prob"])
