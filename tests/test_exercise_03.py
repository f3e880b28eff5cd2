"""Project tests for exercise-03: grading outcomes, in-place edits and independent oracles.

The grading contract (reference full marks, stub zero, every typical mistake in
tests/wrong/mutants.py loses points with its hint) comes from tests/exercise_grading.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader.grading import grade_exercise
from grader.testing.flows import MLPConditioner
from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_03_affine_coupling as ref
from tests.exercise_grading import GradingContract
from tests.wrong.mutants import write_submission


class TestGrading(GradingContract):
    exercise_id = "exercise-03"


def test_in_place_modification_costs_the_structure_point(tmp_path: Path) -> None:
    in_place = (
        "    x_b = z_b * torch.exp(log_scale) + shift",
        "    x_b = z_b.mul_(torch.exp(log_scale)).add_(shift)",
    )
    submission = write_submission("exercise-03", (in_place,), tmp_path)
    result = grade_exercise("exercise-03", submission, seed=0)
    structure = next(t for t in result.tests if t.name == "structure")
    assert structure.score == 0
    assert "modified in place" in structure.feedback.differs


@pytest.mark.parametrize("d", [2, 3, 6])
def test_reference_log_det_matches_autograd_jacobian(d: int) -> None:
    conditioner = MLPConditioner(d // 2, d - d // 2, seed=d, scale=1.0).double()
    z = torch.randn(3, d, dtype=torch.float64, generator=torch.Generator().manual_seed(d))
    x, forward_ld = ref.affine_coupling_forward(z, conditioner)
    oracle = autograd_log_abs_det(lambda v: ref.affine_coupling_forward(v, conditioner)[0], z)
    torch.testing.assert_close(forward_ld, oracle)
    back, inverse_ld = ref.affine_coupling_inverse(x, conditioner)
    inverse_oracle = autograd_log_abs_det(
        lambda v: ref.affine_coupling_inverse(v, conditioner)[0], x
    )
    torch.testing.assert_close(inverse_ld, inverse_oracle)
    torch.testing.assert_close(back, z)


def test_reference_matches_worked_example_two() -> None:
    from grader.testing.flows import ConstantConditioner

    x, log_det = ref.affine_coupling_forward(
        torch.tensor([[1.0, 3.0]], dtype=torch.float64), ConstantConditioner([0.5], [2.0])
    )
    assert x[0, 1].item() == pytest.approx(6.946, abs=5e-4)
    assert log_det.item() == pytest.approx(0.5)


def test_soft_clamp_is_bounded_identity_near_zero() -> None:
    raw = torch.tensor([-1e6, -3.0, 0.0, 1e-4, 1e6], dtype=torch.float64)
    out = ref.soft_clamp(raw, 2.0)
    assert bool((out.abs() <= 2.0).all())
    assert out[3].item() == pytest.approx(1e-4, rel=1e-6)
