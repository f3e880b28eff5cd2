"""The gradebook: every exercise result and quiz attempt, in SQLite or PostgreSQL.

Students' own runs (`grade exercise-03`, `grade quiz take`) and the instructor's batch
runs write to the same schema; reports only read from it. A location is a file path (an
SQLite file, the default) or a `postgresql://` URL (`grader.gradebook.backends`).
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
    gradebook_exists,
    shown_location,
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
    "gradebook_exists",
    "shown_location",
]
