"""The kinds of quiz question, one class each, and the registry the bank's `kind:` names.

    cls = question_class("numeric")          # -> NumericQuestion
    for kind, cls in QUESTION_TYPES.items(): ...

choice    SingleChoice, MultiSelect (shared: ChoiceQuestion)
value     AnswerQuestion: a typed answer with a key and misconceptions
numeric   NumericQuestion
symbolic  SymbolicQuestion

Their base, `grader.quiz.question.Question`, holds the common fields and the contract.
"""

from __future__ import annotations

from grader.quiz.kinds.choice import ChoiceQuestion, MultiSelect, SingleChoice
from grader.quiz.kinds.numeric import NumericQuestion
from grader.quiz.kinds.symbolic import SymbolicQuestion
from grader.quiz.kinds.value import AnswerQuestion
from grader.quiz.question import KeyFeedback, Question, QuestionVisitor

QUESTION_TYPES: dict[str, type[Question]] = {
    cls.kind: cls for cls in (SingleChoice, MultiSelect, NumericQuestion, SymbolicQuestion)
}

__all__ = [
    "QUESTION_TYPES",
    "AnswerQuestion",
    "ChoiceQuestion",
    "KeyFeedback",
    "MultiSelect",
    "NumericQuestion",
    "Question",
    "QuestionVisitor",
    "SingleChoice",
    "SymbolicQuestion",
    "question_class",
]


def question_class(kind: str) -> type[Question]:
    """The class of bank kind `kind` (KeyError for an unknown kind)."""
    return QUESTION_TYPES[kind]
