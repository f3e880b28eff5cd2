"""Project tests for exercise-04 (Glow invertible 1x1 convolution).

The grading contract (reference full marks, stub zero, every typical mistake in
tests/wrong/mutants.py loses points with its hint) comes from tests/exercise_grading.py;
here the tests check that the reference agrees with independent oracles (autograd
Jacobian + slogdet).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_04_invertible_1x1_conv as reference
from tests.exercise_grading import GradingContract


class TestGrading(GradingContract):
    exercise_id = "exercise-04"


def _params(channels: int, seed: int) -> tuple[Tensor, ...]:
    """LU parameters in float64 with at least one negative U_ii and a non-trivial P."""
    generator = torch.Generator().manual_seed(seed)
    permutation = torch.eye(channels, dtype=torch.float64)[torch.arange(channels).roll(1)]
    lower = torch.randn(channels, channels, generator=generator, dtype=torch.float64)
    upper = torch.randn(channels, channels, generator=generator, dtype=torch.float64)
    sign_diag = torch.ones(channels, dtype=torch.float64)
    sign_diag[0] = -1.0
    log_abs_diag = torch.randn(channels, generator=generator, dtype=torch.float64) * 0.5
    return permutation, lower, upper, sign_diag, log_abs_diag


@pytest.mark.parametrize("shape", [(1, 2, 3), (2, 2, 2), (3, 1, 2), (4, 2, 1)])
def test_reference_log_dets_match_autograd_jacobian(shape: tuple[int, int, int]) -> None:
    channels, height, width = shape
    params = _params(channels, seed=sum(shape))
    z = torch.randn(2, channels * height * width, dtype=torch.float64)

    def forward(flat: Tensor) -> Tensor:
        x, _ = reference.invertible_conv_forward(flat.reshape(-1, *shape), *params)
        return x.reshape(flat.shape[0], -1)

    def inverse(flat: Tensor) -> Tensor:
        v, _ = reference.invertible_conv_inverse(flat.reshape(-1, *shape), *params)
        return v.reshape(flat.shape[0], -1)

    _, ld_forward = reference.invertible_conv_forward(z.reshape(-1, *shape), *params)
    _, ld_inverse = reference.invertible_conv_inverse(z.reshape(-1, *shape), *params)
    torch.testing.assert_close(ld_forward, autograd_log_abs_det(forward, z))
    torch.testing.assert_close(ld_inverse, autograd_log_abs_det(inverse, z))


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_reference_weight_matches_slogdet(channels: int) -> None:
    params = _params(channels, seed=channels)
    weight = reference.lu_weight(*params)
    sign, log_abs = torch.linalg.slogdet(weight)
    torch.testing.assert_close(log_abs, params[4].sum())
    torch.testing.assert_close(sign, torch.linalg.det(params[0]) * params[3].prod())


def test_reference_inverse_uses_triangular_solves(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reference inverse must not invert W")

    params = _params(4, seed=1)
    x = torch.randn(3, 4, 2, 3, dtype=torch.float64)
    weight = reference.lu_weight(*params)
    expected = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(weight), x)
    for name in ("inv", "pinv", "solve"):
        monkeypatch.setattr(torch.linalg, name, refuse)
    monkeypatch.setattr(torch, "inverse", refuse)
    z, _ = reference.invertible_conv_inverse(x, *params)
    torch.testing.assert_close(z, expected)


def test_reference_practice_problem_4() -> None:
    """Seed practice problem 4: C=3, H=W=32, U diagonal (2, 0.5, 0.8) -> about -228.5."""
    params = list(_params(3, seed=4))
    params[3] = torch.ones(3, dtype=torch.float64)
    params[4] = torch.log(torch.tensor([2.0, 0.5, 0.8], dtype=torch.float64))
    z = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    _, log_det = reference.invertible_conv_forward(z, *params)
    assert log_det.shape == (2,)
    assert abs(float(log_det[0]) - (-228.5)) < 0.01
    exact = 32 * 32 * (math.log(2.0) + math.log(0.5) + math.log(0.8))
    torch.testing.assert_close(log_det, torch.full((2,), exact, dtype=torch.float64))
