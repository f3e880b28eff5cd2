"""Parameterised questions: draw a student's numbers and turn the template into a question.

    params = draw_params(question.variant, attempt_seed, question.id)
    concrete = instantiate(question, params, with_key=quiz.has_key)

Numbers are drawn from a local RNG seeded by (attempt seed, question id), so a student
sees the same numbers on resume and review while two students see different ones. The
stem, explanation and feedback texts are jinja2 templates over the parameters (and, with
the key, over `answer`); the key comes from the question's solver.

A template with a precomputed table (a practice quiz in the student kit, see
`grader.quiz.tables`) draws a row instead: row `derive_seed("table", seed, id) % len(table)`,
and its key is the row's, so no solver (and no reference code) runs.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping

from grader.quiz.errors import AttemptMismatch, QuizError
from grader.quiz.model import ParamSpec, Question, Variant
from grader.quiz.shuffle import derive_seed
from grader.quiz.solvers import SOLVERS, Solution

MAX_DRAWS = 100


def _draw_one(spec: ParamSpec, rng: random.Random) -> float:
    """One value: integers and whole-number choices come back as int, uniform draws rounded."""
    for _ in range(MAX_DRAWS):
        if spec.kind == "choice":
            value: float = rng.choice(spec.values)
        elif spec.kind == "integer":
            value = rng.randint(int(spec.low), int(spec.high))
        else:
            value = round(rng.uniform(spec.low, spec.high), spec.decimals)
        if spec.nonzero and value == 0:
            continue
        if spec.kind != "uniform" and float(value).is_integer():
            return int(value)
        return value
    raise QuizError(f"parameter {spec.name}: could not draw a non-zero value")


def draw_params(variant: Variant, seed: int, question_id: str) -> dict[str, float]:
    """The parameter values of one student's variant of a template question."""
    if variant.table:
        row = derive_seed("table", seed, question_id) % len(variant.table)
        return dict(variant.table[row].params)
    rng = random.Random(derive_seed("variant", seed, question_id))
    return {spec.name: _draw_one(spec, rng) for spec in variant.params}


def solve(question: Question, params: Mapping[str, float]) -> Solution:
    """The key of a template for `params`: from its solver, else from its precomputed table.

    Raises QuizError when there is neither, and AttemptMismatch when `params` is no row of
    the table (the attempt was made against another release of the quiz).
    """
    variant = question.variant
    if variant is not None and variant.solver is not None and variant.solver in SOLVERS:
        return SOLVERS[variant.solver](params)
    if variant is None or not variant.table:
        raise QuizError(f"question {question.id}: template has no usable solver")
    for row in variant.table:
        if row.params == dict(params):
            return Solution(row.answer, dict(row.misconceptions))
    raise AttemptMismatch(
        f"question {question.id}: the numbers of this attempt are not in the quiz's variant "
        "table (the quiz changed since the attempt began)"
    )


def _render(text: str, values: Mapping[str, object]) -> str:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    environment.filters["num"] = format_number
    environment.filters["paren"] = parenthesise
    return environment.from_string(text).render(**values)


def format_number(value: object, digits: int = 4) -> str:
    """A number for display: integers without a point, others with `digits` significant digits."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))  # type: ignore[arg-type]
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def parenthesise(value: object) -> str:
    """A number for use inside a formula: negative values in parentheses, e.g. `(-3)`."""
    text = format_number(value)
    return f"({text})" if text.startswith("-") else text


def instantiate(question: Question, params: Mapping[str, float], *, with_key: bool) -> Question:
    """The concrete question for these parameters (answer computed only `with_key`).

    The question's kind fills in its own key fields from the solution (`solved_fields`);
    every text is rendered with the parameters and, with the key, the `answer`.
    """
    if question.variant is None:
        return question
    values: dict[str, object] = dict(params)
    changes: dict[str, object] = {"variant": None}
    if with_key:
        solution = solve(question, params)
        values["answer"] = solution.answer

        def fill(text: str, extra: Mapping[str, object]) -> str:
            return _render(text, {**values, **extra})

        changes.update(question.solved_fields(solution, fill))
        changes["explanation"] = _render(question.explanation, values)
    changes["stem"] = _render(question.stem, values)
    return dataclasses.replace(question, **changes)  # type: ignore[arg-type]
