"""The unit's question bank: size, coverage, the seed's questions, corrected slips, right keys."""

from __future__ import annotations

import math
import re

import pytest

from grader.quiz.coverage import tag_counts
from grader.quiz.lint import lint_quiz
from grader.quiz.loader import PROJECT_BANK, load_bank
from grader.quiz.model import Question, Quiz

QUIZZES, ERRORS = load_bank(PROJECT_BANK)
QUESTIONS: dict[str, Question] = {q.id: q for quiz in QUIZZES for q in quiz.questions}

SEED_QUESTIONS = {  # the unit text's quiz: Q1-Q5 and Q7 (it has no Q6)
    "Q1": "cov-formula",
    "Q2": "triangular-det",
    "Q3": "scale-nonzero",
    "Q4": "vae-exact-likelihood",
    "Q5": "dims-equal",
    "Q7": "base-gaussian",
}


def test_every_file_loads() -> None:
    assert ERRORS == []


def test_size_and_kinds() -> None:
    assert len(QUIZZES) >= 3
    assert len(QUESTIONS) >= 30
    assert {q.kind for q in QUESTIONS.values()} == {"single", "multi", "numeric", "symbolic"}
    assert {q.mode for q in QUIZZES} == {"practice", "exam"}
    rules = {q.rule for q in QUESTIONS.values() if q.kind == "multi"}
    assert {"all-or-nothing", "net-correct"} <= rules


def test_every_objective_and_pitfall_is_covered() -> None:
    assert tag_counts(QUIZZES).gaps() == []


@pytest.mark.parametrize("quiz", QUIZZES, ids=lambda q: q.name)
def test_keys_and_templates_are_usable(quiz: Quiz) -> None:
    assert lint_quiz(quiz) == []


@pytest.mark.parametrize("seed_id", sorted(SEED_QUESTIONS))
def test_seed_questions_are_present_with_feedback_for_every_option(seed_id: str) -> None:
    question = QUESTIONS[SEED_QUESTIONS[seed_id]]
    assert question.kind == "single"
    assert all(option.feedback for option in question.options)
    assert question.explanation


def test_every_question_teaches() -> None:
    for question in QUESTIONS.values():
        assert question.explanation, question.id
        if question.is_choice:
            assert all(o.feedback for o in question.options), question.id
        else:
            assert question.misconceptions or question.correct_feedback, question.id


def _all_text() -> str:
    parts = []
    for q in QUESTIONS.values():
        parts += q.texts()
    return "\n".join(parts)


def test_seed_slips_are_corrected() -> None:
    q2_orthogonal = QUESTIONS["triangular-det"].option("orthogonal").feedback
    assert "triangular" in q2_orthogonal and "ones on the diagonal" in q2_orthogonal
    q3_one = QUESTIONS["scale-nonzero"].option("exactly-one").feedback
    assert "volume-preserving" in q3_one and "Non-Volume Preserving" in q3_one
    nice = QUESTIONS["nice-volume"]
    assert nice.option("nice").correct and not nice.option("realnvp").correct
    shapes = QUESTIONS["non-gaussian-maps"]
    assert shapes.option("banana").correct and not shapes.option("linear").correct
    assert "affine" in QUESTIONS["rotation-logdet"].explanation
    maf = QUESTIONS["maf-direction"]
    assert maf.option("sampling-sequential").correct
    assert QUESTIONS["iaf-direction"].option("iaf-right").correct
    text = _all_text()
    assert not re.search(r"NICE \(non-volume", text)


STATIC_NUMBERS = {
    "coupling-example-xb": 3 * math.exp(0.5) + 2,
    "coupling-example-logdet": 0.5,
    "planar-logdet": math.log(1 + 1 / math.cosh(-0.5) ** 2),
    "glow-logdet": 32 * 32 * (math.log(2) + math.log(0.5) + math.log(0.8)),
    "cov-composition": math.log(6),
    "cov-volume-doubling": 0.3 / 2,
    "banana-density": -math.log(2 * math.pi) - 0.5,
    "rotation-logdet": math.log(abs(math.cos(0.3) ** 2 + math.sin(0.3) ** 2)),
}


@pytest.mark.parametrize(("question_id", "value"), sorted(STATIC_NUMBERS.items()))
def test_static_numeric_keys_match_independent_computation(question_id: str, value: float) -> None:
    question = QUESTIONS[question_id]
    assert abs(float(question.answer) - value) <= max(question.tolerance, 1e-9) / 2  # type: ignore[arg-type]


def test_seed_worked_numbers_are_accepted() -> None:
    for question_id, typed in [
        ("coupling-example-xb", 6.946),
        ("planar-logdet", 0.580),
        ("glow-logdet", -228.5),
    ]:
        assert QUESTIONS[question_id].mark_value(typed).correct, question_id
