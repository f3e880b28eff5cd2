"""A student's progress through the unit: which exercises are done, what comes next.

    progress = load_progress(Path(".flowgrade/gradebook.sqlite"), "alice")
    progress.done_count, progress.next_unfinished("exercise-03")

An exercise is done when the student's latest recorded result has full marks (in a
student kit: every public check passed). Read from the gradebook that `grade
exercise-NN` and `grade watch` write; an exercise never graded is simply not done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.exercises import EXERCISES, Exercise, get_exercise
from grader.gradebook import Gradebook, GradebookError, SubmissionRecord, gradebook_exists

BAR_WIDTH = 20


@dataclass(frozen=True)
class UnitProgress:
    """(score, max_score) of the latest result of each exercise (absent: never graded)."""

    scores: dict[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, records: dict[str, SubmissionRecord]) -> UnitProgress:
        return cls({e: (r.score, r.max_score) for e, r in records.items()})

    def is_done(self, exercise_id: str) -> bool:
        score, maximum = self.scores.get(exercise_id, (0.0, 0.0))
        return maximum > 0 and score >= maximum

    @property
    def done_count(self) -> int:
        return sum(self.is_done(e.id) for e in EXERCISES)

    @property
    def total(self) -> int:
        return len(EXERCISES)

    def next_unfinished(self, after: str | None = None) -> Exercise | None:
        """The first exercise not done that comes after `after` in the unit (wrapping
        around to the start), or the first not done at all when `after` is None."""
        order = list(EXERCISES)
        if after is not None:
            start = order.index(get_exercise(after)) + 1
            order = order[start:] + order[:start]
        return next((e for e in order if not self.is_done(e.id)), None)

    def with_score(self, exercise_id: str, score: float, max_score: float) -> UnitProgress:
        return UnitProgress({**self.scores, exercise_id: (score, max_score)})

    def bar(self, width: int = BAR_WIDTH) -> str:
        """`████████░░░░░░░░░░░░ 2/5 exercises done`: one line over the whole unit."""
        filled = round(width * self.done_count / self.total) if self.total else width
        return (
            f"{'█' * filled}{'░' * (width - filled)} {self.done_count}/{self.total} exercises done"
        )


def load_progress(gradebook: str | Path | None, student: str) -> UnitProgress:
    """The student's progress from `gradebook` (empty without one, or when unreadable)."""
    if gradebook is None or not gradebook_exists(gradebook):
        return UnitProgress()
    try:
        with Gradebook.open(gradebook, create=False) as book:
            return UnitProgress.of({r.exercise: r for r in book.current_submissions(student)})
    except GradebookError:
        return UnitProgress()
