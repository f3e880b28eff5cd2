"""The result model: what one graded test and one graded exercise produced.

Plain dataclasses with no torch import. Everything downstream (renderers, gradebook,
reports) reads these; nothing downstream re-runs or re-scores anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "error"]


@dataclass(frozen=True)
class Feedback:
    """Teaching feedback for one failed check.

    `checked`: what was checked; `differs`: how the result differed (shape, first differing
    element, max error); `hint`: the misconception this suggests, if one was recognised.
    """

    checked: str
    differs: str
    hint: str | None = None

    def as_text(self) -> str:
        lines = [f"checked: {self.checked}", f"differs: {self.differs}"]
        if self.hint:
            lines.append(f"hint:    {self.hint}")
        return "\n".join(lines)


@dataclass(frozen=True)
class TestResult:
    """The outcome of one hidden test, worth `max_score` points."""

    name: str
    description: str
    score: float
    max_score: float
    status: Status
    feedback: Feedback | None = None

    @property
    def output(self) -> str:
        """The text a student sees for this test (empty when it passed)."""
        return self.feedback.as_text() if self.feedback else ""


@dataclass(frozen=True)
class ExerciseResult:
    """All test results of one exercise for one submission."""

    exercise: str
    title: str
    tests: tuple[TestResult, ...]
    seed: int
    device: str
    suite_hash: str
    submission_hash: str
    duration_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 6)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 6)

    @property
    def full_marks(self) -> bool:
        return bool(self.tests) and self.score == self.max_score

    def to_gradescope(self) -> dict[str, Any]:
        """The result as a Gradescope results.json object, plus flowgrade's own fields."""
        return {
            "exercise": self.exercise,
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.duration_s, 3),
            "output": f"{self.exercise}: {self.score:g}/{self.max_score:g}",
            "tests": [
                {
                    "name": t.name,
                    "number": str(i),
                    "score": t.score,
                    "max_score": t.max_score,
                    "status": t.status,
                    "output": t.output,
                }
                for i, t in enumerate(self.tests, start=1)
            ],
            "seed": self.seed,
            "device": self.device,
            "suite_hash": self.suite_hash,
            "submission_hash": self.submission_hash,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExerciseResult:
        tests = tuple(
            TestResult(
                **{k: v for k, v in t.items() if k != "feedback"},
                feedback=Feedback(**t["feedback"]) if t.get("feedback") else None,
            )
            for t in data["tests"]
        )
        fields = {k: v for k, v in data.items() if k not in ("tests", "notes")}
        return cls(**fields, tests=tests, notes=tuple(data.get("notes", ())))
