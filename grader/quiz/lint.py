"""Content checks beyond the schema: is every key usable and is the unit covered?

    problems = lint_quiz(quiz)          # one line per problem, empty when all is well
    missing = coverage_gaps(quizzes)    # objectives / pitfalls no question covers

`lint_quiz` parses every symbolic answer and misconception, draws every template for a few
seeds and checks that its answer is finite and differs from the listed mistakes, and checks
that no numeric misconception is within the tolerance of the answer (that feedback could
never be shown). It imports sympy, and torch for templates: for `grade quiz check` and
tests, not for taking a quiz.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from grader.quiz.errors import QuizError
from grader.quiz.model import Question, Quiz
from grader.quiz.scoring import numeric_close
from grader.quiz.syllabus import OBJECTIVES, PITFALLS
from grader.quiz.variants import draw_params, instantiate

SEEDS = (0, 1, 2)


def _lint_symbolic(question: Question) -> list[str]:
    from grader.symbolic import SymbolicInputError, declare_symbols, parse_expression

    symbols = declare_symbols(question.symbols)
    texts = [("answer", question.answer)] + [
        (f"misconception {m.id}", m.expression) for m in question.misconceptions
    ]
    problems = []
    for label, text in texts:
        try:
            parse_expression(str(text), symbols)
        except SymbolicInputError as err:
            problems.append(f"{label}: {err}")
    return problems


def _lint_numeric(question: Question) -> list[str]:
    answer = float(question.answer)  # type: ignore[arg-type]
    if not math.isfinite(answer):
        return ["answer is not finite"]
    return [
        f"misconception {m.id} ({m.value:g}) is within tolerance of the answer ({answer:g})"
        for m in question.misconceptions
        if m.value is not None
        and numeric_close(m.value, answer, question.tolerance, question.relative)
    ]


def lint_question(question: Question) -> list[str]:
    """Problems of one question; templates are checked for several drawn variants."""
    if question.variant is None:
        concrete = [question]
    else:
        try:
            concrete = [
                instantiate(
                    question, draw_params(question.variant, seed, question.id), with_key=True
                )
                for seed in SEEDS
            ]
        except (QuizError, KeyError, ValueError, ArithmeticError) as err:
            return [f"template does not instantiate: {type(err).__name__}: {err}"]
    problems: list[str] = []
    for item in concrete:
        if item.kind == "numeric":
            problems += _lint_numeric(item)
        elif item.kind == "symbolic":
            problems += _lint_symbolic(item)
    return sorted(set(problems))


def lint_quiz(quiz: Quiz) -> list[str]:
    """Every problem of `quiz` as `quiz: question id: problem` lines."""
    if not quiz.has_key:
        return []
    return [f"{quiz.name}: {q.id}: {p}" for q in quiz.questions for p in lint_question(q)]


def coverage_gaps(quizzes: Iterable[Quiz]) -> list[str]:
    """Learning objectives and pitfalls that no question of the bank is tagged with."""
    objectives: set[int] = set()
    pitfalls: set[str] = set()
    for quiz in quizzes:
        for question in quiz.questions:
            objectives.update(question.objectives)
            pitfalls.update(question.pitfalls)
    gaps = [f"objective {o} is not covered" for o in OBJECTIVES if o not in objectives]
    return gaps + [f"pitfall {p} is not covered" for p in PITFALLS if p not in pitfalls]
