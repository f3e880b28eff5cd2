"""The student's loop inside a kit: hints and watch work there, and a reference shipped
encrypted (`grade release --reveal-after-due`) opens only with its key, after a pass."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from pty_session import FOOTER, ROOT, finish, spawn, too_wide

from grader import results
from grader.cli import main
from grader.exercises import get_exercise
from grader.gradebook import Gradebook
from grader.instructor_cli import release
from grader.release.audit import find_leaks

EX03 = get_exercise("exercise-03")
REFERENCE = (ROOT / "solutions" / EX03.filename).read_text()
COURSE = (
    '[due]\nexercise-03 = "2026-03-14 23:59"\n[solutions]\nreveal_after_pass = ["exercise-03"]\n'
)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("reveal")
    (folder / "course.toml").write_text(COURSE)
    out = folder / "kit"
    run = CliRunner().invoke(
        release, [str(out), "--reveal-after-due", "--course", str(folder)], catch_exceptions=False
    )
    assert run.exit_code == 0, run.output
    keys_file = folder / "kit-reveal-keys.toml"
    assert "reference shipped encrypted" in run.output and str(keys_file) in run.output
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    return out, tomllib.loads(keys_file.read_text())["keys"]


def _grade(kit: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(kit), "NO_COLOR": "1", "FLOWGRADE_STUDENT": "ann"}
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=kit, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_encrypted_reference_holds_no_code_and_keys_stay_outside(kit) -> None:
    out, keys = kit
    assert list(keys) == ["exercise-03"]
    blob = out / "grader" / "release" / "reveal" / "exercise-03.fernet"
    assert (
        blob.is_file()
        and not (out / "grader" / "release" / "reveal" / "exercise-04.fernet").exists()
    )
    assert find_leaks(out, ROOT) == []
    text = re.sub(r"\s+", "", blob.read_text())
    assert "tanh" not in text and "soft_clamp" not in text and "def" not in text
    assert not any(
        keys["exercise-03"] in p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()
    )
    from cryptography.fernet import Fernet

    assert Fernet(keys["exercise-03"].encode()).decrypt(blob.read_bytes()).decode() == REFERENCE


def test_reveal_in_the_kit_needs_a_pass_and_the_key(kit) -> None:
    out, keys = kit
    shutil.rmtree(out / ".flowgrade", ignore_errors=True)
    before = _grade(out, "reveal", "exercise-03", "--key", keys["exercise-03"])
    assert before.returncode == 1 and "pass exercise-03 first" in before.stderr
    passed = results.TestResult("t", "t", 2.0, 2.0, "passed")
    with Gradebook.open(out / ".flowgrade" / "gradebook.sqlite") as book:
        book.record_exercise(
            "ann",
            results.ExerciseResult("exercise-03", "t", (passed,), 0, "cpu", "public-x", "h", 0.1),
        )
    keyless = _grade(out, "reveal", "exercise-03")
    assert keyless.returncode == 1 and "encrypted in this kit" in keyless.stderr
    assert "after the due date (2026-03-14" in keyless.stderr
    wrong = _grade(out, "reveal", "exercise-03", "--key", "A" * 43 + "=")
    assert (
        wrong.returncode == 1
        and "does not open" in wrong.stderr
        and "Traceback" not in wrong.stderr
    )
    opened = _grade(out, "reveal", "exercise-03", "--key", keys["exercise-03"])
    assert opened.returncode == 0 and opened.stdout == REFERENCE
    other = _grade(out, "reveal", "exercise-04", "--key", keys["exercise-03"])
    assert other.returncode == 1 and "does not include the reference of exercise-04" in other.stderr


def test_hints_and_watch_work_in_the_kit(kit, tmp_path: Path) -> None:
    out, _ = kit
    assert (out / "exercises" / "hints" / "exercise-03.yaml").is_file()
    child = spawn(
        ["hint", "exercise-03", "--gradebook", str(tmp_path / "gb.sqlite")], out, root=out
    )
    child.expect("soft_clamp · hint 1 of 3")
    assert finish(child)[0] == 0
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(out / "exercises" / EX03.filename, work / EX03.filename)
    args = [
        "watch",
        "exercise-03",
        "--submission",
        str(work),
        "--gradebook",
        str(tmp_path / "gb.sqlite"),
    ]
    child = spawn(args, out, root=out)
    child.expect(r"These\s+are\s+public\s+checks")  # the kit replays recorded checks
    child.expect(r"exercise-03: 0/\d+")
    child.expect(FOOTER)
    (work / EX03.filename).write_text(REFERENCE)
    child.expect(r"exercise-03 done: full marks")
    child.expect(FOOTER)
    child.sendintr()
    status, output = finish(child)
    assert status == 0 and "Traceback" not in output and too_wide(output) == []


def test_reveal_in_the_project_is_a_plain_read_after_a_pass(tmp_path: Path) -> None:
    book = tmp_path / "gb.sqlite"
    (tmp_path / "course.toml").write_text(COURSE)

    def reveal(exercise: str, course: Path) -> tuple[int, str]:
        args = [
            "reveal",
            exercise,
            "--gradebook",
            str(book),
            "--student",
            "ann",
            "--course",
            str(course),
        ]
        run = CliRunner().invoke(main, args)
        return run.exit_code, run.output

    assert (
        reveal("exercise-03", tmp_path)[1].count("pass exercise-03 first (full marks; no result")
        == 1
    )
    passed = results.TestResult("t", "t", 2.0, 2.0, "passed")
    with Gradebook.open(book) as opened:
        opened.record_exercise(
            "ann", results.ExerciseResult("exercise-03", "t", (passed,), 0, "cpu", "s", "h", 0.1)
        )
        opened.record_exercise(
            "ann", results.ExerciseResult("exercise-04", "t", (passed,), 0, "cpu", "s", "h", 0.1)
        )
    code, text = reveal("exercise-03", tmp_path)
    assert code == 0 and text == REFERENCE
    code, text = reveal("exercise-04", tmp_path)
    assert code == 1 and "does not reveal the reference of exercise-04" in text
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "course.toml").write_text("")
    code, text = reveal("exercise-03", tmp_path / "none")  # the default: nothing revealed
    assert code == 1 and "does not reveal" in text


def test_reveal_after_due_needs_exercises_to_reveal(tmp_path: Path) -> None:
    (tmp_path / "course.toml").write_text("")
    run = CliRunner().invoke(
        release, [str(tmp_path / "kit"), "--reveal-after-due", "--course", str(tmp_path)]
    )
    assert (
        run.exit_code == 1 and "names no exercise" in run.output and not (tmp_path / "kit").exists()
    )
