"""Rows of the gradebook as typed records (what readers of the gradebook get back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SubmissionRecord:
    """One graded exercise submission; `superseded` rows are history kept by a regrade."""

    id: int
    student: str
    exercise: str
    content_hash: str
    suite_hash: str
    seed: int
    device: str
    score: float
    max_score: float
    graded_at: str
    duration_s: float
    superseded: bool
    result_json: str
    submitted_at: str | None = None
    batch_run: int | None = None


@dataclass(frozen=True)
class TestRow:
    """One per-test result of a stored submission (the `test_results` table)."""

    submission_id: int
    position: int
    name: str
    score: float
    max_score: float
    status: str
    message: str


@dataclass(frozen=True)
class BatchRunRecord:
    """One `grade batch` run: its seed (every score it wrote used it) and how it ended.

    `status` is `running` while it runs (or when it was killed without a chance to say
    so), then `finished` or `interrupted`.
    """

    id: int
    started_at: str
    finished_at: str | None
    seed: int
    jobs: int
    source: str
    status: str
    planned: int
    graded: int


@dataclass
class QuizAttemptRecord:
    """One attempt at a quiz, saved as it progresses so that `take` can resume it.

    `data` holds the quiz-specific part: the shown option order per question, the answers
    given so far, and per-question scores once marked.
    """

    student: str
    quiz: str
    attempt: int
    seed: int
    mode: str
    state: str = "in-progress"  # or "finished"
    started_at: str = ""
    finished_at: str | None = None
    score: float | None = None
    max_score: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class HintRecord:
    """One hint step shown to a student: step 1 (nudge), 2 (idea) or 3 (formula) of one
    function's hints, and when (ISO 8601, UTC)."""

    student: str
    exercise: str
    function: str
    step: int
    shown_at: str
