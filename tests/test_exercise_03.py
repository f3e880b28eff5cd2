"""Project tests for exercise-03: reference, stubs, typical mistakes and independent oracles."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader.session import grade_exercise
from grader.testing.flows import MLPConditioner
from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_03_affine_coupling as ref

ROOT = Path(__file__).resolve().parents[1]
FILE = "exercise_03_affine_coupling.py"


def mutate(tmp_path: Path, old: str, new: str) -> Path:
    """A submission folder holding the reference with one typical mistake written in."""
    source = (ROOT / "solutions" / FILE).read_text()
    assert old in source, old
    (tmp_path / FILE).write_text(source.replace(old, new, 1))
    return tmp_path


def test_reference_gets_full_marks() -> None:
    result = grade_exercise("exercise-03", ROOT / "solutions", seed=0)
    assert [t.status for t in result.tests] == ["passed"] * len(result.tests)
    assert result.score == result.max_score == 10


def test_stub_scores_zero_with_not_implemented() -> None:
    result = grade_exercise("exercise-03", ROOT / "exercises", seed=0)
    assert result.score == 0
    assert all(t.status == "failed" for t in result.tests)
    messages = {t.feedback.differs for t in result.tests if t.feedback}
    assert "not implemented yet: affine_coupling_forward" in messages
    assert "not implemented yet: soft_clamp" in messages


MISTAKES = [
    pytest.param(
        "return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1)",
        "return torch.cat([z_a, x_b], dim=-1), -log_scale.sum(dim=-1)",
        "wrong sign",
        id="forward-log-det-sign",
    ),
    pytest.param(
        "x_b = z_b * torch.exp(log_scale) + shift",
        "x_b = z_b * log_scale + shift",
        "the scale is s = exp(log_s)",
        id="scale-without-exp",
    ),
    pytest.param(
        "z_b = (x_b - shift) * torch.exp(-log_scale)",
        "z_b = x_b * torch.exp(-log_scale) - shift",
        "subtract t first",
        id="inverse-wrong-order",
    ),
    pytest.param(
        "z_b = (x_b - shift) * torch.exp(-log_scale)",
        "z_b = (x_b - shift) * torch.exp(log_scale)",
        "divides by s",
        id="inverse-multiplies",
    ),
    pytest.param(
        "log_scale.sum(dim=-1)\n\n\ndef affine_coupling_inverse",
        "log_scale.sum()\n\n\ndef affine_coupling_inverse",
        "one number per sample",
        id="log-det-summed-over-batch",
    ),
    pytest.param(
        "return bound * torch.tanh(raw / bound)",
        "return raw.clamp(-bound, bound)",
        "soft",
        id="hard-clamp",
    ),
    pytest.param(
        "    half = v.shape[-1] // 2\n    return v[..., :half], v[..., half:]",
        "    half = v.shape[-1] // 2\n    return v[..., -half:], v[..., :-half]",
        "wrong half",
        id="wrong-half",
    ),
]


@pytest.mark.parametrize(("old", "new", "hint"), MISTAKES)
def test_typical_mistake_loses_points_with_its_hint(
    tmp_path: Path, old: str, new: str, hint: str
) -> None:
    result = grade_exercise("exercise-03", mutate(tmp_path, old, new), seed=0)
    assert result.score < result.max_score
    assert not [t for t in result.tests if t.status == "error"]
    hints = [t.feedback.hint or "" for t in result.tests if t.feedback]
    assert any(hint in h for h in hints), hints


def test_in_place_modification_costs_the_structure_point(tmp_path: Path) -> None:
    submission = mutate(
        tmp_path,
        "    x_b = z_b * torch.exp(log_scale) + shift",
        "    x_b = z_b.mul_(torch.exp(log_scale)).add_(shift)",
    )
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
