"""The student's terminal loop under a real pseudo-terminal: watch, hint, list, colours."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pty_session import FOOTER, ROOT, finish, spawn, too_wide

from grader.exercises import EXERCISES, get_exercise
from grader.gradebook import Gradebook

EX03 = get_exercise("exercise-03")
EX04 = get_exercise("exercise-04")
REFERENCE = (ROOT / "solutions" / EX03.filename).read_text()


def _save(folder: Path, text: str) -> None:
    (folder / EX03.filename).write_text(text, encoding="utf-8")


def test_watch_regrades_on_save_moves_on_and_ctrl_c_leaves_cleanly(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for exercise in (EX03, EX04):
        shutil.copy(ROOT / "exercises" / exercise.filename, work / exercise.filename)
    book = tmp_path / "gb.sqlite"
    child = spawn(
        ["watch", "exercise-03", "--submission", str(work), "--gradebook", str(book)], tmp_path
    )
    child.expect(r"exercise-03: 0/10")
    child.expect(FOOTER)
    _save(work, REFERENCE.replace("(x_b - shift)", "(x_b + shift)"))  # a wrong inverse
    child.expect(r"exercise-03: [1-9]/10")
    child.expect(FOOTER)
    _save(work, REFERENCE[: len(REFERENCE) // 2])  # half-written: cut inside a function
    child.expect(r"could not be graded")
    child.expect(r"exercise-03: 0/10")
    child.expect(FOOTER)
    _save(work, REFERENCE)
    child.expect(r"exercise-04: 0/10")  # moved on to the next unfinished exercise
    child.expect(r"exercise-03 done: full marks")  # said below the new result
    child.expect(r"grade quiz take\s+jacobians-and-coupling")
    child.expect(r"Watching")
    child.expect(FOOTER)
    watching = child.before.replace("\r\n", "")
    assert EX04.filename in watching
    child.sendintr()
    status, output = finish(child)
    assert status == 0, output[-2000:]
    assert "Stopped watching" in output and "Traceback" not in output
    assert "\x1b[31m" in output and "\x1b[32m" in output  # colours on a terminal
    assert too_wide(output) == []
    with Gradebook.open(book, create=False) as opened:
        history = opened.submission_history("ann", "exercise-03")
        current = {r.exercise: r.score for r in opened.current_submissions("ann")}
    assert len(history) == 4 and [r.score for r in history][-1] == 10
    assert current == {"exercise-03": 10, "exercise-04": 0}


def test_hint_counts_go_up_and_are_stored(tmp_path: Path) -> None:
    book = tmp_path / "gb.sqlite"
    outputs = []
    for expected in ("hint 1 of 3", "hint 2 of 3"):
        child = spawn(["hint", "exercise-03", "--gradebook", str(book)], tmp_path)
        child.expect(expected)
        status, output = finish(child)
        assert status == 0
        outputs.append(output)
    with Gradebook.open(book, create=False) as opened:
        shown = opened.hints_shown("ann", "exercise-03")
    assert [(h.function, h.step) for h in shown] == [("soft_clamp", 1), ("soft_clamp", 2)]
    assert all("\x1b[" in o and too_wide(o) == [] for o in outputs)


def test_colours_only_on_a_terminal_and_never_with_no_color(tmp_path: Path) -> None:
    args = ["exercise-03", "--no-save"]
    child = spawn(args, ROOT)
    child.expect(r"exercise-03: 0/10")
    _, coloured = finish(child)
    assert "\x1b[1m" in coloured and too_wide(coloured) == []
    child = spawn(args, ROOT, NO_COLOR="1")
    child.expect(r"exercise-03: 0/10")
    _, plain = finish(child)
    assert "\x1b[" not in plain and too_wide(plain) == []
    piped = subprocess.run(
        [sys.executable, "-m", "grader", "list", "--gradebook", str(tmp_path / "gb.sqlite")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout
    assert f"0/{len(EXERCISES)} exercises done" in piped.stdout


def test_list_fits_the_terminal_and_says_what_is_next(tmp_path: Path) -> None:
    child = spawn(["list", "--gradebook", str(tmp_path / "gb.sqlite")], ROOT)
    child.expect(r"Next: exercise-01")
    status, output = finish(child)
    assert status == 0 and too_wide(output) == []
    assert "░" * 20 in output and f"0/{len(EXERCISES)} exercises done" in output
