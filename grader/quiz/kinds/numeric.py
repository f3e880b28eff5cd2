"""Numeric questions: a number, right within max(tolerance, relative * |answer|).

A typed answer may be simple arithmetic (`32*32*log(0.8)`), evaluated safely through
`grader.symbolic`; a wrong number within the same tolerance of a misconception's value
gets that misconception's feedback.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from grader.quiz.kinds.value import AnswerQuestion
from grader.quiz.model import Misconception
from grader.quiz.question import QuestionVisitor, T, plain_number
from grader.quiz.scoring import Mark, numeric_close
from grader.quiz.variants import format_number
from grader.quiz.where import is_number

if TYPE_CHECKING:
    from grader.quiz.shown import ShownQuestion
    from grader.quiz.where import Where


@dataclass(frozen=True)
class NumericQuestion(AnswerQuestion):
    """`answer` (a float) within max(`tolerance`, `relative` * |answer|)."""

    answer: float | None = None
    tolerance: float = 0.0
    relative: float = 0.0

    kind: ClassVar[str] = "numeric"
    label: ClassVar[str] = "number"
    keys: ClassVar[frozenset[str]] = frozenset(
        {"answer", "tolerance", "relative", "correct_feedback", "misconceptions"}
    )
    mistake_field: ClassVar[str] = "value"

    # ------------------------------------------------------------ bank file

    @classmethod
    def _own_fields(cls, where: Where, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "tolerance": where.number(data, "tolerance", 0.0, 0.0),
            "relative": where.number(data, "relative", 0.0, 0.0),
        }

    @classmethod
    def _key(cls, where: Where, value: Any) -> float:
        if not is_number(value):
            raise where.fail("'answer' of a numeric question must be a number")
        return float(value)

    @classmethod
    def _mistake_key(cls, where: Where, item_id: str, value: Any) -> float:
        if not is_number(value):
            raise where.fail(f"misconception {item_id}: 'value' must be a number")
        return float(value)

    @classmethod
    def table_key(
        cls, where: Where, label: str, answer: Any, mistakes: Mapping[str, Any]
    ) -> tuple[float, dict[str, float | str]]:
        if not is_number(answer) or not all(is_number(v) for v in mistakes.values()):
            raise where.fail(f"{label}: the answer and misconception values must be numbers")
        return float(answer), {str(k): float(v) for k, v in mistakes.items()}

    @classmethod
    def mistake(cls, item_id: str, feedback: str, value: float | str | None) -> Misconception:
        return Misconception(item_id, feedback, value=None if value is None else float(value))

    def _tolerance_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.tolerance:
            data["tolerance"] = plain_number(self.tolerance)
        if self.relative:
            data["relative"] = plain_number(self.relative)
        return data

    def accept(self, visitor: QuestionVisitor[T]) -> T:
        return visitor.numeric(self)

    @property
    def margin(self) -> float:
        """The absolute tolerance of the key: max(tolerance, relative * |answer|)."""
        return max(self.tolerance, self.relative * abs(float(self.answer or 0.0)))

    # ------------------------------------------------------------ taking

    def expected_input(self, shown: ShownQuestion) -> str:
        return "type a number, e.g. 0.25, -3.5 or 1.2e-3 (arithmetic like 32*32*log(0.8) is fine)"

    def read_answer(self, shown: ShownQuestion, text: str) -> dict[str, Any]:
        from grader.quiz.answers import parse_number

        return {"value": parse_number(text)}

    def mark(self, answer: Mapping[str, Any]) -> Mark:
        return self.mark_value(float(answer["value"]))

    def mark_value(self, value: float) -> Mark:
        """Right within tolerance; else the first matching misconception's feedback, if any."""
        target = float(self.answer)  # type: ignore[arg-type]
        if numeric_close(value, target, self.tolerance, self.relative):
            return Mark(1.0, self.points, ("correct",))
        for item in self.misconceptions:
            if item.value is not None and numeric_close(
                value, item.value, self.tolerance, self.relative
            ):
                return Mark(0.0, self.points, (f"misconception:{item.id}",))
        return Mark(0.0, self.points, ("incorrect",))

    # ------------------------------------------------------------ rendering data

    def answer_with(self) -> str:
        return "a number"

    def key_text(self, shown: ShownQuestion) -> str:
        answer = format_number(float(self.answer), 6)  # type: ignore[arg-type]
        margin = self.margin
        return f"{answer} (± {format_number(margin, 3)})" if margin else answer

    def mistake_text(self, item: Misconception) -> str:
        return format_number(item.value)

    # ------------------------------------------------------------ checks, templates

    def lint(self) -> list[str]:
        answer = float(self.answer)  # type: ignore[arg-type]
        if not math.isfinite(answer):
            return ["answer is not finite"]
        return [
            f"misconception {m.id} ({m.value:g}) is within tolerance of the answer ({answer:g})"
            for m in self.misconceptions
            if m.value is not None and numeric_close(m.value, answer, self.tolerance, self.relative)
        ]

    def key_value(self, raw: float | str) -> float:
        return float(raw)
