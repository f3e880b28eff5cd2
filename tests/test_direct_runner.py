"""The direct runner (`grader.testing.direct`) gives exactly pytest's outcomes, and leaves
to pytest every hidden test file that uses more than it supports."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from grader.exercises import EXERCISES
from grader.grading import grade_exercise
from grader.testing import direct

ROOT = Path(__file__).resolve().parents[1]


def _first_wrong(exercise_id: str) -> Path:
    wrong = sorted((ROOT / "tests" / "wrong" / exercise_id.replace("-", "_")).glob("*"))
    return wrong[0] if wrong else ROOT / "exercises"


@pytest.mark.parametrize("exercise", [e.id for e in EXERCISES])
def test_every_hidden_file_is_collected(exercise: str) -> None:
    tests = direct.collect(next(e for e in EXERCISES if e.id == exercise))
    assert tests is not None and len(tests) >= 5
    assert all(t.nodeid == f"test_{exercise.replace('-', '_')}.py::{t.name}" for t in tests)


@pytest.mark.parametrize("exercise", [e.id for e in EXERCISES])
def test_same_results_as_pytest(exercise: str) -> None:
    for folder in (ROOT / "solutions", _first_wrong(exercise)):
        fast = grade_exercise(exercise, folder, seed=11)
        slow = grade_exercise(exercise, folder, seed=11, use_pytest=True)
        assert fast.tests == slow.tests, folder
        assert fast.notes == slow.notes


def _module(**members: object) -> types.ModuleType:
    module = types.ModuleType("fake_hidden")
    for name, value in members.items():
        setattr(module, name, value)
    return module


def _points(function: object) -> object:
    return pytest.mark.points(2)(function)


def test_plain_functions_are_collected_in_order() -> None:
    def test_b(student: object, rng: object) -> None:
        """Checks b."""

    def test_a(reference: object) -> None:
        pass

    tests = direct.collect_module(_module(test_b=_points(test_b), test_a=_points(test_a)), "f.py")
    assert tests is not None
    assert [(t.name, t.fixtures, t.points, t.doc) for t in tests] == [
        ("test_b", ("student", "rng"), 2.0, "Checks b."),
        ("test_a", ("reference",), 2.0, "test_a"),
    ]


def _unsupported() -> dict[str, types.ModuleType]:
    def unknown_fixture(tmp_path: object) -> None:
        pass

    def default_argument(student: object, n: int = 3) -> None:
        pass

    def plain(student: object) -> None:
        pass

    class TestGroup:
        pass

    parametrized = pytest.mark.parametrize("n", [1, 2])(_points(plain))
    marked_module = _module(test_x=_points(plain), pytestmark=[pytest.mark.slow])
    return {
        "unknown fixture": _module(test_x=_points(unknown_fixture)),
        "default argument": _module(test_x=_points(default_argument)),
        "no points mark": _module(test_x=plain),
        "parametrize": _module(test_x=parametrized),
        "test class": _module(TestGroup=TestGroup),
        "module mark": marked_module,
        "setup function": _module(test_x=_points(plain), setup_module=lambda: None),
        "module fixture": _module(test_x=_points(plain), thing=pytest.fixture(lambda: 1)),
    }


@pytest.mark.parametrize("case", sorted(_unsupported()))
def test_anything_else_is_left_to_pytest(case: str) -> None:
    assert direct.collect_module(_unsupported()[case], "f.py") is None


def test_outcomes_and_setup_errors() -> None:
    from grader.results import Feedback
    from grader.testing.checks import CheckFailed

    def test_pass(student: object) -> None:
        assert student == "s"

    def test_check(student: object) -> None:
        raise CheckFailed(Feedback("c", "d", "h"))

    def test_reference(reference: object) -> None:
        pass

    def test_bug(rng: object) -> None:
        raise ZeroDivisionError

    module = _module(
        test_pass=_points(test_pass),
        test_check=_points(test_check),
        test_reference=_points(test_reference),
        test_bug=_points(test_bug),
    )
    tests = direct.collect_module(module, "f.py")
    assert tests is not None

    def missing() -> object:
        raise ModuleNotFoundError("solutions")

    results = direct.run(tests, {"student": lambda: "s", "reference": missing}, seed=1)
    assert [r.status for r in results] == ["passed", "failed", "error", "error"]
    assert results[1].feedback == Feedback("c", "d", "h")
    assert "ModuleNotFoundError" in results[2].feedback.differs
    assert "ZeroDivisionError" in results[3].feedback.differs
