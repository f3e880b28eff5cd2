"""The gradebook: one SQLite file holding every exercise result and quiz attempt.

Students' own runs (`grade exercise-03`, `grade quiz take`) and the instructor's batch
runs write to the same schema; reports only read from it.
"""

from grader.gradebook.records import (
    BatchRunRecord,
    HintRecord,
    QuizAttemptRecord,
    SubmissionRecord,
    TestRow,
)
from grader.gradebook.store import (
    DEFAULT_GRADEBOOK,
    Gradebook,
    GradebookError,
    default_student_id,
)

__all__ = [
    "DEFAULT_GRADEBOOK",
    "BatchRunRecord",
    "Gradebook",
    "GradebookError",
    "HintRecord",
    "QuizAttemptRecord",
    "SubmissionRecord",
    "TestRow",
    "default_student_id",
]
