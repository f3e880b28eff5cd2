"""Precomputed variant tables: template keys made at release time for the student kit.

    quiz = with_variant_tables(quiz)          # every solver template -> a table of keyed draws
    rows = variant_table(question)            # up to TABLE_SIZE distinct rows for one template

A template's solver may call the reference solutions (the coupling solvers do), which the
kit does not ship. So for a practice quiz, whose key the kit keeps, the release draws up to
TABLE_SIZE distinct parameter sets with the ordinary `draw_params` (seeds 0, 1, 2, ...),
runs the solver on each with the full repository, and stores the rows (parameters, answer,
misconception values) in place of the solver. In the kit an attempt then gets row
`derive_seed("table", attempt seed, question id) % len(table)` (`grader.quiz.variants`).
Exam quizzes get no table: the kit keeps no key for them at all.
"""

from __future__ import annotations

import dataclasses

from grader.quiz.errors import QuizError
from grader.quiz.model import KeyedDraw, Question, Quiz, Variant
from grader.quiz.variants import draw_params, solve

TABLE_SIZE = 64
MAX_TRIES_PER_ROW = 4


def variant_table(question: Question, size: int = TABLE_SIZE) -> tuple[KeyedDraw, ...]:
    """Up to `size` distinct keyed draws of a solver template, in a reproducible order.

    Fewer rows only when the parameters allow fewer distinct values (e.g. one integer
    parameter in [2, 6] gives 5 rows). Raises QuizError when the solver misses a value
    for one of the question's misconceptions.
    """
    variant = question.variant
    if variant is None or variant.solver is None:
        raise QuizError(f"question {question.id}: only a template with a solver gets a table")
    rows: list[KeyedDraw] = []
    seen: set[tuple[tuple[str, float], ...]] = set()
    for seed in range(size * MAX_TRIES_PER_ROW):
        if len(rows) == size:
            break
        params = draw_params(variant, seed, question.id)
        marker = tuple(sorted(params.items()))
        if marker in seen:
            continue
        seen.add(marker)
        rows.append(_keyed_draw(question, params))
    return tuple(rows)


def _keyed_draw(question: Question, params: dict[str, float]) -> KeyedDraw:
    answer, wrong = question.keyed(solve(question, params))
    return KeyedDraw(dict(params), answer, wrong)


def with_variant_tables(quiz: Quiz, size: int = TABLE_SIZE) -> Quiz:
    """`quiz` with every solver template replaced by its table (the solver dropped)."""
    if not quiz.has_key:
        return quiz
    questions = []
    for question in quiz.questions:
        variant = question.variant
        if variant is not None and variant.solver is not None:
            table = variant_table(question, size)
            question = dataclasses.replace(question, variant=Variant(variant.params, None, table))
        questions.append(question)
    return dataclasses.replace(quiz, questions=tuple(questions))
