"""`grade hint`: one more step per call, recorded with a time stamp, for the right function."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import results
from grader.cli import main
from grader.gradebook import Gradebook
from grader.gradebook.backends import SQLiteBackend
from grader.gradebook.schema import MIGRATIONS, SCHEMA_VERSION
from grader.hints import load_hints

NOT_IMPLEMENTED = results.Feedback("calling it", "not implemented yet: affine_coupling_inverse")
WRONG = results.Feedback("x = forward(z)", "1 of 4 entries differ")


def _result(*outcomes: tuple[str, results.Feedback | None]) -> results.ExerciseResult:
    tests = tuple(
        results.TestResult(name, name, 0.0 if fb else 1.0, 1.0, "failed" if fb else "passed", fb)
        for name, fb in outcomes
    )
    return results.ExerciseResult("exercise-03", "t", tests, 1, "cpu", "s", "h", 0.1)


def hint(book: Path, *args: str) -> tuple[int, str]:
    run = CliRunner().invoke(
        main, ["hint", *args, "--gradebook", str(book), "--student", "ann"], catch_exceptions=False
    )
    return run.exit_code, run.output


def test_record_hint_counts_each_step_once_with_a_time_stamp(tmp_path: Path) -> None:
    with Gradebook.open(tmp_path / "gb.sqlite") as book:
        steps = [book.record_hint("ann", "exercise-03", "soft_clamp", 3) for _ in range(4)]
        book.record_hint("ann", "exercise-03", "affine_coupling_forward", 3)
        book.record_hint("bob", "exercise-01", "affine_flow_log_prob", 3)
        shown = book.hints_shown("ann", "exercise-03")
        counts = book.hint_counts()
    assert steps == [1, 2, 3, None]
    assert [(h.function, h.step) for h in shown] == [
        ("soft_clamp", 1), ("soft_clamp", 2), ("soft_clamp", 3), ("affine_coupling_forward", 1),
    ]  # fmt: skip
    assert all(datetime.fromisoformat(h.shown_at).tzinfo is not None for h in shown)
    assert counts == {("ann", "exercise-03"): 4, ("bob", "exercise-01"): 1}


def test_a_version_2_gradebook_gains_the_hint_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:2]:
        for statement in migration:
            db.execute(statement.format(**SQLiteBackend.types))
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO students VALUES ('ann', '2025-01-01T00:00:00+00:00')")
    db.close()
    with Gradebook.open(path) as book:
        assert book.schema_version() == SCHEMA_VERSION
        assert book.students() == ["ann"]
        assert book.record_hint("ann", "exercise-03", "soft_clamp", 3) == 1


def test_steps_come_one_per_call_and_are_stored(tmp_path: Path) -> None:
    book = tmp_path / "gb.sqlite"
    steps = load_hints("exercise-03").steps("soft_clamp")
    code, first = hint(book, "exercise-03")
    assert code == 0 and "soft_clamp · hint 1 of 3" in first
    assert "no result of exercise-03 recorded yet" in first
    assert steps[0][:40] in first and steps[1][:40] not in first
    _, second = hint(book, "exercise-03")
    assert "hint 2 of 3" in second and steps[0][:40] in second and steps[1][:40] in second
    _, third = hint(book, "03")
    assert "hint 3 of 3" in third and steps[2] in third and "last hint for soft_clamp" in third
    with Gradebook.open(book) as opened:
        assert [h.step for h in opened.hints_shown("ann", "exercise-03")] == [1, 2, 3]


def test_the_default_function_is_the_first_one_not_passing(tmp_path: Path) -> None:
    book = tmp_path / "gb.sqlite"
    with Gradebook.open(book) as opened:
        outcomes = [("soft_clamp", None), ("worked_example", None)]
        outcomes.append(("inverse_matches_reference", NOT_IMPLEMENTED))
        opened.record_exercise("ann", _result(*outcomes))
    _, output = hint(book, "exercise-03")
    assert "affine_coupling_inverse · hint 1 of 3" in output
    assert "not passing yet in your last result (2/3)" in output
    with Gradebook.open(book) as opened:
        opened.record_exercise("ann", _result(("soft_clamp", None), ("worked_example", WRONG)))
    _, output = hint(book, "exercise-03")
    assert "affine_coupling_forward · hint 1 of 3" in output  # worked_example calls forward


def test_all_steps_seen_shows_them_again_without_counting(tmp_path: Path) -> None:
    book = tmp_path / "gb.sqlite"
    for _ in range(3):
        hint(book, "exercise-03", "--function", "affine_coupling_inverse")
    code, output = hint(book, "exercise-03", "--function", "affine_coupling_inverse")
    assert code == 0 and "No more hints for affine_coupling_inverse" in output
    assert "Hints left for: soft_clamp, affine_coupling_forward" in output
    with Gradebook.open(book) as opened:
        assert len(opened.hints_shown("ann")) == 3


def test_the_course_cost_per_hint_is_stated(tmp_path: Path) -> None:
    course = tmp_path / "course.toml"
    course.write_text("[hints]\npoints_per_hint = 0.5\n")
    book = str(tmp_path / "gb.sqlite")
    run = CliRunner().invoke(
        main, ["hint", "exercise-01", "--gradebook", book, "--course", str(course)]
    )
    assert run.exit_code == 0 and "Each hint costs 0.5 point(s) of exercise-01" in run.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["exercise-42"], "unknown exercise 'exercise-42'"),
        (["exercise-03", "--function", "nope"], "its functions: soft_clamp,"),
    ],
)
def test_bad_input_is_a_usage_error(tmp_path: Path, args: list[str], message: str) -> None:
    run = CliRunner().invoke(main, ["hint", *args, "--gradebook", str(tmp_path / "gb.sqlite")])
    assert run.exit_code == 2 and message in run.output
    assert not (tmp_path / "gb.sqlite").exists() or "Traceback" not in run.output


def test_a_hint_that_cannot_be_recorded_is_not_shown(tmp_path: Path) -> None:
    broken = tmp_path / "gb.sqlite"
    broken.write_text("not a database, just text " * 100)
    run = CliRunner().invoke(main, ["hint", "exercise-03", "--gradebook", str(broken)])
    assert run.exit_code == 1 and "could not be recorded, so it is not shown" in run.output
    assert "nudge" not in run.output and "Traceback" not in run.output
