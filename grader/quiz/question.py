"""What every quiz question has, and the contract each kind of question fulfils.

A question kind is a class (`grader.quiz.kinds`: single, multi, numeric, symbolic) that
owns everything that differs between kinds, so no caller asks "which kind is this?":

    reading the bank     kind_fields(where, data, has_key, templated)  (classmethod)
    writing it back      kind_data(with_key)
    a typed answer       expected_input(shown), read_answer(shown, text)
    marking              mark(answer) -> Mark
    rendering data       prompt_note(), credit_note(), answer_with(), given_text(), key_text(),
                         feedback_notes(), key_feedback()
    content checks       lint()
    templates            keyed(solution), solved_fields(solution, render)
    exporters            accept(visitor) calls visitor.single/multi/numeric/symbolic

An exporter (GIFT, QTI) is a `QuestionVisitor`: one method per kind, so the file format
stays in its own module and a new kind that an exporter forgot fails loudly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from grader.quiz.errors import QuizError

if TYPE_CHECKING:
    from grader.quiz.kinds.choice import MultiSelect, SingleChoice
    from grader.quiz.kinds.numeric import NumericQuestion
    from grader.quiz.kinds.symbolic import SymbolicQuestion
    from grader.quiz.model import Option, Variant
    from grader.quiz.scoring import Mark
    from grader.quiz.shown import ShownQuestion
    from grader.quiz.solvers import Solution
    from grader.quiz.where import Where

T = TypeVar("T", covariant=True)
Render = Callable[[str, Mapping[str, object]], str]


class QuestionVisitor(Protocol, Generic[T]):
    """An exporter: one method per question kind (see `Question.accept`)."""

    def single(self, question: SingleChoice) -> T: ...

    def multi(self, question: MultiSelect) -> T: ...

    def numeric(self, question: NumericQuestion) -> T: ...

    def symbolic(self, question: SymbolicQuestion) -> T: ...


@dataclass(frozen=True)
class KeyFeedback:
    """The feedback an answer key lists beside the answer: a remark on the right answer and
    (what was answered, feedback) for each recognised mistake."""

    remark: str = ""
    mistakes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Question(ABC):
    """The fields every question has; a kind subclass adds its own and its behaviour.

    `variant` is a template (numbers drawn per student); only kinds with `templatable`
    accept one. `kind` is the bank's name for the class (`kind: single` in YAML).
    """

    id: str
    stem: str
    points: float = 1.0
    explanation: str = ""
    objectives: tuple[int, ...] = ()
    pitfalls: tuple[str, ...] = ()
    variant: Variant | None = None

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""  # "one answer", "select all that apply", ... (sheets)
    keys: ClassVar[frozenset[str]] = frozenset()  # this kind's own bank-file keys
    templatable: ClassVar[bool] = False
    is_choice: ClassVar[bool] = False  # for callers outside the quiz package

    # ------------------------------------------------------------ bank file

    @classmethod
    @abstractmethod
    def kind_fields(
        cls, where: Where, data: Mapping[str, Any], has_key: bool, templated: bool
    ) -> dict[str, Any]:
        """Validate this kind's keys of one bank entry; the constructor's extra fields."""

    @classmethod
    def table_key(
        cls, where: Where, label: str, answer: Any, mistakes: Mapping[str, Any]
    ) -> tuple[float | str, dict[str, float | str]]:
        """A precomputed variant's key and mistake values as stored (templates only)."""
        raise where.fail(f"{label}: a {cls.kind} question cannot be a template")

    @abstractmethod
    def kind_data(self, with_key: bool) -> dict[str, Any]:
        """This kind's keys for the bank file (the inverse of `kind_fields`)."""

    @abstractmethod
    def accept(self, visitor: QuestionVisitor[T]) -> T:
        """Call the visitor's method for this kind."""

    # ------------------------------------------------------------ taking

    def shown_order(self, seed: int) -> list[str]:
        """The option ids in the order an attempt with `seed` shows them ([] without options)."""
        return []

    def sheet_order(self) -> list[str]:
        """The option ids in the order a printed sheet shows them ([] without options)."""
        return []

    @property
    def option_ids(self) -> tuple[str, ...]:
        return ()

    def option(self, option_id: str) -> Option:
        """The option with this id (KeyError: none, as a question without options has none)."""
        raise KeyError(option_id)

    @abstractmethod
    def expected_input(self, shown: ShownQuestion) -> str:
        """A short description of what to type for this question."""

    @abstractmethod
    def read_answer(self, shown: ShownQuestion, text: str) -> dict[str, Any]:
        """What the (non-empty, stripped) typed `text` means in bank terms, beside `text`,
        or `InvalidAnswer` with a hint."""

    @abstractmethod
    def mark(self, answer: Mapping[str, Any]) -> Mark:
        """Mark a stored answer (from `read_answer`) of this concrete question."""

    # ------------------------------------------------------------ rendering data

    def prompt_note(self) -> str:
        """The line under the question in the terminal ('' when there is nothing to add)."""
        return ""

    def credit_note(self) -> str:
        """How partial credit works here, for printed sheets ('' when all or nothing)."""
        return ""

    def answer_with(self) -> str:
        """What a printed sheet asks for ('a number'); '' for choice questions."""
        return ""

    def given_text(self, shown: ShownQuestion, answer: Mapping[str, Any]) -> str:
        """The stored answer as the student gave it."""
        return str(answer.get("text", ""))

    @abstractmethod
    def key_text(self, shown: ShownQuestion) -> str:
        """The correct answer as the student should see it."""

    @abstractmethod
    def feedback_notes(self, shown: ShownQuestion, mark: Mark) -> list[str]:
        """The feedback lines that apply to this mark."""

    def key_feedback(self) -> KeyFeedback:
        """What an answer key lists beside `key_text` (choice feedback sits on the options)."""
        return KeyFeedback()

    def texts(self) -> list[str]:
        """Every text of the question a person may read: stem, options, feedback, ..."""
        return [self.stem, self.explanation]

    # ------------------------------------------------------------ checks, templates

    def lint(self) -> list[str]:
        """Problems of this concrete question beyond the schema (one line each)."""
        return []

    def keyed(self, solution: Solution) -> tuple[float | str, dict[str, float | str]]:
        """A solver's key and the value of each of the question's misconceptions, as this
        kind stores them (QuizError when the solver misses one)."""
        raise QuizError(f"question {self.id}: a {self.kind} question has no computed key")

    def solved_fields(self, solution: Solution, render: Render) -> dict[str, Any]:
        """The key fields of a template's concrete question for `solution`; `render` fills a
        feedback text with the drawn values plus extra ones."""
        raise QuizError(f"question {self.id}: a {self.kind} question cannot be a template")


def plain_number(value: float | str) -> float | int | str:
    """A whole float as an int, for tidy YAML and JSON (`2.0` -> `2`)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
