"""Choice questions: single choice (one right option) and multiple select (a rule for
partial credit). Both show their options under a per-attempt shuffle and are answered by
the letters shown; feedback is keyed by option id, never by the letter.

Multiple-select rules (C correct set, S selected set): see `grader.quiz.scoring`.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from grader.quiz.model import RULE_TEXT, RULES, Option, Rule
from grader.quiz.question import Question, QuestionVisitor, T
from grader.quiz.scoring import Mark, multi_select_fraction
from grader.quiz.shuffle import is_pinned_text, shuffled_order

if TYPE_CHECKING:
    from grader.quiz.shown import ShownQuestion
    from grader.quiz.where import Where

OPTION_KEYS = {"id", "text", "correct", "feedback", "pin"}


@dataclass(frozen=True)
class ChoiceQuestion(Question):
    """A question answered by choosing among `options` (shuffled unless `shuffle` is off)."""

    options: tuple[Option, ...] = ()
    shuffle: bool = True

    keys: ClassVar[frozenset[str]] = frozenset({"options", "shuffle"})
    is_choice: ClassVar[bool] = True
    one_answer: ClassVar[bool] = False

    def option(self, option_id: str) -> Option:
        for option in self.options:
            if option.id == option_id:
                return option
        raise KeyError(option_id)

    @property
    def option_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options)

    @property
    def correct_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options if o.correct)

    # ------------------------------------------------------------ bank file

    @classmethod
    def kind_fields(
        cls, where: Where, data: Mapping[str, Any], has_key: bool, templated: bool
    ) -> dict[str, Any]:
        raw_options = enumerate(where.items(data, "options"))
        options = tuple(_option(where, raw, n, has_key) for n, raw in raw_options)
        if len(options) < 2:
            raise where.fail("a choice question needs at least two options")
        ids = [o.id for o in options]
        if len(set(ids)) != len(ids):
            raise where.fail(f"duplicate option id in {ids}")
        if has_key:
            cls._check_key(where, [o for o in options if o.correct])
        return {"options": options, "shuffle": where.boolean(data, "shuffle", True)}

    @classmethod
    def _check_key(cls, where: Where, correct: list[Option]) -> None:
        """Raise when the correct options do not fit this kind."""

    def kind_data(self, with_key: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"options": [_option_data(o, with_key) for o in self.options]}
        if not self.shuffle:
            data["shuffle"] = False
        return data

    # ------------------------------------------------------------ taking

    def shown_order(self, seed: int) -> list[str]:
        return shuffled_order(self.options, seed, self.id, self.shuffle)

    def sheet_order(self) -> list[str]:
        """Bank order, pinned options ("None of the above") last."""
        return [o.id for o in self.options if not o.pinned] + [
            o.id for o in self.options if o.pinned
        ]

    def read_answer(self, shown: ShownQuestion, text: str) -> dict[str, Any]:
        from grader.quiz.answers import InvalidAnswer

        raw = re.sub(r"[\s,;]+", "", text).upper()
        hint = self.expected_input(shown)
        if not raw or any(c not in shown.letters for c in raw):
            raise InvalidAnswer(f"{text!r} is not a choice here; {hint}")
        if len(set(raw)) != len(raw):
            raise InvalidAnswer(f"a letter appears twice in {text!r}; {hint}")
        if self.one_answer and len(raw) != 1:
            raise InvalidAnswer(f"choose exactly one option; {hint}")
        return {"chosen": [shown.option_id_at(c) for c in raw]}

    def mark(self, answer: Mapping[str, Any]) -> Mark:
        return self.mark_chosen(list(answer.get("chosen", [])))

    @abstractmethod
    def mark_chosen(self, chosen: list[str]) -> Mark:
        """The mark of choosing these option ids; the feedback ids are the chosen ids."""

    # ------------------------------------------------------------ rendering data

    def given_text(self, shown: ShownQuestion, answer: Mapping[str, Any]) -> str:
        return " ".join(shown.letter_of(oid) for oid in answer.get("chosen", []))

    def key_text(self, shown: ShownQuestion) -> str:
        """The correct letters in their shown order."""
        return " ".join(shown.letter_of(oid) for oid in shown.order if self.option(oid).correct)

    def texts(self) -> list[str]:
        options = [text for o in self.options for text in (o.text, o.feedback)]
        return [*super().texts(), *options]


@dataclass(frozen=True)
class SingleChoice(ChoiceQuestion):
    """Exactly one option is right; choosing it earns the points."""

    kind: ClassVar[str] = "single"
    label: ClassVar[str] = "one answer"
    one_answer: ClassVar[bool] = True

    @classmethod
    def _check_key(cls, where: Where, correct: list[Option]) -> None:
        if len(correct) != 1:
            raise where.fail(
                f"a single-choice question needs exactly one correct option, not {len(correct)}"
            )

    def accept(self, visitor: QuestionVisitor[T]) -> T:
        return visitor.single(self)

    def expected_input(self, shown: ShownQuestion) -> str:
        return f"type one letter, A-{_last_letter(shown)}"

    def mark_chosen(self, chosen: list[str]) -> Mark:
        fraction = 1.0 if list(chosen) == list(self.correct_ids) else 0.0
        return Mark(fraction, self.points, tuple(chosen))

    def feedback_notes(self, shown: ShownQuestion, mark: Mark) -> list[str]:
        notes = []
        for option_id in mark.feedback:
            option = self.option(option_id)
            text = option.feedback or ("right" if option.correct else "not right")
            notes.append(f"If you chose {shown.letter_of(option_id)}: {text}")
        return notes


@dataclass(frozen=True)
class MultiSelect(ChoiceQuestion):
    """Any number of options is right; `rule` turns a selection into partial credit."""

    rule: Rule = "all-or-nothing"

    kind: ClassVar[str] = "multi"
    label: ClassVar[str] = "select all that apply"
    keys: ClassVar[frozenset[str]] = frozenset({"options", "shuffle", "rule"})

    @classmethod
    def kind_fields(
        cls, where: Where, data: Mapping[str, Any], has_key: bool, templated: bool
    ) -> dict[str, Any]:
        fields = super().kind_fields(where, data, has_key, templated)
        rule = data.get("rule")
        if rule not in RULES:
            raise where.fail(
                f"'rule' (partial credit) must be one of {', '.join(RULES)}, not {rule!r}"
            )
        return {**fields, "rule": rule}

    @classmethod
    def _check_key(cls, where: Where, correct: list[Option]) -> None:
        if not correct:
            raise where.fail("a multiple-select question needs at least one correct option")

    def kind_data(self, with_key: bool) -> dict[str, Any]:
        return {**super().kind_data(with_key), "rule": self.rule}

    def accept(self, visitor: QuestionVisitor[T]) -> T:
        return visitor.multi(self)

    def expected_input(self, shown: ShownQuestion) -> str:
        return f"type every letter you select (A-{_last_letter(shown)}), e.g. 'A C'"

    def mark_chosen(self, chosen: list[str]) -> Mark:
        fraction = multi_select_fraction(self.rule, self.correct_ids, chosen, len(self.options))
        return Mark(fraction, self.points, tuple(chosen))

    def prompt_note(self) -> str:
        return f"Select all that apply. Partial credit: {RULE_TEXT[self.rule]}."

    def credit_note(self) -> str:
        return f"Partial credit ({self.rule}): {RULE_TEXT[self.rule]}"

    def feedback_notes(self, shown: ShownQuestion, mark: Mark) -> list[str]:
        notes = []
        for option_id in shown.order:
            option = self.option(option_id)
            label = shown.letter_of(option_id)
            if option_id in mark.feedback:
                verdict = "a right choice" if option.correct else "a wrong choice"
                notes.append(f"You chose {label} ({verdict}): {option.feedback}".rstrip(": "))
            elif option.correct:
                notes.append(
                    f"You left out {label} (a right choice): {option.feedback}".rstrip(": ")
                )
        return notes


def _last_letter(shown: ShownQuestion) -> str:
    return shown.letters[-1] if shown.letters else "A"


def _option(where: Where, raw: Any, index: int, has_key: bool) -> Option:
    data = where.mapping(raw, f"option {index + 1}")
    where.known_keys(data, OPTION_KEYS, "an option")
    option_id = where.identifier(
        data.get("id"), f"option {index + 1}: 'id' must be lower-case letters, digits and '-'"
    )
    correct = data.get("correct")
    if correct is not None and not isinstance(correct, bool):
        raise where.fail(f"option {option_id}: 'correct' must be true or false")
    text = where.text(data, "text")
    return Option(
        id=option_id,
        text=text,
        correct=bool(correct) if has_key else None,
        feedback=where.text(data, "feedback", required=False),
        pinned=where.boolean(data, "pin", False) or is_pinned_text(text),
    )


def _option_data(option: Option, with_key: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"id": option.id, "text": option.text}
    if with_key:
        data["correct"] = bool(option.correct)
        if option.feedback:
            data["feedback"] = option.feedback
    if option.pinned:
        data["pin"] = True
    return data
