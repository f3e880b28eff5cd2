"""Variant tables: template keys precomputed at release so the kit needs no solver.

A practice quiz's kit copy replaces each solver by a table of keyed draws; an attempt gets a
seeded row and its key comes from the row. Exam copies keep only the parameter specs.
"""

from __future__ import annotations

import copy
import math
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.gradebook import Gradebook
from grader.quiz.errors import AttemptMismatch, QuizError, QuizFormatError
from grader.quiz.loader import load_quiz_file
from grader.quiz.schema import parse_quiz
from grader.quiz.serialize import quiz_to_data, write_student_bank
from grader.quiz.shuffle import attempt_seed
from grader.quiz.tables import with_variant_tables
from grader.quiz.take import begin_attempt
from grader.quiz.variants import draw_params, instantiate

TEMPLATES = textwrap.dedent(
    """\
    title: Templates
    mode: practice
    questions:
      - id: affine-value
        kind: numeric
        stem: "x = {{ a }} z + {{ b | paren }} with z ~ N(0, 1). Compute log p_X({{ x }})."
        template:
          solver: affine-log-density
          params:
            a: {uniform: [0.5, 3.0], decimals: 1}
            b: {integer: [-2, 2]}
            x: {uniform: [-3.0, 3.0], decimals: 1}
        tolerance: 0.005
        misconceptions:
          - {id: missing-jacobian, feedback: "You dropped - log {{ a }}."}
          - {id: jacobian-sign, feedback: "The volume term is - log {{ a }}, not + log {{ a }}."}
        explanation: "log p_X = {{ answer | num }}"
      - id: stacked
        kind: symbolic
        stem: "Compose {{ k }} copies of f(z) = a z + b. What is log|det|?"
        template:
          solver: stacked-affine-logdet
          params: {k: {integer: [2, 6]}}
        symbols: {a: {positive: true}}
        misconceptions:
          - {id: one-layer, feedback: "All {{ k }} layers add their log-det."}
    """
)
STUDENTS = ("alice", "bob", "carol", "dave", "erin", "frank")


def _quiz(text: str = TEMPLATES, mode: str = "practice"):  # type: ignore[no-untyped-def]
    return parse_quiz(yaml.safe_load(text.replace("practice", mode)), "templates.yaml", "tpl")


def _log_density(a: float, b: float, x: float) -> float:
    """log N(x; b, a^2), written out independently of the solver."""
    return -math.log(a) - 0.5 * math.log(2 * math.pi) - (x - b) ** 2 / (2 * a * a)


def test_table_rows_are_distinct_draws_keyed_by_the_solver() -> None:
    kit = with_variant_tables(_quiz(), size=16)
    numeric = kit.question("affine-value").variant
    assert numeric is not None and numeric.solver is None and len(numeric.table) == 16
    assert len({tuple(sorted(row.params.items())) for row in numeric.table}) == 16
    for row in numeric.table:
        p = row.params
        assert 0.5 <= p["a"] <= 3.0 and p["b"] in range(-2, 3) and -3.0 <= p["x"] <= 3.0
        assert row.answer == pytest.approx(_log_density(p["a"], p["b"], p["x"]), abs=1e-12)
        assert set(row.misconceptions) == {"missing-jacobian", "jacobian-sign"}
        no_volume = _log_density(p["a"], p["b"], p["x"]) + math.log(p["a"])
        assert row.misconceptions["missing-jacobian"] == pytest.approx(no_volume, abs=1e-12)
    symbolic = kit.question("stacked").variant
    assert symbolic is not None  # only 5 distinct k exist, so 5 rows
    assert sorted((row.params["k"], row.answer) for row in symbolic.table) == [
        (k, f"{k}*log(a)") for k in range(2, 7)
    ]


def test_kit_copy_draws_table_rows_and_marks_like_the_full_bank(tmp_path: Path) -> None:
    full = _quiz()
    path = write_student_bank(full, tmp_path / "kit")
    assert "solver" not in path.read_text()
    kit = load_quiz_file(path)
    assert kit.has_key
    for question in full.questions:
        kit_question = kit.question(question.id)
        assert kit_question.variant is not None and question.variant is not None
        rows = [row.params for row in kit_question.variant.table]
        drawn = []
        for student in STUDENTS:
            seed = attempt_seed(student, "tpl", 1)
            params = draw_params(kit_question.variant, seed, question.id)
            assert params in rows and params == draw_params(kit_question.variant, seed, question.id)
            drawn.append(params)
            from_table = instantiate(kit_question, params, with_key=True)
            assert from_table == instantiate(question, params, with_key=True)
            assert "{{" not in from_table.stem and from_table.answer is not None
        assert len({tuple(sorted(d.items())) for d in drawn}) >= 2


def test_numbers_outside_the_table_are_an_attempt_mismatch() -> None:
    question = with_variant_tables(_quiz(), size=4).question("affine-value")
    with pytest.raises(AttemptMismatch, match="not in the quiz's variant table"):
        instantiate(question, {"a": 9.9, "b": 0, "x": 0.0}, with_key=True)


def test_resuming_against_another_table_asks_for_a_restart(tmp_path: Path) -> None:
    before = with_variant_tables(_quiz(), size=8)
    after = with_variant_tables(_quiz(TEMPLATES.replace("[0.5, 3.0]", "[3.5, 5.0]")), size=8)
    with Gradebook.open(tmp_path / "book.sqlite") as book:
        begin_attempt(book, before, "s1")
        assert begin_attempt(book, before, "s1")[1]  # resumed
        with pytest.raises(QuizError, match=r"variant table.*--restart"):
            begin_attempt(book, after, "s1")
        record, resumed = begin_attempt(book, after, "s1", restart=True)
        assert not resumed and record.attempt == 2


def test_exam_copy_keeps_the_specs_and_draws_as_the_full_bank(tmp_path: Path) -> None:
    full = _quiz(mode="exam")
    kit = load_quiz_file(write_student_bank(full, tmp_path / "kit"))
    assert not kit.has_key
    for question in full.questions:
        variant = kit.question(question.id).variant
        assert variant is not None and variant.table == () and variant.solver is None
        assert question.variant is not None
        for student in STUDENTS:
            seed = attempt_seed(student, "tpl", 2)
            assert draw_params(variant, seed, question.id) == draw_params(
                question.variant, seed, question.id
            )


# ---------------------------------------------------------------- schema


Mutation = Callable[[dict[str, Any]], None]


def _template(data: dict[str, Any], question_id: str) -> dict[str, Any]:
    return next(q for q in data["questions"] if q["id"] == question_id)["template"]


def _row(question_id: str, n: int, change: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        change(_template(data, question_id)["variants"][n])

    return mutate


def _add_solver(data: dict[str, Any]) -> None:
    _template(data, "affine-value")["solver"] = "affine-log-density"


def _empty_table(data: dict[str, Any]) -> None:
    _template(data, "affine-value")["variants"] = []


CASES: list[tuple[Mutation, str, str]] = [
    (_row("affine-value", 1, lambda r: r["params"].pop("b")), "affine-value",
     "variant 2: missing parameter 'b'"),
    (_row("affine-value", 0, lambda r: r["params"].update(c=1)), "affine-value",
     "variant 1: unknown parameter 'c'"),
    (_row("affine-value", 0, lambda r: r["params"].update(a=7)), "affine-value",
     "variant 1: parameter a = 7 is not in its range"),
    (_row("affine-value", 2, lambda r: r["params"].update(b=0.5)), "affine-value",
     "variant 3: parameter b = 0.5 is not in its range"),
    (_row("affine-value", 0, lambda r: r.update(answer="six")), "affine-value",
     "variant 1: the answer and misconception values must be numbers"),
    (_row("affine-value", 0, lambda r: r["misconceptions"].pop("jacobian-sign")),
     "affine-value", "variant 1: no value for misconception 'jacobian-sign'"),
    (_row("affine-value", 1, lambda r: r["misconceptions"].update(typo=1.0)), "affine-value",
     "variant 2: misconception 'typo' is not one of the question's"),
    (_row("affine-value", 0, lambda r: r.update(anwser=1.0)), "affine-value",
     "unknown key 'anwser' in variant 1"),
    (_row("stacked", 0, lambda r: r.update(answer=3)), "stacked",
     "variant 1: the answer and misconceptions must be expressions in quotes"),
    (_add_solver, "affine-value", "a 'solver' or a 'variants' table, not both"),
    (_empty_table, "affine-value", "'variants' must list at least one variant"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "question", "problem"), CASES)
def test_malformed_tables_name_file_question_and_problem(
    tmp_path: Path, mutate: Mutation, question: str, problem: str
) -> None:
    data = copy.deepcopy(quiz_to_data(with_variant_tables(_quiz(), size=3)))
    path = tmp_path / "tpl.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_quiz_file(path)  # the unmutated kit copy is valid
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(QuizFormatError) as caught:
        load_quiz_file(path)
    message = str(caught.value)
    assert "tpl.yaml" in message and f"question {question}" in message and problem in message
    assert "\n" not in message


def test_a_keyless_bank_refuses_a_table(tmp_path: Path) -> None:
    keyed = quiz_to_data(with_variant_tables(_quiz(), size=2))
    data = quiz_to_data(_quiz(), with_key=False)
    _template(data, "affine-value")["variants"] = _template(keyed, "affine-value")["variants"]
    path = tmp_path / "tpl.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(QuizFormatError, match="key: false but the template has 'variants'"):
        load_quiz_file(path)
