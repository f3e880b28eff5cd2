"""Every command that reads or writes a gradebook, pointed at a PostgreSQL database, in
real subprocesses: `grade exercise-NN`, `grade list`, `grade quiz take`, `grade report`
(`take` and `review` to the end: tests/quiz/test_quiz_cli.py, on both backends)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

from grader.exercises import PROJECT_ROOT
from grader.gradebook import Gradebook


def _grade(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=PROJECT_ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_student_and_instructor_commands_share_a_postgres_gradebook(postgres_server):
    url = postgres_server.create_database("commands")
    solutions = str(PROJECT_ROOT / "solutions")
    graded = _grade("exercise-03", "--submission", solutions, "--gradebook", url, "--student=ann")
    assert graded.returncode == 0, graded.stderr
    assert "warning" not in graded.stderr and "Traceback" not in graded.stderr
    listed = _grade("list", "--gradebook", url, "--student", "ann")
    assert "10/10" in next(line for line in listed.stdout.splitlines() if "exercise-03" in line)
    # the end of input after one line: the attempt is saved in progress, to resume
    took = _grade("quiz", "take", "checkpoint", "--student", "ann", "--gradebook", url, stdin="A\n")
    assert took.returncode == 3 and "Progress saved" in took.stderr, took.stderr
    with Gradebook.open(url, create=False) as book:
        (attempt,) = book.quiz_attempts(student="ann")
    assert attempt.state == "in-progress" and attempt.data["questions"]  # the shown order
    report = _grade("report", "--format", "csv", "--gradebook", url)
    assert report.returncode == 0, report.stderr
    (row,) = list(csv.DictReader(io.StringIO(report.stdout)))
    assert row["student"] == "ann" and float(row["exercise-03"]) == 10


def test_an_unreachable_postgres_gradebook_is_one_line(tmp_path):
    url = f"postgresql://grader:hunter2@/course?host={tmp_path}"
    for args in (["report", "--gradebook", url], ["list", "--gradebook", url]):
        run = _grade(*args)
        assert "cannot connect" in run.stderr and "hunter2" not in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    assert _grade("report", "--gradebook", url).returncode == 1
