"""Project tests for exercise-04 (Glow invertible 1x1 convolution).

They prove that the hidden tests grade correctly (full marks for the reference, zero with
clear messages for the stub, lost points plus the matching hint for typical mistakes) and
that the reference agrees with independent oracles (autograd Jacobian + slogdet).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

from grader.results import ExerciseResult
from grader.session import grade_exercise
from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_04_invertible_1x1_conv as reference

EXERCISE = "exercise-04"
FUNCTIONS = ("lu_weight", "invertible_conv_forward", "invertible_conv_inverse")
WRONG = Path(__file__).parent / "wrong" / "exercise_04"

# folder under tests/wrong/exercise_04 -> a distinctive piece of the hint it must get
MISTAKES = {
    "missing_hw": "H * W * sum(log_abs_diag), not sum(log_abs_diag) alone",
    "transposed_weight": "you applied the transpose",
    "product_order": "wrong product order: W = P @ L @ U",
    "inverse_log_det_sign": "the log-det has the wrong sign",
    "scalar_log_det": "return one log-det per sample, shape (B,)",
    "log_of_signed_diagonal": "log of U's signed diagonal",
}


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


@pytest.fixture(scope="module")
def wrong_results() -> dict[str, ExerciseResult]:
    return {name: grade_exercise(EXERCISE, WRONG / name, seed=0) for name in MISTAKES}


def test_reference_gets_full_marks() -> None:
    result = grade_exercise(EXERCISE, Path("solutions"), seed=0)
    assert result.max_score == 10
    assert result.full_marks, [t.output for t in result.tests if t.status != "passed"]


def test_stub_scores_zero_with_not_implemented_messages() -> None:
    result = grade_exercise(EXERCISE, Path("exercises"), seed=0)
    assert result.score == 0 and result.max_score == 10
    assert all(t.status == "failed" for t in result.tests), "no internal errors expected"
    outputs = "\n".join(t.output for t in result.tests)
    for function in FUNCTIONS:
        assert f"not implemented yet: {function}" in outputs


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_typical_mistake_loses_points_with_its_hint(
    mistake: str, wrong_results: dict[str, ExerciseResult]
) -> None:
    result = wrong_results[mistake]
    assert result.score < result.max_score
    assert all(t.status != "error" for t in result.tests), [t.output for t in result.tests]
    hints = [t.feedback.hint or "" for t in result.tests if t.feedback is not None]
    assert any(MISTAKES[mistake] in hint for hint in hints), hints


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
