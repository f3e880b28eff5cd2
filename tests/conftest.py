"""Fixtures shared by the project tests of the exercises (tests/test_exercise_0*.py)."""

from __future__ import annotations

import pytest

from grader.grading import grade_exercise
from grader.results import ExerciseResult
from tests.exercise_grading import GradeMutant
from tests.wrong.mutants import materialize


@pytest.fixture(scope="session")
def graded_mutant(tmp_path_factory: pytest.TempPathFactory) -> GradeMutant:
    """graded_mutant(exercise_id, name) -> ExerciseResult, graded once per session.

    Each mutant is written into its own pytest temporary folder and graded with seed 0;
    later calls for the same mutant get the same result without grading again.
    """
    results: dict[tuple[str, str], ExerciseResult] = {}

    def grade(exercise_id: str, name: str) -> ExerciseResult:
        if (exercise_id, name) not in results:
            folder = materialize(exercise_id, name, tmp_path_factory.mktemp(name))
            results[exercise_id, name] = grade_exercise(exercise_id, folder, seed=0)
        return results[exercise_id, name]

    return grade
