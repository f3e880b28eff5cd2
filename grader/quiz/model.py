"""The quiz data model: quizzes, options, misconceptions and variant templates.

Plain frozen dataclasses, built from a bank file by `grader.quiz.schema` and written back by
`grader.quiz.serialize`. Questions are one class per kind (`grader.quiz.kinds`; `Question`
is their base, re-exported here). Key fields (`Option.correct`, a question's `answer`,
feedback) are `None`/empty in a bank whose key was removed for the student kit
(`Quiz.has_key` False).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from grader.quiz.question import Question

Mode = Literal["practice", "exam"]
Rule = Literal["all-or-nothing", "net-correct", "coverage", "each-answer"]

MODES: tuple[str, ...] = ("practice", "exam")
RULES: tuple[str, ...] = ("all-or-nothing", "net-correct", "coverage", "each-answer")

RULE_TEXT: dict[str, str] = {
    "all-or-nothing": "full marks only for exactly the correct set; otherwise 0",
    "net-correct": "(correct picks - wrong picks) / number of correct options, at least 0",
    "coverage": "(correct picks / correct options) x (correct picks / picks)",
    "each-answer": "1 - (wrong picks + missed correct options) / number of options, at least 0",
}


@dataclass(frozen=True)
class Option:
    """One choice of a single/multi question. `id` is stable; the shown letter is not."""

    id: str
    text: str
    correct: bool | None = None
    feedback: str = ""
    pinned: bool = False


@dataclass(frozen=True)
class Misconception:
    """A recognised wrong numeric value or expression and the feedback that explains it.

    For a template, `value` is computed by the solver (under the same id) per student.
    """

    id: str
    feedback: str
    value: float | None = None
    expression: str | None = None


@dataclass(frozen=True)
class ParamSpec:
    """How one template parameter is drawn: `uniform` (rounded), `integer` or `choice`."""

    name: str
    kind: Literal["uniform", "integer", "choice"]
    low: float = 0.0
    high: float = 0.0
    decimals: int = 2
    values: tuple[float, ...] = ()
    nonzero: bool = False


@dataclass(frozen=True)
class KeyedDraw:
    """One precomputed variant of a template: its parameter values and the solver's key.

    `misconceptions` maps each misconception id of the question to the wrong value (numeric)
    or expression (symbolic) that mistake gives for these parameters.
    """

    params: dict[str, float]
    answer: float | str
    misconceptions: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Variant:
    """A parameterised question: numbers drawn per student, answer computed by `solver`.

    A student-kit copy of a practice quiz has no solver (solvers may call reference code
    the kit does not ship) but a `table` of keyed draws made at release time: an attempt
    then gets one row of the table instead of a fresh draw.
    """

    params: tuple[ParamSpec, ...]
    solver: str | None
    table: tuple[KeyedDraw, ...] = ()


@dataclass(frozen=True)
class Quiz:
    """A quiz: its questions in order. `name` is the bank file's stem (`grade quiz take NAME`)."""

    name: str
    title: str
    mode: Mode
    questions: tuple[Question, ...]
    description: str = ""
    has_key: bool = True
    source: Path | None = None

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    @property
    def max_score(self) -> float:
        return float(sum(q.points for q in self.questions))
