"""Project tests for exercise-05 (composing flows) and the trusted layers it uses.

The grading contract (reference full marks, stub zero, every typical mistake in
tests/wrong/mutants.py loses points with its hint) comes from tests/exercise_grading.py;
here the tests check that the reference and grader/testing/layers.py agree with
independent oracles (autograd Jacobian + slogdet, the exact Gaussian of an affine flow,
numerical integration).
"""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import Tensor

from grader.hidden.test_exercise_05 import _worked_flow
from grader.testing.layers import (
    HouseholderMixing,
    HouseholderScale,
    Permutation,
    Reverse,
    SinhArcsinh,
    SinhArcsinhCoupling,
    affine_flow,
    random_flow,
)
from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_05_composition as reference
from tests.exercise_grading import GradingContract


class TestGrading(GradingContract):
    exercise_id = "exercise-05"


def _all_layers(d: int) -> list[torch.nn.Module]:
    layers = [SinhArcsinh.random(d, 1), Reverse(), Permutation(d, 2), HouseholderMixing(d, 3)]
    layers.append(HouseholderScale(d, 5))
    return layers + ([SinhArcsinhCoupling.random(d, 4, scale=1.0)] if d >= 2 else [])


@pytest.mark.parametrize("d", [1, 2, 5])
def test_layers_keep_their_contract(d: int) -> None:
    """Each trusted layer: picklable, inverse undoes forward, log-dets match autograd + slogdet."""
    z = torch.randn(3, d, dtype=torch.float64)
    for layer in _all_layers(d):
        layer = pickle.loads(pickle.dumps(layer))
        x, ld_forward = layer.forward(z)
        back, ld_inverse = layer.inverse(x)
        torch.testing.assert_close(back, z)
        assert ld_forward.shape == (3,) and ld_inverse.shape == (3,)
        torch.testing.assert_close(ld_forward.detach(), autograd_log_abs_det(_fwd(layer), z))
        torch.testing.assert_close(ld_inverse.detach(), autograd_log_abs_det(_inv(layer), x))
        x32, ld32 = layer.forward(z.float())
        assert x32.dtype == ld32.dtype == torch.float32


def _fwd(layer):
    return lambda v: layer.forward(v)[0]


def _inv(layer):
    return lambda v: layer.inverse(v)[0]


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_reference_log_dets_match_autograd_jacobian(d: int) -> None:
    layers = random_flow(d, seed=d, depth=6)
    z = torch.randn(2, d, dtype=torch.float64)
    x, ld_forward = reference.compose_forward(layers, z)
    _, ld_inverse = reference.compose_inverse(layers, x)

    def forward(v: Tensor) -> Tensor:
        return reference.compose_forward(layers, v)[0]

    def inverse(v: Tensor) -> Tensor:
        return reference.compose_inverse(layers, v)[0]

    torch.testing.assert_close(ld_forward.detach(), autograd_log_abs_det(forward, z))
    torch.testing.assert_close(ld_inverse.detach(), autograd_log_abs_det(inverse, x.detach()))


@pytest.mark.parametrize("d", [1, 3])
def test_reference_log_prob_of_affine_flow_is_exact_gaussian(d: int) -> None:
    """x = A z + b with z ~ N(0, I) has density N(b, A A^T); A and b found by autograd."""
    layers = affine_flow(d, seed=7, depth=5)
    shift = reference.compose_forward(layers, torch.zeros(1, d, dtype=torch.float64))[0][0]
    matrix = torch.autograd.functional.jacobian(
        lambda v: reference.compose_forward(layers, v.unsqueeze(0))[0][0],
        torch.zeros(d, dtype=torch.float64),
    )
    gaussian = torch.distributions.MultivariateNormal(shift, matrix @ matrix.T)
    x = torch.randn(6, d, dtype=torch.float64) * 2
    torch.testing.assert_close(reference.flow_log_prob(layers, x), gaussian.log_prob(x))


def test_reference_density_of_nonlinear_flow_integrates_to_one() -> None:
    layers = random_flow(2, seed=11, depth=5)
    step = 0.04
    grid = torch.arange(-12.0, 12.0, step, dtype=torch.float64)
    points = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        mass = reference.flow_log_prob(layers, points).exp().sum() * step**2
    assert abs(float(mass) - 1.0) < 2e-3


def test_reference_worked_composition() -> None:
    """The hidden worked example's numbers, computed by hand with `math`, are the reference's."""
    layers, x_hand, log_det_hand = _worked_flow()
    z = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    x, log_det = reference.compose_forward(layers, z)
    torch.testing.assert_close(x.detach(), x_hand)
    torch.testing.assert_close(log_det.detach(), log_det_hand)
    back, inverse_log_det = reference.compose_inverse(layers, x_hand)
    torch.testing.assert_close(back.detach(), z)
    torch.testing.assert_close(inverse_log_det.detach(), -log_det_hand)


def test_mixed_flow_has_every_kind_of_log_det() -> None:
    """Every layer's log-det differs from sample to sample or is constant by design, and the
    mixed flows hold sample-dependent, constant non-zero and zero log-dets (what the hidden
    tests need to tell a summed batch or a missing layer apart)."""
    z = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    kinds = set()
    for layer in random_flow(4, seed=2, depth=6):
        _, log_det = layer.forward(z)
        spread = float(log_det.detach().std())
        kinds.add("varies" if spread > 1e-6 else "zero" if float(log_det.abs().max()) < 1e-12
                  else "constant")  # fmt: skip
    assert kinds == {"varies", "zero", "constant"}


def test_reference_empty_flow_is_identity() -> None:
    x = torch.randn(4, 3, dtype=torch.float32)
    z, log_det = reference.compose_inverse([], x)
    assert torch.equal(z, x) and torch.equal(log_det, torch.zeros(4))
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(-1)
    torch.testing.assert_close(reference.flow_log_prob([], x), expected)
