"""Questions answered by typing a value (a number or an expression) that is compared with a
key: what numeric and symbolic questions share.

Both may name misconceptions, a wrong value or expression with the feedback that explains
it, and both may be templates, whose key (and mistake values) a solver computes from each
student's drawn numbers (`grader.quiz.variants`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from grader.quiz.errors import QuizError
from grader.quiz.model import Misconception
from grader.quiz.question import KeyFeedback, Question, Render, plain_number

if TYPE_CHECKING:
    from grader.quiz.scoring import Mark
    from grader.quiz.shown import ShownQuestion
    from grader.quiz.solvers import Solution
    from grader.quiz.where import Where

TIMEOUT_NOTE = "Your expression took too long to check; simplify it and try again."


@dataclass(frozen=True)
class AnswerQuestion(Question):
    """A question with a typed answer checked against `answer` (None: key removed or computed
    per student), feedback for the right answer and for recognised mistakes."""

    answer: float | str | None = None
    correct_feedback: str = ""
    misconceptions: tuple[Misconception, ...] = ()

    templatable: ClassVar[bool] = True
    mistake_field: ClassVar[str] = ""  # the misconception key: "value" or "expression"

    # ------------------------------------------------------------ bank file

    @classmethod
    def kind_fields(
        cls, where: Where, data: Mapping[str, Any], has_key: bool, templated: bool
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "correct_feedback": where.text(data, "correct_feedback", required=False),
            "misconceptions": cls._mistakes(where, data, templated),
            **cls._own_fields(where, data),
        }
        answer = data.get("answer")
        fields["answer"] = None if answer is None else cls._key(where, answer)
        if has_key and not templated and fields["answer"] is None:
            raise where.fail("missing 'answer'")
        if templated and answer is not None:
            raise where.fail("a template's answer is computed by its solver; remove 'answer'")
        return fields

    @classmethod
    @abstractmethod
    def _own_fields(cls, where: Where, data: Mapping[str, Any]) -> dict[str, Any]:
        """This kind's fields besides the answer and the feedback."""

    @classmethod
    @abstractmethod
    def _key(cls, where: Where, value: Any) -> float | str:
        """The bank's `answer` (or a mistake's value) as stored, or a QuizFormatError."""

    @classmethod
    def _mistakes(
        cls, where: Where, data: Mapping[str, Any], templated: bool
    ) -> tuple[Misconception, ...]:
        field = cls.mistake_field
        result = []
        for raw in where.items(data, "misconceptions"):
            item = where.mapping(raw, "a misconception")
            where.known_keys(item, {"id", "feedback", field}, "a misconception")
            item_id = where.identifier(
                item.get("id"),
                "a misconception needs an 'id' of lower-case letters, digits and '-'",
            )
            value = item.get(field)
            if templated and value is not None:
                raise where.fail(
                    f"misconception {item_id}: a template's solver computes the {field}"
                )
            if not templated and value is None:
                raise where.fail(f"misconception {item_id}: missing {field!r}")
            if value is not None:
                value = cls._mistake_key(where, item_id, value)
            result.append(cls.mistake(item_id, where.text(item, "feedback"), value))
        return tuple(result)

    @classmethod
    @abstractmethod
    def _mistake_key(cls, where: Where, item_id: str, value: Any) -> float | str:
        """A misconception's value as stored, or a QuizFormatError naming it."""

    @classmethod
    @abstractmethod
    def mistake(cls, item_id: str, feedback: str, value: float | str | None) -> Misconception:
        """A misconception of this kind with `value` (None: a template computes it)."""

    def kind_data(self, with_key: bool) -> dict[str, Any]:
        data = self._public_data()
        if not with_key:
            return data
        if self.answer is not None:
            data["answer"] = plain_number(self.answer)
        data.update(self._tolerance_data())
        if self.correct_feedback:
            data["correct_feedback"] = self.correct_feedback
        if self.misconceptions:
            data["misconceptions"] = [self._mistake_data(m) for m in self.misconceptions]
        return data

    def _public_data(self) -> dict[str, Any]:
        """Fields a student kit keeps even without the key."""
        return {}

    def _tolerance_data(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def _mistake_data(item: Misconception) -> dict[str, Any]:
        data: dict[str, Any] = {"id": item.id}
        if item.value is not None:
            data["value"] = plain_number(item.value)
        if item.expression is not None:
            data["expression"] = item.expression
        data["feedback"] = item.feedback
        return data

    # ------------------------------------------------------------ marking, feedback

    def mistake_text(self, item: Misconception) -> str:
        """How a misconception's wrong answer reads in a key."""
        return str(item.expression)

    def feedback_notes(self, shown: ShownQuestion, mark: Mark) -> list[str]:
        notes = []
        for feedback_id in mark.feedback:
            if feedback_id == "correct" and self.correct_feedback:
                notes.append(self.correct_feedback)
            elif feedback_id.startswith("misconception:"):
                wanted = feedback_id.split(":", 1)[1]
                notes += [m.feedback for m in self.misconceptions if m.id == wanted]
            elif feedback_id == "timeout":
                notes.append(TIMEOUT_NOTE)
        return notes

    def key_feedback(self) -> KeyFeedback:
        mistakes = tuple((self.mistake_text(m), m.feedback) for m in self.misconceptions)
        return KeyFeedback(self.correct_feedback, mistakes)

    def texts(self) -> list[str]:
        mistakes = [m.feedback for m in self.misconceptions]
        return [*super().texts(), self.correct_feedback, *mistakes]

    # ------------------------------------------------------------ templates

    @abstractmethod
    def key_value(self, raw: float | str) -> float | str:
        """A solver's answer (or mistake value) as this kind stores it."""

    def keyed(self, solution: Solution) -> tuple[float | str, dict[str, float | str]]:
        wrong: dict[str, float | str] = {}
        for item in self.misconceptions:
            if item.id not in solution.misconceptions:
                raise QuizError(f"misconception {item.id}: the solver computes no value for it")
            wrong[item.id] = self.key_value(solution.misconceptions[item.id])
        return self.key_value(solution.answer), wrong

    def solved_fields(self, solution: Solution, render: Render) -> dict[str, Any]:
        return {
            "answer": self.key_value(solution.answer),
            "misconceptions": tuple(
                self._solved_mistake(m, solution.misconceptions, render)
                for m in self.misconceptions
            ),
            "correct_feedback": render(self.correct_feedback, {}),
        }

    def _solved_mistake(
        self, item: Misconception, computed: Mapping[str, float | str], render: Render
    ) -> Misconception:
        if item.id not in computed:
            raise QuizError(f"misconception {item.id}: the solver computes no value for it")
        value = computed[item.id]
        feedback = render(item.feedback, {"value": value})
        return self.mistake(item.id, feedback, self.key_value(value))
