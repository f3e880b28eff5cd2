"""Project tests for exercise-02 (triangular Jacobians, affine autoregressive flow).

The grading contract (reference full marks, stub zero, every typical mistake in
tests/wrong/mutants.py loses points with its hint) comes from tests/exercise_grading.py;
a dense determinant must lose only the cost point. The reference itself is checked
against independent oracles: autograd Jacobians and torch.linalg.slogdet (float64,
small d, both directions), and the round trip.
"""

from __future__ import annotations

import copy
import pickle
import time
from pathlib import Path

import pytest
import torch

from grader.grading import grade_exercise
from grader.testing.flows_02 import (
    LargeLowerTriangular,
    WatchedMatrix,
    WholeMatrixDecomposition,
    build_lower_triangular,
    triangular_diagonal,
)
from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_02_triangular_logdet as reference
from tests.exercise_grading import GradeMutant, GradingContract, failed_outputs

ROOT = Path(__file__).resolve().parents[1]
FILE = "exercise_02_triangular_logdet.py"


class TestGrading(GradingContract):
    exercise_id = "exercise-02"


def _weights(generator: torch.Generator, d: int) -> tuple[torch.Tensor, ...]:
    shapes = [(d, d), (d,), (d, d), (d,)]
    return tuple(torch.randn(*s, generator=generator, dtype=torch.float64) * 0.5 for s in shapes)


@pytest.fixture(scope="module")
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_dense_determinant_loses_only_the_cost_point(graded_mutant: GradeMutant) -> None:
    """Its values are right, so the cost test alone must catch it, naming the call at once
    (torch.linalg.slogdet on the watched matrix) instead of waiting for the time limit."""
    result = graded_mutant("exercise-02", "dense_determinant")
    assert sorted(failed_outputs(result)) == ["triangular_cost"]
    output = failed_outputs(result)["triangular_cost"]
    assert "computed torch.linalg.slogdet of the whole (1, 6000, 6000) matrix" in output
    assert "ran for more than" not in output


def _grade_reference_with(tmp_path: Path, first_lines: str) -> dict[str, str]:
    """Grade the reference with `first_lines` (indented code) opening its
    triangular_log_abs_det; the failed tests and their outputs."""
    signature = "def triangular_log_abs_det(jacobian: Tensor) -> Tensor:"
    source = (ROOT / "solutions" / FILE).read_text()
    (tmp_path / FILE).write_text(source.replace(signature, f"{signature}\n{first_lines}"))
    return failed_outputs(grade_exercise("exercise-02", tmp_path, seed=0))


def test_a_correct_answer_that_copies_the_matrix_first_keeps_the_cost_point(tmp_path) -> None:
    """Copying is O(d^2) work, not a refused decomposition: the watched matrix allows it
    (a deep copy of a torch subclass raised before). On an idle machine the copy takes
    ~0.2 s of the 0.5 s limit; under heavy load the limit may judge it, never an error. The
    copy does cut the gradient, which the gradient test reports."""
    failed = _grade_reference_with(
        tmp_path, "    import copy\n    jacobian = copy.deepcopy(jacobian)"
    )
    assert set(failed) <= {"triangular_cost", "gradients"}
    assert "raised" not in failed.get("triangular_cost", "")
    # a deep copy is a new leaf: the log-det no longer depends on the input (as in training)
    assert "does not depend on jacobian in a differentiable way" in failed["gradients"]


def test_a_dense_determinant_the_watch_cannot_see_meets_the_time_limit(tmp_path) -> None:
    """numpy's slogdet on a copy escapes `WatchedMatrix`; the time limit still stops it."""
    failed = _grade_reference_with(
        tmp_path,
        "    import numpy\n    return torch.from_numpy(numpy.linalg.slogdet(jacobian.numpy())[1])",
    )
    assert "your function ran for more than 0.5 s and was stopped" in failed["triangular_cost"]


# ---------------------------------------------------------------- reference vs oracles


def test_triangular_log_abs_det_matches_slogdet(generator: torch.Generator) -> None:
    lower = torch.tril(torch.randn(5, 6, 6, generator=generator, dtype=torch.float64))
    lower = lower + torch.diag_embed(torch.sign(torch.randn(5, 6, generator=generator)))
    torch.testing.assert_close(
        reference.triangular_log_abs_det(lower), torch.linalg.slogdet(lower).logabsdet
    )


def test_triangular_log_abs_det_is_finite_where_the_product_is_not() -> None:
    tiny = torch.diag_embed(torch.full((1, 500), 1e-3, dtype=torch.float64))
    assert torch.prod(torch.diagonal(tiny, dim1=-2, dim2=-1)) == 0  # the product underflows
    torch.testing.assert_close(
        reference.triangular_log_abs_det(tiny),
        torch.tensor([500 * torch.log(torch.tensor(1e-3, dtype=torch.float64)).item()]),
        check_dtype=False,
    )


@pytest.mark.parametrize("d", [1, 2, 5])
def test_forward_and_inverse_log_dets_match_autograd(generator: torch.Generator, d: int) -> None:
    weights = _weights(generator, d)
    z = torch.randn(3, d, generator=generator, dtype=torch.float64)
    x, forward_log_det = reference.autoregressive_affine_forward(z, *weights)
    oracle = autograd_log_abs_det(
        lambda v: reference.autoregressive_affine_forward(v, *weights)[0], z
    )
    torch.testing.assert_close(forward_log_det, oracle)
    back, inverse_log_det = reference.autoregressive_affine_inverse(x, *weights)
    oracle = autograd_log_abs_det(
        lambda v: reference.autoregressive_affine_inverse(v, *weights)[0], x
    )
    torch.testing.assert_close(inverse_log_det, oracle)
    torch.testing.assert_close(back, z)
    torch.testing.assert_close(
        forward_log_det + inverse_log_det, torch.zeros(3, dtype=torch.float64)
    )


def test_forward_jacobian_is_lower_triangular_with_exp_a_diagonal(generator: torch.Generator):
    d = 5
    weights = _weights(generator, d)
    z = torch.randn(d, generator=generator, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: reference.autoregressive_affine_forward(v.unsqueeze(0), *weights)[0][0], z
    )
    assert torch.count_nonzero(torch.triu(jacobian, 1)) == 0
    log_scale = z @ torch.tril(weights[2], -1).T + weights[3]
    torch.testing.assert_close(torch.diagonal(jacobian), torch.exp(log_scale))


def test_large_triangular_token_is_small_and_builds_the_matrix() -> None:
    token = LargeLowerTriangular(50, seed=7)
    payload = pickle.dumps(token)
    assert len(payload) < 500
    matrix = pickle.loads(payload)
    assert type(matrix) is WatchedMatrix and matrix.shape == (1, 50, 50)
    assert torch.count_nonzero(torch.triu(matrix[0], 1)) == 0
    assert torch.count_nonzero(torch.tril(matrix[0], -1)) > 0  # not merely diagonal
    torch.testing.assert_close(torch.diagonal(matrix[0]), triangular_diagonal(50, 7))
    assert torch.equal(matrix, build_lower_triangular(50, 7))


@pytest.mark.parametrize(
    "decompose",
    [
        lambda j: torch.linalg.slogdet(j),
        lambda j: torch.linalg.slogdet(A=j),
        lambda j: j.det(),
        lambda j: torch.logdet(j),
        lambda j: torch.linalg.lu_factor(j),
        lambda j: torch.linalg.inv(j),
        lambda j: torch.linalg.eigvals(j),
    ],
)
def test_the_watched_matrix_refuses_whole_matrix_decompositions(decompose) -> None:
    matrix = pickle.loads(pickle.dumps(LargeLowerTriangular(40, seed=2)))
    with pytest.raises(WholeMatrixDecomposition, match=r"of the whole \(1, 40, 40\) matrix"):
        try:
            decompose(matrix)
        except Exception:  # what a student's blanket except would do: it must not hide it
            pytest.fail("WholeMatrixDecomposition was caught as an Exception")


def test_everything_else_on_the_watched_matrix_is_plain_torch() -> None:
    matrix = pickle.loads(pickle.dumps(LargeLowerTriangular(40, seed=2)))
    plain = build_lower_triangular(40, 2)
    diagonal = torch.diagonal(matrix, dim1=-2, dim2=-1)
    assert type(diagonal) is torch.Tensor and type(matrix.abs()) is torch.Tensor
    torch.testing.assert_close(diagonal, torch.diagonal(plain, dim1=-2, dim2=-1))
    for copied in (matrix.clone(), copy.deepcopy(matrix)):
        assert type(copied) is torch.Tensor and torch.equal(copied, plain)
    copied = matrix.clone()
    torch.testing.assert_close(
        torch.linalg.slogdet(copied).logabsdet, reference.triangular_log_abs_det(plain)
    )


def test_cost_matrix_builds_quickly() -> None:
    """The cost test's 6000 x 6000 matrix must be cheap to build, so a correct answer is fast."""
    started = time.perf_counter()
    matrix = build_lower_triangular(6000, seed=3)
    assert time.perf_counter() - started < 2.0
    torch.testing.assert_close(
        reference.triangular_log_abs_det(matrix),
        torch.log(triangular_diagonal(6000, 3).abs()).sum().reshape(1),
    )
