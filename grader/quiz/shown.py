"""A question as one attempt shows it: its number, option order and drawn parameters.

The attempt stores, per question, the shown option order (ids) and the template parameters;
`prepare_attempt_questions` draws them for a new attempt and `shown_questions` rebuilds the
concrete questions from what was stored, so resume, review and later marking all see exactly
what the student saw.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grader.quiz.errors import AttemptMismatch
from grader.quiz.model import Option, Question, Quiz
from grader.quiz.shuffle import letter
from grader.quiz.variants import draw_params, instantiate


@dataclass(frozen=True)
class ShownQuestion:
    """A concrete question with its position in the attempt and its displayed option order."""

    number: int
    question: Question
    order: tuple[str, ...] = ()
    params: dict[str, float] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.question.id

    @property
    def letters(self) -> str:
        return "".join(letter(i) for i in range(len(self.order)))

    def shown_options(self) -> list[tuple[str, Option]]:
        """(letter, option) pairs in the displayed order (none without options)."""
        return [(letter(i), self.question.option(oid)) for i, oid in enumerate(self.order)]

    def letter_of(self, option_id: str) -> str:
        return letter(self.order.index(option_id))

    def option_id_at(self, shown_letter: str) -> str:
        return self.order[ord(shown_letter.upper()) - ord("A")]


def prepare_attempt_questions(quiz: Quiz, seed: int) -> list[dict[str, Any]]:
    """The per-question plan of a new attempt: id, shown order and drawn parameters."""
    plan: list[dict[str, Any]] = []
    for question in quiz.questions:
        entry: dict[str, Any] = {"id": question.id}
        if order := question.shown_order(seed):
            entry["order"] = order
        if question.variant is not None:
            entry["params"] = draw_params(question.variant, seed, question.id)
        plan.append(entry)
    return plan


def shown_questions(
    quiz: Quiz, plan: list[Mapping[str, Any]], *, with_key: bool | None = None
) -> list[ShownQuestion]:
    """Rebuild the concrete questions of an attempt from its stored plan.

    Raises AttemptMismatch when the plan does not fit the quiz (a question or option id is
    missing), which means the bank changed since the attempt was made.
    """
    key = quiz.has_key if with_key is None else with_key
    shown = []
    for number, entry in enumerate(plan, start=1):
        question_id = str(entry.get("id"))
        try:
            question = quiz.question(question_id)
        except KeyError:
            raise AttemptMismatch(
                f"quiz {quiz.name} has no question {question_id!r} any more"
            ) from None
        order = tuple(entry.get("order") or ())
        if sorted(order) != sorted(question.option_ids):
            raise AttemptMismatch(f"quiz {quiz.name}: the options of {question_id} changed")
        params = dict(entry.get("params") or {})
        if question.variant is not None and not params:
            raise AttemptMismatch(f"quiz {quiz.name}: {question_id} became a template")
        concrete = instantiate(question, params, with_key=key)
        shown.append(ShownQuestion(number, concrete, order, params))
    return shown


def drawn_quiz(quiz: Quiz, seed: int) -> Quiz:
    """`quiz` with every template replaced by its variant for `seed`, key computed (what
    GIFT and QTI export and a printed sheet show)."""
    plan = {entry["id"]: entry for entry in prepare_attempt_questions(quiz, seed)}
    questions = tuple(
        instantiate(q, plan[q.id].get("params", {}), with_key=True) for q in quiz.questions
    )
    return dataclasses.replace(quiz, questions=questions)
