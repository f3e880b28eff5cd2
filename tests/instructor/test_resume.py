"""An interrupted `grade batch` (Ctrl-C, then a hard kill) resumes without duplicates or
losses, on both gradebook backends."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from classgen import make_class
from conftest import TIMEOUT_S

from grader.batch.runner import run_batch
from grader.exercises import PROJECT_ROOT
from grader.gradebook import Gradebook, GradebookError, gradebook_exists

# A hanging submission (its calls run into the time limit) after the first two keeps the
# batch busy for seconds when the test interrupts it; honest ones grade in ~0.05 s each.
KINDS = ["correct", "wrong_sign", "hanging", "stub", "correct", "hanging", "wrong_sign", "correct"]
STUDENTS = len(KINDS)


def _rows(book: str) -> int:
    """Rows in `submissions` (0 while there is no gradebook yet)."""
    if not gradebook_exists(book):
        return 0
    try:
        with Gradebook.open(book, create=False) as gradebook:
            return int(gradebook.backend.execute("SELECT count(*) FROM submissions").fetchone()[0])
    except GradebookError:
        return 0


def _start_batch(root: Path, book: str) -> subprocess.Popen:
    code = "from grader.instructor_cli import batch; batch()"
    args = [str(root), "--gradebook", book, "--jobs", "1", "--timeout", str(TIMEOUT_S)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args, "--exercise", "exercise-03"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop_after(process: subprocess.Popen, book: str, rows: int, sig: int) -> str:
    deadline = time.monotonic() + 60
    while _rows(book) < rows and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the batch finished before it could be interrupted"
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    return err


def test_interrupted_and_killed_batch_resumes(tmp_path, gradebook_location):
    root = tmp_path / "subs"
    make_class(root, KINDS)
    book = gradebook_location

    first = _start_batch(root, book)
    err = _stop_after(first, book, 2, signal.SIGINT)
    assert first.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    after_interrupt = _rows(book)
    assert 2 <= after_interrupt < STUDENTS

    second = _start_batch(root, book)
    _stop_after(second, book, after_interrupt + 2, signal.SIGKILL)
    after_kill = _rows(book)
    assert after_interrupt + 2 <= after_kill < STUDENTS

    summary = run_batch(
        root, book, jobs=2, call_timeout=TIMEOUT_S, exercises=["exercise-03"], stream=io.StringIO()
    )
    assert summary.planned == STUDENTS - after_kill  # only what was missing
    with Gradebook.open(book, create=False) as gradebook:
        current = gradebook.current_submissions()
        runs = gradebook.batch_runs()
        problems = gradebook.integrity_problems()
    assert problems == []
    assert _rows(book) == STUDENTS  # no duplicate rows, none lost
    assert sorted(s.student for s in current) == sorted(p.name for p in root.iterdir())
    assert [r.status for r in runs] == ["interrupted", "running", "finished"]
    scores = {s.student: s.score for s in current}
    assert scores["s01_correct"] == 10 and scores["s04_stub"] == 0 and scores["s03_hanging"] < 10
