"""The LO4/LO5 practice quiz (expressiveness vs cost, flows in VAEs): keys against
independent computations, full marks for right answers through a real attempt, every
recognised mistake recognised, the unit text's slips not repeated, exercise links kept."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
import torch

from grader.exercises import get_exercise
from grader.gradebook import Gradebook
from grader.quiz.lint import lint_quiz
from grader.quiz.loader import PROJECT_BANK, load_quiz
from grader.quiz.shown import ShownQuestion, shown_questions
from grader.quiz.take import Console, begin_attempt, run_attempt
from grader.student.topics import quiz_for
from grader.symbolic import declare_symbols, parse_expression
from solutions.exercise_07_multiscale import factor_out, squeeze

QUIZ = load_quiz("expressiveness-and-vaes", PROJECT_BANK)


def test_the_quiz_is_about_lo4_and_lo5_and_passes_the_lint() -> None:
    assert QUIZ.mode == "practice" and 10 <= len(QUIZ.questions) <= 12
    assert lint_quiz(QUIZ) == []
    assert all({4, 5} & set(q.objectives) for q in QUIZ.questions)
    assert sum(5 in q.objectives for q in QUIZ.questions) >= 5
    assert {q.kind for q in QUIZ.questions} == {"single", "multi", "numeric", "symbolic"}


# ---------------------------------------------------------------- keys, independently


def _maf_sampling_passes(d: int, layers: int) -> int:
    """Sample a random affine MAF by repeated full conditioner passes; count the passes
    until the sample is exact (checked by inverting it in one pass per layer)."""
    generator = torch.Generator().manual_seed(0)
    mask = torch.tril(torch.ones(d, d, dtype=torch.float64), diagonal=-1)  # x_i reads x_<i
    weights = [
        torch.randn(2, d, d, generator=generator, dtype=torch.float64) for _ in range(layers)
    ]
    biases = [torch.randn(2, d, generator=generator, dtype=torch.float64) for _ in range(layers)]

    def conditioner(k: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = (weights[k][0] * mask) @ x + biases[k][0]
        alpha = 0.3 * torch.tanh((weights[k][1] * mask) @ x + biases[k][1])
        return mu, alpha

    z0 = torch.randn(d, generator=generator, dtype=torch.float64)
    passes, z = 0, z0
    for k in range(layers):
        x = torch.zeros(d, dtype=torch.float64)
        for _ in range(d + 1):  # each full pass fixes at least one more coordinate
            mu, alpha = conditioner(k, x)
            passes += 1
            x = z * torch.exp(alpha) + mu
            mu_check, alpha_check = conditioner(k, x)  # density direction: one pass
            if torch.allclose((x - mu_check) * torch.exp(-alpha_check), z, atol=1e-12):
                break
        else:
            raise AssertionError("the sampler did not converge in d passes")
        z = x
    return passes


def test_maf_sampling_time_matches_a_simulated_sampler() -> None:
    d, layers = 7, 3
    assert _maf_sampling_passes(d, layers) == layers * d  # d sequential passes per layer
    question = QUIZ.question("maf-sampling-time")
    assert abs(question.answer - 5 * 784 * 2.0) < 1e-9  # type: ignore[attr-defined]
    assert question.mark_value(5 * 783 * 2.0).correct  # type: ignore[attr-defined]


def test_multiscale_fraction_from_the_actual_shapes() -> None:
    h, transformed = torch.zeros(1, 3, 32, 32), []
    for level in range(3):
        h, _ = squeeze(h)
        transformed.append(h.numel())  # K steps run on all of these
        if level < 2:
            h, _, _ = factor_out(h)
    assert transformed == [3072, 1536, 768]
    fraction = sum(transformed) / (3 * 3072)
    question = QUIZ.question("multiscale-savings")
    assert abs(question.answer - fraction) <= question.tolerance / 10  # type: ignore[attr-defined]


def test_flow_posterior_elbo_from_torch_densities() -> None:
    """Two affine layers with the stem's log-dets push a standard normal q0 forward;
    torch gives log q_K of the pushed-forward Gaussian directly."""
    log_dets = (0.35, -0.12)
    normal = torch.distributions.Normal(0.0, 1.0)
    z0 = torch.tensor(math.sqrt(2 * (2.10 - 0.5 * math.log(2 * math.pi))), dtype=torch.float64)
    assert normal.log_prob(z0).item() == pytest.approx(-2.10)
    scale = math.exp(sum(log_dets))
    log_qk = torch.distributions.Normal(0.0, scale).log_prob(z0 * scale).item()
    elbo = -85.40 - 2.80 - log_qk
    numeric = QUIZ.question("flow-posterior-elbo")
    assert abs(numeric.answer - elbo) <= numeric.tolerance / 2  # type: ignore[attr-defined]
    symbolic = QUIZ.question("elbo-logdet-sign")
    symbols = declare_symbols(symbolic.symbols)  # type: ignore[attr-defined]
    key = parse_expression(str(symbolic.answer), symbols)  # type: ignore[attr-defined]
    given = {"rec": -85.40, "prior": -2.80, "q0": -2.10, "ld": sum(log_dets)}
    value = float(key.subs({symbols[name]: v for name, v in given.items()}))
    assert numeric.mark_value(value).correct  # type: ignore[attr-defined]


def test_every_numeric_misconception_gets_its_feedback() -> None:
    for question in QUIZ.questions:
        if question.kind != "numeric":
            continue
        for mistake in question.misconceptions:  # type: ignore[attr-defined]
            mark = question.mark_value(mistake.value)  # type: ignore[attr-defined]
            assert not mark.correct and mark.feedback == (f"misconception:{mistake.id}",)


def test_symbolic_mistakes_are_recognised() -> None:
    question = QUIZ.question("elbo-logdet-sign")
    assert question.mark_expression("rec + prior - (q0 - ld)").correct  # type: ignore[attr-defined]
    for mistake in question.misconceptions:  # type: ignore[attr-defined]
        mark = question.mark_expression(mistake.expression)  # type: ignore[attr-defined]
        assert mark.feedback == (f"misconception:{mistake.id}",), mistake.id


# ---------------------------------------------------------------- a whole attempt


def _right_answer(item: ShownQuestion) -> str:
    question = item.question
    if question.is_choice:
        return " ".join(item.letter_of(o) for o in item.order if question.option(o).correct)
    return repr(question.answer) if question.kind == "numeric" else str(question.answer)


def test_right_answers_score_full_marks_in_a_real_attempt(tmp_path: Path) -> None:
    with Gradebook.open(tmp_path / "gradebook.sqlite") as book:
        record, _ = begin_attempt(book, QUIZ, "lo45")
        shown = shown_questions(QUIZ, record.data["questions"])
        typed = "".join(_right_answer(item) + "\n" for item in shown)
        output = io.StringIO()
        state = run_attempt(
            QUIZ, record, Console(io.StringIO(typed), output), book.save_quiz_attempt
        )
        saved = book.latest_quiz_attempt("lo45", QUIZ.name)
    assert state == "finished"
    assert saved is not None and saved.score == QUIZ.max_score == len(QUIZ.questions)
    assert f"Total: {QUIZ.max_score:g} / {QUIZ.max_score:g}" in output.getvalue()


def test_every_wrong_option_costs_marks_and_names_its_own_feedback() -> None:
    for question in QUIZ.questions:
        if not question.is_choice:
            continue
        right = list(question.correct_ids)  # type: ignore[attr-defined]
        assert question.mark({"chosen": right}).fraction == 1.0, question.id
        for option in question.options:  # type: ignore[attr-defined]
            assert option.feedback, (question.id, option.id)
            if option.correct:
                continue
            chosen = [option.id] if question.kind == "single" else [*right, option.id]
            mark = question.mark({"chosen": chosen})
            assert mark.fraction < 1.0 and option.id in mark.feedback, (question.id, option.id)


# ---------------------------------------------------------------- slips and links


def test_the_unit_texts_slips_are_not_repeated() -> None:
    passes = QUIZ.question("ar-pass-counts")
    assert passes.option("maf-density-iaf-sampling").correct  # type: ignore[attr-defined]
    assert "text's own" in passes.option("reversed").feedback  # type: ignore[attr-defined]
    mixing = QUIZ.question("one-by-one-mixing")
    assert mixing.option("channels").correct  # type: ignore[attr-defined]
    assert not mixing.option("everything").correct  # type: ignore[attr-defined]
    amortised = QUIZ.question("amortised-flow-posterior")
    assert not amortised.option("exact").correct  # type: ignore[attr-defined]
    assert "not a guarantee" in amortised.explanation


EXERCISE_QUIZZES = {  # the quiz on each exercise's topic, before and after this quiz
    "exercise-01": "change-of-variables",
    "exercise-02": "jacobians-and-coupling",
    "exercise-03": "jacobians-and-coupling",
    "exercise-04": "flow-architectures",
    "exercise-05": "change-of-variables",
    "exercise-06": "flow-architectures",
    "exercise-07": "flow-architectures",
    "exercise-08": "flow-architectures",  # its maf-direction and iaf-direction questions
}


def test_exercises_keep_the_quiz_of_their_topic() -> None:
    found = {name: quiz_for(get_exercise(name), PROJECT_BANK) for name in EXERCISE_QUIZZES}
    assert found == EXERCISE_QUIZZES
