"""Project tests for exercise-01 (change of variables): grading outcomes and the reference.

The grading contract (reference full marks, stub zero, every typical mistake in
tests/wrong/mutants.py loses points with its hint) comes from tests/exercise_grading.py;
a hostile symbolic answer must never run. The reference itself is checked against
independent oracles: torch.distributions, autograd + slogdet, sympy.stats.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sympy
import sympy.stats
import torch

from grader.grading import grade_exercise
from grader.testing.flows_01 import (
    DiagonalNormalLogProb,
    ElementwiseAffineInverse,
    LinearInverse,
    SinhInverse,
    StandardNormalLogProb,
)
from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_01_change_of_variables as reference
from tests.exercise_grading import GradingContract, failed_outputs
from tests.wrong.mutants import materialize

HOSTILE_MARKER = Path("/tmp/flowgrade_hostile_density_ran")


class TestGrading(GradingContract):
    exercise_id = "exercise-01"


@pytest.fixture(scope="module")
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_hostile_expression_text_is_never_executed(tmp_path: Path) -> None:
    HOSTILE_MARKER.unlink(missing_ok=True)
    submission = materialize("exercise-01", "hostile_density", tmp_path)
    result = grade_exercise("exercise-01", submission, seed=0)
    assert not HOSTILE_MARKER.exists()
    message = failed_outputs(result)["affine_flow_density_symbolic"]
    assert "could not be read" in message
    assert 'character "\'" is not allowed' in message


# ---------------------------------------------------------------- reference vs oracles


def test_standard_normal_matches_torch_distributions(generator: torch.Generator) -> None:
    z = torch.randn(7, 4, generator=generator, dtype=torch.float64) * 3
    oracle = torch.distributions.Normal(
        torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    ).log_prob(z)
    torch.testing.assert_close(reference.standard_normal_log_prob(z), oracle.sum(-1))
    far = torch.tensor([[40.0, -60.0]], dtype=torch.float64)
    assert torch.isfinite(reference.standard_normal_log_prob(far)).all()


def test_linear_gaussian_flow_matches_multivariate_normal(generator: torch.Generator) -> None:
    d = 4
    matrix = torch.randn(d, d, generator=generator, dtype=torch.float64) + 2 * torch.eye(d)
    shift = torch.randn(d, generator=generator, dtype=torch.float64)
    x = torch.randn(9, d, generator=generator, dtype=torch.float64)
    got = reference.change_of_variables_log_prob(
        x, LinearInverse(matrix, shift), StandardNormalLogProb()
    )
    oracle = torch.distributions.MultivariateNormal(shift, matrix @ matrix.T).log_prob(x)
    torch.testing.assert_close(got, oracle)


def test_elementwise_flow_with_negative_scales_matches_normal(generator: torch.Generator) -> None:
    scale = torch.tensor([-2.0, 0.5, -0.1], dtype=torch.float64)
    shift = torch.randn(3, generator=generator, dtype=torch.float64)
    x = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    got = reference.change_of_variables_log_prob(
        x, ElementwiseAffineInverse(scale, shift), StandardNormalLogProb()
    )
    oracle = torch.distributions.Normal(shift, scale.abs()).log_prob(x).sum(-1)
    torch.testing.assert_close(got, oracle)


def test_trusted_inverses_log_dets_match_autograd(generator: torch.Generator) -> None:
    """The log-dets the hidden tests rely on agree with autograd Jacobians + slogdet."""
    d = 3
    x = torch.randn(4, d, generator=generator, dtype=torch.float64)
    matrix = torch.randn(d, d, generator=generator, dtype=torch.float64) + 2 * torch.eye(d)
    shift = torch.randn(d, generator=generator, dtype=torch.float64)
    inverses = [
        ElementwiseAffineInverse(torch.tensor([-1.5, 0.3, 2.0]), shift),
        LinearInverse(matrix, shift),
        SinhInverse(),
    ]
    for inverse in inverses:
        _, log_det = inverse(x)
        oracle = autograd_log_abs_det(lambda v, inverse=inverse: inverse(v)[0], x)
        torch.testing.assert_close(log_det, oracle)


def test_sinh_flow_density_integrates_to_one() -> None:
    """Change of variables through a nonlinear map still gives a normalised density (d = 1)."""
    base = DiagonalNormalLogProb([0.3], [0.8])
    grid = torch.linspace(-60.0, 60.0, 400_001, dtype=torch.float64).reshape(-1, 1)
    log_p = reference.change_of_variables_log_prob(grid, SinhInverse(), base)
    mass = torch.trapezoid(torch.exp(log_p), grid[:, 0])
    assert abs(mass.item() - 1.0) < 1e-6


def test_affine_flow_log_prob_matches_normal_for_both_signs() -> None:
    x = torch.linspace(-5, 5, 11, dtype=torch.float64)
    for a, b in [(2.0, 1.0), (-0.5, -1.0), (1e-3, 0.0), (-1e3, 3.0)]:
        params = torch.tensor([b, abs(a)], dtype=torch.float64)
        oracle = torch.distributions.Normal(params[0], params[1]).log_prob(x)
        torch.testing.assert_close(reference.affine_flow_log_prob(x, a, b), oracle)
    # worked example 1: at x = b the density of N(b, a^2) is 1 / sqrt(2 pi a^2)
    at_mode = reference.affine_flow_log_prob(torch.tensor([1.0], dtype=torch.float64), 2.0, 1.0)
    assert math.isclose(at_mode.item(), -0.5 * math.log(8 * math.pi), rel_tol=1e-12)


def test_symbolic_density_is_normalised_and_is_the_normal_density() -> None:
    density = reference.affine_flow_density()
    x, b = sympy.symbols("x b", real=True)
    a = sympy.Symbol("a", positive=True)
    assert density.free_symbols == {x, a, b}
    assert sympy.simplify(sympy.integrate(density, (x, -sympy.oo, sympy.oo))) == 1
    closed_form = sympy.stats.density(sympy.stats.Normal("X", b, a))(x)
    assert sympy.simplify(density - closed_form) == 0


def test_symbolic_and_numeric_densities_agree() -> None:
    density = reference.affine_flow_density()
    symbols = {s.name: s for s in density.free_symbols}
    xs = torch.tensor([-1.0, 0.25, 2.0], dtype=torch.float64)
    for a, b in [(0.5, 0.0), (2.0, 1.0)]:
        numeric = reference.affine_flow_log_prob(xs, a, b)
        for value, log_p in zip(xs.tolist(), numeric.tolist(), strict=True):
            point = {symbols["x"]: value, symbols["a"]: a, symbols["b"]: b}
            assert math.isclose(math.log(float(density.subs(point))), log_p, rel_tol=1e-12)
