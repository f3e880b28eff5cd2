"""Every scoring rule: single, the four multiple-select rules, numeric tolerance, symbolic."""

from __future__ import annotations

import dataclasses

import pytest

from grader.quiz import scoring
from grader.quiz.loader import load_quiz
from grader.quiz.scoring import Mark, mark_answer, multi_select_fraction
from grader.symbolic import SymbolicTimeout

CORRECT = {"a", "b", "c"}  # of N = 6 options a..f


@pytest.mark.parametrize(
    ("rule", "selected", "expected"),
    [
        ("all-or-nothing", {"a", "b", "c"}, 1.0),
        ("all-or-nothing", {"a", "b"}, 0.0),
        ("all-or-nothing", {"a", "b", "c", "d"}, 0.0),
        ("net-correct", {"a", "b", "c"}, 1.0),
        ("net-correct", {"a", "b"}, 2 / 3),
        ("net-correct", {"a", "b", "d"}, 1 / 3),
        ("net-correct", {"a", "d", "e"}, 0.0),  # (1 - 2) / 3 < 0 -> floored
        ("net-correct", {"a", "b", "c", "d", "e", "f"}, 0.0),
        ("coverage", {"a", "b", "c"}, 1.0),
        ("coverage", {"a", "b"}, (2 / 3) * 1.0),
        ("coverage", {"a", "b", "d", "e"}, (2 / 3) * (2 / 4)),
        ("coverage", set(), 0.0),
        ("each-answer", {"a", "b", "c"}, 1.0),
        ("each-answer", {"a", "b"}, 1 - 1 / 6),
        ("each-answer", {"a", "d"}, 1 - 3 / 6),
        ("each-answer", {"d", "e", "f"}, 0.0),
    ],
)
def test_multi_select_rules(rule: str, selected: set[str], expected: float) -> None:
    assert multi_select_fraction(rule, CORRECT, selected, 6) == pytest.approx(expected)


@pytest.mark.parametrize("rule", ["all-or-nothing", "net-correct", "coverage", "each-answer"])
def test_every_rule_is_within_zero_and_one(rule: str) -> None:
    import itertools

    options = "abcdef"
    for size in range(len(options) + 1):
        for selected in itertools.combinations(options, size):
            value = multi_select_fraction(rule, CORRECT, set(selected), 6)
            assert 0.0 <= value <= 1.0
    assert multi_select_fraction(rule, CORRECT, CORRECT, 6) == 1.0


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        multi_select_fraction("generous", CORRECT, CORRECT, 6)


@pytest.fixture
def tiny(tiny_bank):  # type: ignore[no-untyped-def]
    return load_quiz("tiny", tiny_bank)


def test_single_choice(tiny) -> None:  # type: ignore[no-untyped-def]
    question = tiny.question("pick-one")
    assert question.mark_chosen(["right"]) == Mark(1.0, 1.0, ("right",))
    wrong = question.mark_chosen(["wrong"])
    assert wrong.fraction == 0.0 and wrong.feedback == ("wrong",)


def test_multi_uses_the_questions_rule(tiny) -> None:  # type: ignore[no-untyped-def]
    question = tiny.question("pick-many")
    assert question.rule == "net-correct"
    assert question.mark_chosen(["ar"]).fraction == pytest.approx(0.5)
    assert question.mark_chosen(["ar", "dn"]).fraction == 0.0
    strict = dataclasses.replace(question, rule="all-or-nothing")
    assert strict.mark_chosen(["ar"]).fraction == 0.0
    assert strict.mark_chosen(["cp", "ar"]).fraction == 1.0


def test_numeric_tolerance_and_points(tiny) -> None:  # type: ignore[no-untyped-def]
    question = tiny.question("number")
    assert mark_answer(question, {"value": 6.95}).score == 2.0
    assert mark_answer(question, {"value": 6.94}).score == 0.0
    mark = mark_answer(question, {"value": 3.5})
    assert mark.score == 0.0 and mark.feedback == ("misconception:log-scale",)
    assert mark_answer(question, {"value": 100.0}).feedback == ("incorrect",)


def test_relative_tolerance() -> None:
    assert scoring.numeric_close(1000.9, 1000.0, 0.0, 0.001)
    assert not scoring.numeric_close(1001.1, 1000.0, 0.0, 0.001)
    assert scoring.numeric_close(0.004, 0.0, 0.005, 0.001)
    assert not scoring.numeric_close(float("nan"), 0.0, 1.0, 1.0)


def test_symbolic_marks(tiny) -> None:  # type: ignore[no-untyped-def]
    question = tiny.question("expression")
    right = mark_answer(question, {"expression": "-log(a) - log(2*pi)/2 - (b - x)**2/(2*a**2)"})
    assert right.correct
    missing = mark_answer(question, {"expression": "-log(2*pi)/2 - (x - b)**2/(2*a**2)"})
    assert missing.feedback == ("misconception:no-jac",) and missing.score == 0.0
    assert mark_answer(question, {"expression": "x"}).feedback == ("incorrect",)


def test_symbolic_timeout_scores_zero_with_its_own_feedback(tiny, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import grader.symbolic

    def slow(*_: object, **__: object) -> bool:
        raise SymbolicTimeout("too slow")

    monkeypatch.setattr(grader.symbolic, "equivalent", slow)
    mark = mark_answer(tiny.question("expression"), {"expression": "x"})
    assert mark.score == 0.0 and mark.feedback == ("timeout",)


def test_mark_round_trips_through_data() -> None:
    mark = Mark(0.5, 2.0, ("a", "misconception:x"))
    assert Mark.from_data(mark.to_data()) == mark
    assert mark.to_data()["score"] == 1.0
