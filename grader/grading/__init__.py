"""Grading one submission: the library behind `grade exercise-NN`, `grade batch` and kits.

    from grader.grading import grade_exercise, grade_submission

    result = grade_exercise("exercise-03", Path("exercises"), device="cpu", seed=0)
    results = grade_submission(Path("submissions/alice"), seed=0)   # list[ExerciseResult]

exercise  `grade_exercise`, `grade_file`, `grade_submission`: pick hidden tests or public checks
hidden    the hidden tests decide the score (instructor side)
public    the public checks recorded at release, replayed in a student kit
device    `resolve_device`, `DeviceUnavailable`

A submitted file is read once, safely, into a `SubmittedFile` (its bytes or why it cannot
be graded, and its content hash); grading never reads the submission folder again, so a
file can be graded on another machine. Nothing here imports torch until it grades.
"""

from grader.grading.device import DeviceUnavailable, resolve_device
from grader.grading.exercise import grade_exercise, grade_file, grade_submission
from grader.runner.source import SubmittedFile, submission_hash

__all__ = [
    "DeviceUnavailable",
    "SubmittedFile",
    "grade_exercise",
    "grade_file",
    "grade_submission",
    "resolve_device",
    "submission_hash",
]
