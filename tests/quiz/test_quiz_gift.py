"""GIFT export and import: our own export round-trips; Moodle-style GIFT imports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.quiz.errors import QuizFormatError
from grader.quiz.gift import escape, export_gift, import_gift, unescape
from grader.quiz.loader import PROJECT_BANK, load_bank, load_quiz
from grader.quiz.model import Quiz
from grader.quiz.serialize import quiz_to_data
from grader.quiz.shown import drawn_quiz

QUIZZES = load_bank(PROJECT_BANK)[0]


@pytest.mark.parametrize("quiz", QUIZZES, ids=lambda q: q.name)
def test_bank_round_trips_through_gift(quiz: Quiz) -> None:
    back = import_gift(export_gift(quiz, seed=5), quiz.name)
    assert quiz_to_data(back) == quiz_to_data(drawn_quiz(quiz, 5))


def test_tiny_quiz_round_trips_exactly(tiny_bank: Path) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    back = import_gift(export_gift(quiz), "tiny")
    assert back.questions == quiz.questions
    assert (back.title, back.mode) == (quiz.title, quiz.mode)


@pytest.mark.parametrize(
    "text", ["a = b", "x~y", "#1 {set}", "ratio: 1:2", "back\\slash", "two\nlines"]
)
def test_escape_round_trip(text: str) -> None:
    escaped = escape(text)
    assert "\n" not in escaped
    for special in "=~#{}":
        assert special not in escaped.replace("\\" + special, "")
    assert unescape(escaped) == text


def test_multi_select_weights_follow_net_correct(tiny_bank: Path) -> None:
    text = export_gift(load_quiz("tiny", tiny_bank))
    assert "~%50%autoregressive Jacobian" in text
    assert "~%-50%dense Jacobian" in text
    assert "{#" in text and "=6.946164:0.005" in text
    assert "=%0%3.5:0.005#You used the log-scale as the scale." in text


MOODLE = textwrap.dedent(
    r"""
    // A file written by hand, as for Moodle: no flowgrade metadata.
    $CATEGORY: $course$/flows

    ::Which flow::Which layer has log-det 0 for every input? {
      =NICE additive coupling#Its Jacobian is triangular with unit diagonal.
      ~RealNVP affine coupling#It scales, so its log-det is the sum of log-scales.
      ~Glow 1x1 convolution#Only if |det W| \= 1.
      ####Volume-preserving means det \= 1.
    }

    ::Triangular ones:: Which Jacobians are triangular? {
      ~%50%autoregressive
      ~%50%coupling
      ~%-100%dense
    }

    ::Glow number::The Glow log-det for 32x32 with log|det W| \= log 0.8 is {#-228.5:0.1}

    ::Range:: Give log 6. {#1.79..1.80}

    ::Numeric with feedback::s \= e^0.5, z \= 3, t \= 2. x_b? {#
      =6.946:0.005#Right.
      =%0%3.5:0#You used log s as the scale.
    }

    ::Truth::Flows give exact likelihoods.{T#Yes, by the change of variables.}
    """
)


def test_import_moodle_gift() -> None:
    quiz = import_gift(MOODLE, "moodle", "moodle.gift")
    kinds = {q.id: q.kind for q in quiz.questions}
    assert kinds == {
        "which-flow": "single",
        "triangular-ones": "multi",
        "glow-number": "numeric",
        "range": "numeric",
        "numeric-with-feedback": "numeric",
        "truth": "single",
    }
    single = quiz.question("which-flow")
    assert single.correct_ids == ("a",) and "|det W| = 1" in single.options[2].feedback
    assert single.explanation == "Volume-preserving means det = 1."
    multi = quiz.question("triangular-ones")
    assert multi.correct_ids == ("a", "b") and multi.rule == "net-correct"
    assert quiz.question("glow-number").answer == -228.5
    assert quiz.question("glow-number").tolerance == 0.1
    ranged = quiz.question("range")
    assert ranged.answer == pytest.approx(1.795) and ranged.tolerance == pytest.approx(0.005)
    numeric = quiz.question("numeric-with-feedback")
    assert numeric.correct_feedback == "Right."
    assert numeric.misconceptions[0].value == 3.5
    truth = quiz.question("truth")
    assert truth.correct_ids == ("true",) and truth.explanation == ""


@pytest.mark.parametrize(
    ("gift", "problem"),
    [
        ("::Essay::Explain flows. {}", "essay"),
        ("::Match::Pair them. {=a -> b =c -> d}", "matching"),
        ("::Short::Name the base. {=Gaussian =normal}", "short-answer"),
        ("::Broken::No braces at all", "no {answer} block"),
    ],
)
def test_unsupported_or_broken_gift_names_the_question(gift: str, problem: str) -> None:
    with pytest.raises(QuizFormatError) as info:
        import_gift(gift, "bad", "bad.gift")
    message = str(info.value)
    assert message.startswith("bad.gift: question ") and problem in message
    assert "\n" not in message
