"""Fixtures for the hostile-submission tests: one fork server, and `grade`, which grades a
generated exercise-03 submission with short limits and then checks the grader is unharmed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import FAST, assert_unharmed, write_submission

from grader.grading import grade_exercise
from grader.results import ExerciseResult
from grader.runner.limits import Limits
from grader.runner.zygote import Zygote


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    """One fork server for the folder, with the strongest sandbox this machine offers."""
    server = Zygote.start()
    server.verified()
    yield server
    server.close()


@pytest.fixture
def grade(zygote: Zygote, tmp_path: Path):
    """grade(text_or_folder, **limit_overrides) -> ExerciseResult, then checks the grader."""

    def run(submission: str | bytes | Path, **overrides: float) -> ExerciseResult:
        folder = (
            submission
            if isinstance(submission, Path)
            else write_submission(tmp_path / "submission", submission)
        )
        limits = Limits(**{**FAST.__dict__, **overrides})
        result = grade_exercise("exercise-03", folder, seed=0, zygote=zygote, limits=limits)
        assert_unharmed(zygote)
        return result

    return run
