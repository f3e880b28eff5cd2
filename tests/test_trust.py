"""Issue 11's classes of slips, on more seeds than the grading contract's one, and the
correct alternatives that must keep full marks.

A slip of each class (tests/wrong/mutants.py, `kind` other than "misconception") gives the
right values on ordinary inputs: far tails and tiny/huge diagonals, gradients, in-place
writes into tensors the student did not create, tensors a GPU run would put on the CPU, a
float32 step inside a float64 computation, a log-det missing one term or summed over the
batch. Each must lose points with its hint on every seed. The alternatives
(tests/right/alternatives.py) are right in other ways and must lose nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading import grade_exercise
from tests.exercise_grading import MAX_SCORE, assert_mistake_caught
from tests.right.alternatives import ALTERNATIVES, Alternative
from tests.wrong.mutants import MUTANTS, Mutant, materialize, write_submission

EXTRA_SEEDS = (1, 2)  # the grading contract grades every mutant with seed 0
SLIPS = [(e, m) for e, table in MUTANTS.items() for m in table if m.kind != "misconception"]
CORRECT = [(e, a) for e, table in ALTERNATIVES.items() for a in table]


def test_every_exercise_has_a_slip_of_each_class_it_can_show() -> None:
    kinds = {e: {m.kind for m in table} for e, table in MUTANTS.items()}
    every = {"range", "gradient", "device", "precision"}
    assert all(every <= found for found in kinds.values()), kinds
    assert {"in-place"} <= kinds["exercise-01"] & kinds["exercise-03"] & kinds["exercise-05"]
    missing_term = {e for e, found in kinds.items() if "missing-term" in found}
    assert missing_term == {"exercise-02", "exercise-03", "exercise-04", "exercise-05"}


@pytest.mark.parametrize("seed", EXTRA_SEEDS)
@pytest.mark.parametrize(("exercise_id", "mutant"), SLIPS, ids=[f"{e}-{m.name}" for e, m in SLIPS])
def test_slip_loses_points_with_its_hint(
    exercise_id: str, mutant: Mutant, seed: int, tmp_path: Path
) -> None:
    folder = materialize(exercise_id, mutant.name, tmp_path)
    assert_mistake_caught(grade_exercise(exercise_id, folder, seed=seed), mutant)


@pytest.mark.parametrize("seed", (0, 1))
@pytest.mark.parametrize(
    ("exercise_id", "alternative"), CORRECT, ids=[f"{e}-{a.name}" for e, a in CORRECT]
)
def test_correct_alternative_keeps_full_marks(
    exercise_id: str, alternative: Alternative, seed: int, tmp_path: Path
) -> None:
    folder = write_submission(exercise_id, alternative.edits, tmp_path)
    result = grade_exercise(exercise_id, folder, seed=seed)
    lost = [t.output for t in result.tests if t.status != "passed"]
    assert result.score == result.max_score == MAX_SCORE, lost
