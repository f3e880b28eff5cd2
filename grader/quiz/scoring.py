"""Marking one answer: the scoring rules and the feedback ids that explain the mark.

Multiple-select rules, with C the correct set, S the selected set, TP = |S ∩ C|,
FP = |S \\ C|, FN = |C \\ S| and N the number of options:

    all-or-nothing   1 if S == C else 0
    net-correct      max(0, (TP - FP) / |C|)
    coverage         (TP / |C|) * (TP / |S|)           (0 when nothing is selected)
    each-answer      max(0, 1 - (FP + FN) / N)

Numeric answers are right within max(tolerance, relative * |answer|); symbolic answers
when sympy proves them equivalent to the key (grader.symbolic.equivalent). Each question
kind marks its own answers (`grader.quiz.kinds`) with the rules here. Every mark is a
fraction in [0, 1] of the question's points: negative marking never goes below 0.

Feedback ids say which feedback applies: an option id (its feedback), `misconception:<id>`,
`correct`, `incorrect`, `timeout`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.quiz.question import Question


@dataclass(frozen=True)
class Mark:
    """The marking of one answer: `fraction` of `points`, and the feedback ids that apply."""

    fraction: float
    points: float
    feedback: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        return round(self.fraction * self.points, 6)

    @property
    def correct(self) -> bool:
        return self.fraction >= 1.0 - 1e-9

    def to_data(self) -> dict[str, Any]:
        return {
            "fraction": round(self.fraction, 6),
            "points": self.points,
            "score": self.score,
            "feedback": list(self.feedback),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Mark:
        return cls(float(data["fraction"]), float(data["points"]), tuple(data["feedback"]))


def multi_select_fraction(
    rule: str, correct: Collection[str], selected: Collection[str], n_options: int
) -> float:
    """The credit in [0, 1] of a multiple-select answer under `rule` (see module docstring)."""
    right, chosen = set(correct), set(selected)
    tp, fp, fn = len(chosen & right), len(chosen - right), len(right - chosen)
    if rule == "all-or-nothing":
        value = 1.0 if chosen == right else 0.0
    elif rule == "net-correct":
        value = (tp - fp) / len(right)
    elif rule == "coverage":
        value = (tp / len(right)) * (tp / len(chosen)) if chosen else 0.0
    elif rule == "each-answer":
        value = 1.0 - (fp + fn) / n_options
    else:
        raise ValueError(f"unknown multiple-select rule {rule!r}")
    return min(1.0, max(0.0, value))


def numeric_close(value: float, target: float, tolerance: float, relative: float) -> bool:
    if not (math.isfinite(value) and math.isfinite(target)):
        return False
    return abs(value - target) <= max(tolerance, relative * abs(target)) + 1e-12


def mark_answer(question: Question, answer: Mapping[str, Any]) -> Mark:
    """Mark a stored answer (from grader.quiz.answers.parse_answer) of a concrete question;
    each kind marks its own (`Question.mark`)."""
    return question.mark(answer)
