"""Grade one submission's exercise, or all of a submission: the library's entry points.

    result = grade_exercise("exercise-03", Path("exercises"), device="cpu", seed=0)
    results = grade_submission(Path("submissions/alice"))          # every exercise found
    result = grade_file("exercise-03", SubmittedFile.read(path, limits.source_bytes))

Where the hidden tests exist (the instructor's copy) they decide the score
(`grader.grading.hidden`); in a student kit, which has none, the public checks recorded
at release are replayed instead (`grader.grading.public`). Either way student code runs
only in workers forked from the zygote, never in this process.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path

from grader.exercises import EXERCISES, get_exercise
from grader.results import ExerciseResult
from grader.runner.limits import Limits
from grader.runner.source import SubmittedFile
from grader.runner.zygote import Zygote, shared_zygote


def grade_exercise(
    exercise_id: str,
    submission_dir: Path,
    *,
    device: str = "cpu",
    seed: int | None = None,
    zygote: Zygote | None = None,
    call_timeout: float | None = None,
    limits: Limits | None = None,
    use_pytest: bool = False,
) -> ExerciseResult:
    """Grade `submission_dir/<exercise file>` (a folder laid out like `exercises/`).

    `limits` (default `Limits()`, a course may override) bound the submission's time and
    resources; `call_timeout`, when given, overrides `limits.call_seconds`. `seed` None
    draws a fresh one. The tests run without a pytest session where that gives the same
    outcomes (`grader.testing.direct`), else, or with `use_pytest`, in an in-process
    pytest run. Raises `DeviceUnavailable` for a device this machine does not have.
    """
    limits = _limits(limits, call_timeout)
    exercise = get_exercise(exercise_id)
    submitted = SubmittedFile.read(Path(submission_dir) / exercise.filename, limits.source_bytes)
    return grade_file(
        exercise.id, submitted, device=device, seed=seed, zygote=zygote, limits=limits,
        use_pytest=use_pytest,
    )  # fmt: skip


def grade_file(
    exercise_id: str,
    submitted: SubmittedFile,
    *,
    device: str = "cpu",
    seed: int | None = None,
    zygote: Zygote | None = None,
    limits: Limits | None = None,
    use_pytest: bool = False,
) -> ExerciseResult:
    """Grade an exercise file already read (what a batch's grading processes receive)."""
    exercise = get_exercise(exercise_id)
    zygote = zygote or shared_zygote()
    limits = limits or Limits()
    if not exercise.hidden_test_file.is_file():  # a student kit: replay the public checks
        from grader.grading.public import grade_public

        return grade_public(exercise, submitted, zygote=zygote, limits=limits)
    from grader.grading.hidden import grade_hidden

    seed = secrets.randbelow(2**31) if seed is None else seed
    return grade_hidden(
        exercise, submitted, device=device, seed=seed, zygote=zygote, limits=limits,
        use_pytest=use_pytest,
    )  # fmt: skip


def grade_submission(
    submission_dir: Path,
    exercises: list[str] | None = None,
    *,
    device: str = "cpu",
    seed: int | None = None,
    zygote: Zygote | None = None,
    call_timeout: float | None = None,
    limits: Limits | None = None,
) -> list[ExerciseResult]:
    """Grade every exercise of one submission folder with one seed and one zygote.

    `exercises` (ids) default to every exercise whose file is in the folder; an explicitly
    named exercise whose file is missing is graded too (and says so)."""
    folder = Path(submission_dir)
    chosen = (
        [get_exercise(e) for e in exercises]
        if exercises
        else [e for e in EXERCISES if (folder / e.filename).exists()]
    )
    seed = secrets.randbelow(2**31) if seed is None else seed
    zygote = zygote or shared_zygote()
    limits = _limits(limits, call_timeout)
    return [
        grade_exercise(e.id, folder, device=device, seed=seed, zygote=zygote, limits=limits)
        for e in chosen
    ]


def _limits(limits: Limits | None, call_timeout: float | None) -> Limits:
    limits = limits or Limits()
    return limits if call_timeout is None else replace(limits, call_seconds=call_timeout)
