"""Class statistics and quiz item analysis against numbers worked out by hand."""

from __future__ import annotations

import pytest
from classgen import attempt_data

from grader.gradebook import QuizAttemptRecord
from grader.report.item_analysis import analyse_quiz, pearson
from grader.report.statistics import FailureRate, histogram, summary


def test_summary_and_histogram():
    s = summary([50.0, 70.0, 90.0, 100.0])
    assert (s.mean, s.median, s.minimum, s.maximum) == (77.5, 80.0, 50.0, 100.0)
    assert s.stdev == pytest.approx(((27.5**2 + 7.5**2 + 12.5**2 + 22.5**2) / 4) ** 0.5)
    counts = [b.count for b in histogram([0.0, 9.99, 10.0, 55.0, 100.0])]
    assert counts == [2, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert summary([]).count == 0


def test_failure_sentence():
    rate = FailureRate("exercise-04", "inverse_round_trip", "inverse undoes forward", 17, 20)
    assert rate.sentence == (
        "most students (85%, 17 of 20) failed exercise-04 inverse_round_trip: "
        "inverse undoes forward"
    )


def _attempt(student: str, scores: list[float], chosen: list[str]) -> QuizAttemptRecord:
    questions = [
        {"id": f"q{i + 1}", "chosen": [c], "score": s, "max_score": 1.0}
        for i, (s, c) in enumerate(zip(scores, chosen, strict=True))
    ]
    return QuizAttemptRecord(
        student, "quiz", 1, 0, "exam", "finished", score=sum(scores), max_score=3.0,
        data=attempt_data(questions),
    )  # fmt: skip


def test_item_analysis_facility_discrimination_distractors():
    attempts = [
        _attempt("a", [1, 1, 0], ["x", "y", "n"]),
        _attempt("b", [1, 1, 1], ["x", "y", "z"]),
        _attempt("c", [0, 0, 1], ["w", "v", "z"]),
        _attempt("d", [1, 0, 0], ["x", "v", "n"]),
    ]
    analysis = analyse_quiz("quiz", attempts)
    assert analysis is not None and analysis.students == 4 and analysis.skipped == 0
    q1, q2, q3 = analysis.questions
    assert q1.facility == 0.75 and q2.facility == 0.5 and q3.facility == 0.5
    # q1 vs rest (q2 + q3): (1,1,0,1) vs (1,2,1,0)
    assert q1.discrimination == pytest.approx(pearson([1, 1, 0, 1], [1, 2, 1, 0]))
    assert q1.discrimination == pytest.approx(0.0)
    # q2 vs rest (q1 + q3): (1,1,0,0) vs (1,2,1,1) -> 1/sqrt(3)
    assert q2.discrimination == pytest.approx(3**-0.5)
    assert q1.chosen == {"x": 3, "w": 1} and q3.chosen == {"n": 2, "z": 2}


def test_item_analysis_skips_other_layouts():
    odd = QuizAttemptRecord("e", "quiz", 1, 0, "exam", "finished", score=1, data={"answers": {}})
    assert analyse_quiz("quiz", [odd]) is None
    mixed = analyse_quiz("quiz", [odd, _attempt("a", [1, 0, 1], ["x", "y", "z"])])
    assert mixed is not None and mixed.skipped == 1 and mixed.students == 1
    assert mixed.questions[0].discrimination is None  # too few students to correlate
    assert pearson([1, 1], [0, 1]) is None
