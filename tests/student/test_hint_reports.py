"""Reports show the hints each student used per exercise, and apply the course's cost."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import results
from grader.gradebook import Gradebook
from grader.instructor_cli import report


def _result(exercise: str, score: float) -> results.ExerciseResult:
    tests = (results.TestResult("t", "t", score, 10.0, "passed" if score == 10 else "failed"),)
    return results.ExerciseResult(exercise, "t", tests, 1, "cpu", "s", "h", 0.1)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "gb.sqlite"
    with Gradebook.open(path) as opened:
        opened.record_exercise("ann", _result("exercise-03", 10), submitted_at="2025-03-16T00:00Z")
        opened.record_exercise("bob", _result("exercise-03", 1))
        opened.record_exercise("bob", _result("exercise-01", 10))
        for function in ("soft_clamp", "soft_clamp", "affine_coupling_forward"):
            opened.record_hint("ann", "exercise-03", function, 3)
        for _ in range(3):
            opened.record_hint("bob", "exercise-03", "affine_coupling_inverse", 3)
    return path


def _report(book: Path, tmp_path: Path, course: str, *args: str) -> str:
    (tmp_path / "course.toml").write_text(course)
    run = CliRunner().invoke(
        report, [*args, "--gradebook", str(book), "--course", str(tmp_path)], catch_exceptions=False
    )
    assert run.exit_code == 0, run.output
    return run.stdout


COSTLY = (
    '[due]\nexercise-03 = "2025-03-15T00:00Z"\n'
    "[late]\nper_day_percent = 10\n[hints]\npoints_per_hint = 1.5\n"
)


def test_hint_counts_and_costs_in_every_format(book: Path, tmp_path: Path) -> None:
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(_report(book, tmp_path, COSTLY)))}
    assert rows["ann"]["exercise-03 hints"] == "3" and rows["bob"]["exercise-03 hints"] == "3"
    assert rows["bob"]["exercise-01 hints"] == "0"
    # ann: 10, one day late (-10%) = 9, then 3 hints x 1.5 = 4.5 -> 4.5; bob: 1 - 4.5 -> 0
    assert float(rows["ann"]["exercise-03"]) == 4.5 and float(rows["bob"]["exercise-03"]) == 0
    assert float(rows["bob"]["total"]) == 10
    data = json.loads(_report(book, tmp_path, COSTLY, "--format", "json"))
    ann = next(s for s in data["students"] if s["student"] == "ann")["items"]["exercise-03"]
    assert (ann["hints"], ann["hint_penalty"], ann["penalty"], ann["final"]) == (3, 4.5, 1, 4.5)
    assert data["hints"]["points_per_hint"] == 1.5
    markdown = _report(book, tmp_path, COSTLY, "--format", "md")
    assert "Each hint costs 1.5 point(s) of its exercise" in markdown
    assert "exercise-03: 3 (-4.5)" in markdown
    html = _report(book, tmp_path, COSTLY, "--format", "html")
    assert "<th>hints used</th>" in html and "exercise-03: 3 (&minus;4.5)" in html


def test_free_hints_are_counted_but_cost_nothing(book: Path, tmp_path: Path) -> None:
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(_report(book, tmp_path, "")))}
    assert rows["ann"]["exercise-03 hints"] == "3" and float(rows["ann"]["exercise-03"]) == 10
    assert "Hints are free in this course" in _report(book, tmp_path, "", "--format", "md")


def test_a_bad_hint_cost_is_a_one_line_error(book: Path, tmp_path: Path) -> None:
    (tmp_path / "course.toml").write_text("[hints]\npoints_per_hint = -1\n")
    run = CliRunner().invoke(report, ["--gradebook", str(book), "--course", str(tmp_path)])
    assert run.exit_code == 1 and "points_per_hint must be a number >= 0" in run.output
