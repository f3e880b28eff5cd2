"""Symbolic questions: an expression in declared symbols, right when sympy proves it
equivalent to the key.

The typed text is never evaluated as Python: `grader.symbolic` allows only the declared
symbols (with their assumptions) and whitelisted functions, and the equivalence check runs
in a helper process with a time limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from grader.quiz.kinds.value import AnswerQuestion
from grader.quiz.model import Misconception
from grader.quiz.question import QuestionVisitor, T
from grader.quiz.scoring import Mark

if TYPE_CHECKING:
    from grader.quiz.shown import ShownQuestion
    from grader.quiz.where import Where


@dataclass(frozen=True)
class SymbolicQuestion(AnswerQuestion):
    """`answer` (expression text) in `symbols` (name -> sympy assumptions); `functions`
    narrows the functions a student may use (None: every whitelisted one)."""

    answer: str | None = None
    symbols: dict[str, dict[str, bool]] = field(default_factory=dict)
    functions: tuple[str, ...] | None = None

    kind: ClassVar[str] = "symbolic"
    label: ClassVar[str] = "expression"
    keys: ClassVar[frozenset[str]] = frozenset(
        {"answer", "symbols", "functions", "correct_feedback", "misconceptions"}
    )
    mistake_field: ClassVar[str] = "expression"

    # ------------------------------------------------------------ bank file

    @classmethod
    def _own_fields(cls, where: Where, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"symbols": _symbols(where, data), "functions": _functions(where, data)}

    @classmethod
    def _key(cls, where: Where, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise where.fail("'answer' of a symbolic question must be an expression in quotes")
        return value

    @classmethod
    def _mistake_key(cls, where: Where, item_id: str, value: Any) -> str:
        if not isinstance(value, str):
            raise where.fail(f"misconception {item_id}: 'expression' must be text in quotes")
        return value

    @classmethod
    def table_key(
        cls, where: Where, label: str, answer: Any, mistakes: Mapping[str, Any]
    ) -> tuple[str, dict[str, float | str]]:
        texts = [answer, *mistakes.values()]
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise where.fail(
                f"{label}: the answer and misconceptions must be expressions in quotes"
            )
        return str(answer), {str(k): str(v) for k, v in mistakes.items()}

    @classmethod
    def mistake(cls, item_id: str, feedback: str, value: float | str | None) -> Misconception:
        return Misconception(item_id, feedback, expression=None if value is None else str(value))

    def _public_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"symbols": {name: dict(a) for name, a in self.symbols.items()}}
        if self.functions is not None:
            data["functions"] = list(self.functions)
        return data

    def accept(self, visitor: QuestionVisitor[T]) -> T:
        return visitor.symbolic(self)

    # ------------------------------------------------------------ taking

    def expected_input(self, shown: ShownQuestion) -> str:
        symbols = ", ".join(self.symbols) or "no symbols"
        return f"type an expression in {symbols} using + - * / ^ ( ) and functions such as exp, log"

    def read_answer(self, shown: ShownQuestion, text: str) -> dict[str, Any]:
        from grader.quiz.answers import InvalidAnswer
        from grader.symbolic import SymbolicInputError, declare_symbols, parse_expression

        try:
            parsed = parse_expression(text, declare_symbols(self.symbols), self.function_table())
        except SymbolicInputError as err:
            raise InvalidAnswer(f"{err}; {self.expected_input(shown)}") from None
        return {"expression": str(parsed)}

    def function_table(self) -> dict[str, Any] | None:
        """The sympy functions a student may use here (None: the default whitelist)."""
        from grader.symbolic import default_functions

        if self.functions is None:
            return None
        allowed = default_functions()
        return {name: allowed[name] for name in self.functions}

    def mark(self, answer: Mapping[str, Any]) -> Mark:
        return self.mark_expression(str(answer["expression"]))

    def mark_expression(self, expression: str, timeout_s: float = 2.0) -> Mark:
        """Right when sympy proves `expression` equivalent to the key within the time limit."""
        from grader.symbolic import (
            SymbolicInputError,
            SymbolicTimeout,
            declare_symbols,
            equivalent,
            parse_expression,
        )

        symbols = declare_symbols(self.symbols)
        try:
            given = parse_expression(expression, symbols)
            if equivalent(given, parse_expression(str(self.answer), symbols), timeout_s):
                return Mark(1.0, self.points, ("correct",))
            for item in self.misconceptions:
                wrong = parse_expression(str(item.expression), symbols)
                if equivalent(given, wrong, timeout_s):
                    return Mark(0.0, self.points, (f"misconception:{item.id}",))
        except SymbolicTimeout:
            return Mark(0.0, self.points, ("timeout",))
        except SymbolicInputError:
            return Mark(0.0, self.points, ("incorrect",))
        return Mark(0.0, self.points, ("incorrect",))

    # ------------------------------------------------------------ rendering data

    @property
    def symbols_text(self) -> str:
        """The symbols with their assumptions, e.g. `a (positive), x (real)`."""
        return ", ".join(
            f"{name} ({', '.join(k for k, v in a.items() if v)})" if a else name
            for name, a in self.symbols.items()
        )

    def prompt_note(self) -> str:
        return f"Symbols: {self.symbols_text}"

    def answer_with(self) -> str:
        return f"an expression in {', '.join(self.symbols)}"

    def key_text(self, shown: ShownQuestion) -> str:
        return str(self.answer)

    # ------------------------------------------------------------ checks, templates

    def lint(self) -> list[str]:
        """Every expression of the key must parse in the declared symbols."""
        from grader.symbolic import SymbolicInputError, declare_symbols, parse_expression

        symbols = declare_symbols(self.symbols)
        texts = [("answer", self.answer)] + [
            (f"misconception {m.id}", m.expression) for m in self.misconceptions
        ]
        problems = []
        for label, text in texts:
            try:
                parse_expression(str(text), symbols)
            except SymbolicInputError as err:
                problems.append(f"{label}: {err}")
        return problems

    def key_value(self, raw: float | str) -> str:
        return str(raw)


def _symbols(where: Where, data: Mapping[str, Any]) -> dict[str, dict[str, bool]]:
    from grader.symbolic import ASSUMPTIONS, FUNCTION_NAMES

    raw = where.mapping(data.get("symbols", {}), "'symbols'")
    symbols: dict[str, dict[str, bool]] = {}
    for name, assumptions in raw.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
            raise where.fail(f"symbol name {name!r} must be letters and digits")
        if name in FUNCTION_NAMES:
            raise where.fail(f"symbol {name!r} clashes with a function name")
        spec = where.mapping(assumptions or {}, f"assumptions of symbol {name}")
        for key, value in spec.items():
            if key not in ASSUMPTIONS or not isinstance(value, bool):
                raise where.fail(f"symbol {name}: assumption {key!r} must be one of {ASSUMPTIONS}")
        symbols[name] = dict(spec)
    return symbols


def _functions(where: Where, data: Mapping[str, Any]) -> tuple[str, ...] | None:
    from grader.symbolic import FUNCTION_NAMES

    if "functions" not in data:
        return None
    names = where.items(data, "functions")
    for name in names:
        if name not in FUNCTION_NAMES:
            raise where.fail(f"function {name!r} is not one of {', '.join(FUNCTION_NAMES)}")
    return tuple(names)
