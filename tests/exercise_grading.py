"""The grading contract every exercise's project tests check, written once.

A test file subclasses `GradingContract` as `TestGrading` and sets `exercise_id`; pytest then
runs, for that exercise:

* the reference (`solutions/`) earns full marks, 10 of 10, every hidden test passing;
* the stub (`exercises/`) earns 0, every hidden test failing (none erroring) with
  "not implemented yet: <function>" for each function the student writes;
* every typical mistake in tests/wrong/mutants.py loses points without an internal error
  and shows its hint (in the named hidden test's output, or in some test's feedback hint).

`assert_full_marks_with` grades a correct answer written differently.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from grader.exercises import get_exercise
from grader.grading import grade_exercise
from grader.results import ExerciseResult
from tests.wrong.mutants import MUTANTS, Edit, Mutant, write_submission

ROOT = Path(__file__).resolve().parents[1]
MAX_SCORE = 10

GradeMutant = Callable[[str, str], ExerciseResult]  # the `graded_mutant` fixture (conftest.py)


def failed_outputs(result: ExerciseResult) -> dict[str, str]:
    """Hidden test name -> its output, for the tests that failed."""
    return {t.name: t.output for t in result.tests if t.status == "failed"}


def assert_mistake_caught(result: ExerciseResult, mutant: Mutant) -> None:
    """The mutant lost points, nothing errored, and its hint was shown where expected."""
    assert result.score < result.max_score
    assert not [t.name for t in result.tests if t.status == "error"], [
        t.output for t in result.tests
    ]
    if mutant.test is not None:
        failed = failed_outputs(result)
        assert mutant.test in failed, sorted(failed)
        assert mutant.hint in failed[mutant.test], failed[mutant.test]
    else:
        hints = [t.feedback.hint or "" for t in result.tests if t.feedback is not None]
        assert any(mutant.hint in hint for hint in hints), hints


def assert_full_marks_with(exercise_id: str, edits: tuple[Edit, ...], folder: Path) -> None:
    """The reference with `edits` applied (a correct answer written differently), graded in
    `folder`, keeps full marks."""
    result = grade_exercise(exercise_id, write_submission(exercise_id, edits, folder), seed=3)
    assert result.full_marks, [t.output for t in result.tests if t.status != "passed"]


class GradingContract:
    """Base for one exercise's `TestGrading` class; not collected itself (no Test prefix)."""

    exercise_id: ClassVar[str]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "mutant" in metafunc.fixturenames:
            table = MUTANTS[self.exercise_id]
            metafunc.parametrize("mutant", table, ids=[m.name for m in table])

    def test_reference_gets_full_marks(self) -> None:
        result = grade_exercise(self.exercise_id, ROOT / "solutions", seed=0)
        assert result.max_score == MAX_SCORE
        not_passed = [t.output for t in result.tests if t.status != "passed"]
        assert result.full_marks and not not_passed, not_passed

    def test_stub_gets_zero_with_not_implemented_messages(self) -> None:
        result = grade_exercise(self.exercise_id, ROOT / "exercises", seed=0)
        assert result.score == 0 and result.max_score == MAX_SCORE
        assert all(t.status == "failed" for t in result.tests), "no internal errors expected"
        assert all("not implemented yet: " in t.output for t in result.tests)
        outputs = "\n".join(t.output for t in result.tests)
        assert "internal error" not in outputs
        for function in get_exercise(self.exercise_id).functions:
            assert f"not implemented yet: {function}" in outputs

    def test_typical_mistake_loses_points_with_its_hint(
        self, mutant: Mutant, graded_mutant: GradeMutant
    ) -> None:
        assert_mistake_caught(graded_mutant(self.exercise_id, mutant.name), mutant)
