"""The `grade` command end to end, through a real subprocess (what a student runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from grader.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[1]


def grade(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "FLOWGRADE_STUDENT": "tester"}
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_reference_full_marks_exit_zero(tmp_path: Path) -> None:
    run = grade(
        "exercise-03",
        "--submission",
        str(ROOT / "solutions"),
        "--seed",
        "3",
        "--gradebook",
        str(tmp_path / "gb.sqlite"),
    )
    assert run.returncode == 0, run.stderr
    assert "\nexercise-03: 10/10\n" in run.stdout
    assert "✓" in run.stdout and "Traceback" not in run.stdout + run.stderr
    # full marks point to the next exercise and to the quiz on the same topic
    assert (
        "✓ exercise-03 done" in run.stdout
        and "grade quiz take jacobians-and-coupling" in run.stdout
    )
    assert "Next: exercise-04" in run.stdout and f"1/{len(EXERCISES)} exercises done" in run.stdout


def test_stub_scores_zero_exit_one_without_traceback(tmp_path: Path) -> None:
    run = grade("exercise-03", "--no-save", cwd=ROOT)
    assert run.returncode == 1
    assert "not implemented yet: affine_coupling_forward" in run.stdout
    assert "exercise-03: 0/10" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_json_output_follows_gradescope_fields_and_adds_up() -> None:
    run = grade("exercise-03", "--submission", str(ROOT / "solutions"), "--json", "--no-save")
    data = json.loads(run.stdout)
    assert data["exercise"] == "exercise-03"
    assert {"score", "max_score", "tests"} <= data.keys()
    assert sum(t["score"] for t in data["tests"]) == data["score"] == data["max_score"]
    assert all(
        {"name", "score", "max_score", "status", "output"} <= t.keys() for t in data["tests"]
    )


def test_unknown_exercise_is_a_usage_error_listing_valid_ids() -> None:
    run = grade("exercise-9")
    assert run.returncode == 2
    assert "exercise-01" in run.stderr and "exercise-05" in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_submission_folder_is_a_one_line_error(tmp_path: Path) -> None:
    run = grade("exercise-03", "--submission", str(tmp_path / "nope"))
    assert run.returncode == 2
    assert "does not exist" in run.stderr and "Traceback" not in run.stderr


def test_device_cuda_grades_on_gpu_or_fails_clearly() -> None:
    import torch

    run = grade(
        "exercise-03", "--submission", str(ROOT / "solutions"), "--device", "cuda", "--no-save"
    )
    if torch.cuda.is_available():
        assert run.returncode == 0 and "device cuda" in run.stdout
    else:
        assert run.returncode == 2
        assert "no CUDA GPU" in run.stderr and "Traceback" not in run.stderr


def test_list_shows_last_result(tmp_path: Path) -> None:
    book = str(tmp_path / "gb.sqlite")
    grade("exercise-03", "--submission", str(ROOT / "solutions"), "--gradebook", book)
    run = grade("list", "--gradebook", book)
    assert run.returncode == 0
    line = next(line for line in run.stdout.splitlines() if line.startswith("exercise-03"))
    assert "10/10" in line and "✓" in line
    assert "not graded yet" in next(
        row for row in run.stdout.splitlines() if row.startswith("exercise-01")
    )
    assert f"1/{len(EXERCISES)} exercises done" in run.stdout
    assert "Next: exercise-01: open exercises/exercise_01_change_of_variables.py" in run.stdout


def test_course_limits_apply_to_the_student_command(tmp_path: Path) -> None:
    source = (ROOT / "solutions" / "exercise_03_affine_coupling.py").read_text()
    slow = source.replace(
        "    return bound * torch.tanh(raw / bound)",
        "    while True:\n        pass",
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "exercise_03_affine_coupling.py").write_text(slow)
    (tmp_path / "course.toml").write_text("[limits]\ncall_seconds = 1.5\n")
    run = grade("exercise-03", "--submission", "sub", "--no-save", cwd=tmp_path)
    assert run.returncode == 1
    assert "your function ran for more than 1.5 s" in run.stdout
    # lost: soft_clamp, the clamped coupling test and the gradient test (it calls soft_clamp)
    assert "exercise-03: 7/10" in run.stdout


def test_malformed_course_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "course.toml").write_text("[limits]\ncall_seconds = 'soon'\n")
    run = grade("exercise-03", "--submission", str(ROOT / "solutions"), "--no-save", cwd=tmp_path)
    assert run.returncode == 2
    assert "course.toml" in run.stderr and "call_seconds" in run.stderr
    assert "Traceback" not in run.stderr
