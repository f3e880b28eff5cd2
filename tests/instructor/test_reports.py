"""Every `grade report` format, parsed back and checked against the gradebook."""

from __future__ import annotations

import csv
import io
import json
import math
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from conftest import QUIZ_ANSWERS

from grader.course import load_course
from grader.gradebook import Gradebook
from grader.instructor_cli import report


def _run(graded_class, course_dir, *args: str) -> str:
    result = CliRunner().invoke(
        report,
        [*args, "--gradebook", str(graded_class.gradebook), "--course", str(course_dir)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def _expected(graded_class, course_dir) -> dict[str, dict[str, float]]:
    """Item scores after penalties, computed here from the gradebook rows and the rule."""
    course = load_course(course_dir)
    expected: dict[str, dict[str, float]] = {}
    with Gradebook.open(graded_class.gradebook, create=False) as book:
        for row in book.current_submissions():
            late = course.lateness(row.student, "exercise-03", row.submitted_at)
            expected.setdefault(row.student, {})["exercise-03"] = row.score * (1 - late.fraction)
        for student, (q1, q2) in QUIZ_ANSWERS.items():
            expected[student]["quiz-01"] = float(q1 == "a") + float(q2 == "c")
    return expected


def test_csv_matches_the_gradebook_with_late_penalties(graded_class, course_dir):
    rows = list(csv.DictReader(io.StringIO(_run(graded_class, course_dir, "--format", "csv"))))
    expected = _expected(graded_class, course_dir)
    assert [r["student"] for r in rows] == sorted(graded_class.roster)
    for row in rows:
        want = expected[row["student"]]
        assert float(row["exercise-03"]) == pytest.approx(want["exercise-03"])
        assert (row["quiz-01"] == "") == ("quiz-01" not in want)
        assert float(row["total"]) == pytest.approx(sum(want.values()))
        assert float(row["max_total"]) == 12
        assert float(row["percentage"]) == pytest.approx(100 * sum(want.values()) / 12, abs=0.01)
    by_student = {r["student"]: r for r in rows}
    assert float(by_student["s01_correct"]["exercise-03"]) == 8  # 6 h late: one day, 20 %
    assert float(by_student["s02_correct"]["exercise-03"]) == 4  # 5 days late: capped at 60 %
    assert float(by_student["s03_correct"]["exercise-03"]) == 10  # on time


def test_detailed_csv_has_one_column_per_test(graded_class, course_dir):
    text = _run(graded_class, course_dir, "--format", "csv", "--detailed")
    rows = list(csv.DictReader(io.StringIO(text)))
    with Gradebook.open(graded_class.gradebook, create=False) as book:
        current = {s.student: s for s in book.current_submissions()}
        tests = {s: {t.name: t.score for t in book.test_rows([current[s].id])} for s in current}
    assert "exercise-03:round_trip" in rows[0] and "quiz-01" in rows[0]
    for row in rows:
        for name, score in tests[row["student"]].items():
            assert float(row[f"exercise-03:{name}"]) == score


def test_json_statistics_and_item_analysis(graded_class, course_dir):
    data = json.loads(_run(graded_class, course_dir, "--format", "json"))
    percentages = [s["percentage"] for s in data["students"]]
    overall = data["statistics"]["overall_percentage"]
    assert overall["mean"] == pytest.approx(sum(percentages) / len(percentages), abs=1e-3)
    assert sum(b["count"] for b in data["statistics"]["histogram"]) == 20
    worst = data["failures"][0]
    assert worst["rate"] >= max(f["rate"] for f in data["failures"])
    assert worst["sentence"].startswith(("most students", "every student", "half"))
    quiz = data["quizzes"]["quiz-01"]
    questions = {q["id"]: q for q in quiz["questions"]}
    assert quiz["students"] == 5
    assert questions["q1"]["facility"] == pytest.approx(3 / 5)
    assert questions["q2"]["chosen"] == {"c": 3, "b": 2}


def test_markdown_and_html_reports(graded_class, course_dir):
    markdown = _run(graded_class, course_dir, "--format", "md")
    assert "# Flows test course: class report" in markdown
    assert "## Where the class struggles" in markdown and "failed exercise-03" in markdown
    assert all(f"| {s} |" in markdown for s in graded_class.roster)
    html = _run(graded_class, course_dir, "--format", "html")
    tags = _Tags()
    tags.feed(html)
    assert tags.unclosed() == [] and "svg" in tags.seen and "table" in tags.seen
    assert "@media print" in html
    # self-contained: no scripts, stylesheets or images fetched from anywhere
    assert tags.external == []


def test_gradescope_results_match_the_csv(graded_class, course_dir, tmp_path):
    out = tmp_path / "gs"
    _run(graded_class, course_dir, "--format", "gradescope", "--out", str(out))
    rows = {
        r["student"]: r
        for r in csv.DictReader(io.StringIO(_run(graded_class, course_dir, "--format", "csv")))
    }
    files = sorted(out.glob("*/results.json"))
    assert [f.parent.name for f in files] == sorted(graded_class.roster)
    for path in files:
        result = json.loads(path.read_text())
        assert {"score", "max_score", "execution_time", "output", "tests"} <= set(result)
        assert result["score"] == pytest.approx(float(rows[path.parent.name]["total"]))
        assert sum(t["score"] for t in result["tests"]) == pytest.approx(result["score"])
        for test in result["tests"]:
            assert {"name", "number", "score", "max_score", "output", "visibility"} <= set(test)
    late = json.loads((out / "s02_correct" / "results.json").read_text())
    assert any("late penalty" in t["name"] and t["score"] == -6 for t in late["tests"])


def test_canvas_csv_has_the_columns_canvas_imports(graded_class, course_dir):
    rows = list(csv.reader(io.StringIO(_run(graded_class, course_dir, "--format", "canvas"))))
    header, points, *students = rows
    assert header == [
        "Student", "ID", "SIS User ID", "SIS Login ID", "Section", "exercise-03 (4711)", "quiz-01"
    ]  # fmt: skip
    assert points[0] == "Points Possible" and points[5:] == ["10", "2"]
    ada = next(r for r in students if r[0] == "Ada Lovelace")
    assert ada[1:5] == ["101", "U101", "ada", "A"] and float(ada[5]) == 8
    assert len(students) == 20


def test_report_errors_are_one_line(graded_class, tmp_path):
    runner = CliRunner()
    missing = runner.invoke(report, ["--gradebook", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 1 and "no gradebook here" in missing.output
    assert "Traceback" not in missing.output
    bad = runner.invoke(report, ["--format", "pdf", "--gradebook", str(graded_class.gradebook)])
    assert bad.exit_code == 2 and "csv" in bad.output and "canvas" in bad.output
    (tmp_path / "course.toml").write_text("[late]\nper_day = 10\n")
    wrong = runner.invoke(
        report, ["--gradebook", str(graded_class.gradebook), "--course", str(tmp_path)]
    )
    assert wrong.exit_code == 1 and "per_day_percent" in wrong.output
    assert len(wrong.output.strip().splitlines()) == 1


class _Tags(HTMLParser):
    VOID = frozenset({"meta", "br", "img", "line", "rect", "link", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: set[str] = set()
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and "://" in value:
                self.external.append(value)
        if tag in ("script", "link", "img", "iframe"):
            self.external.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.seen.add(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()

    def unclosed(self) -> list[str]:
        return self.stack


def test_penalty_rule_by_hand():
    from grader.course import LateRule

    rule = LateRule(grace_minutes=10, per_day_percent=20, max_percent=60, zero_after_days=10)
    assert rule.penalty_fraction(5 * 60) == 0
    assert rule.penalty_fraction(11 * 60) == pytest.approx(0.2)
    assert rule.penalty_fraction(86_400 + 1) == pytest.approx(0.4)
    assert rule.penalty_fraction(5 * 86_400) == pytest.approx(0.6)
    assert rule.penalty_fraction(11 * 86_400) == 1
    assert math.isclose(LateRule().penalty_fraction(1e9), 0)
