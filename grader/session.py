"""Grade one exercise of one submission: the library call behind `grade exercise-NN`.

    result = grade_exercise("exercise-03", Path("exercises"), device="cpu", seed=0)

Runs the exercise's hidden pytest file in this (trusted) process (directly, or with pytest
when the file needs more than `grader.testing.direct` offers); every call into the
submission goes through an isolated worker forked from the zygote.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import secrets
import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.exercises import Exercise, get_exercise, suite_hash
from grader.results import ExerciseResult, Feedback, TestResult
from grader.runner.client import Budget, StudentModule
from grader.runner.limits import Limits
from grader.runner.zygote import Zygote, shared_zygote

# Plugins the hidden tests do not need. `unraisableexception` alone costs ~0.2 s per run
# (it forces several full garbage collections over torch's object graph).
UNUSED_PYTEST_PLUGINS = (
    "stepwise",
    "unraisableexception",
    "threadexception",
    "faulthandler",
    "pastebin",
    "junitxml",
    "doctest",
    "debugging",
    "setuponly",
    "setupplan",
    "tmpdir",
    "logging",
    "legacypath",
)


class DeviceUnavailable(RuntimeError):
    """The requested device cannot be used on this machine."""


def resolve_device(requested: str) -> str:
    """Map `auto|cpu|cuda` to a concrete device, failing clearly when CUDA is missing."""
    import torch

    if requested not in ("auto", "cpu", "cuda"):
        raise DeviceUnavailable(f"unknown device {requested!r}; valid choices: auto, cpu, cuda")
    if requested == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise DeviceUnavailable("--device cuda was requested but no CUDA GPU is available here")
    return "cuda" if available else "cpu"


def submission_hash(path: Path) -> str:
    """Content hash of a submitted exercise file (`missing` when it does not exist).

    Never follows a symlink and never reads more than a sane source size, whatever the
    submission holds (a link to a device or to a huge file must not stall the grader).
    """
    try:
        info = os.lstat(path)
    except OSError:
        return "missing"
    if not stat.S_ISREG(info.st_mode):
        return "not-a-file"
    if info.st_size > 16 << 20:
        return "oversized"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return "unreadable"


def grade_exercise(
    exercise_id: str,
    submission_dir: Path,
    *,
    device: str = "cpu",
    seed: int | None = None,
    zygote: Zygote | None = None,
    call_timeout: float | None = None,
    limits: Limits | None = None,
    use_pytest: bool = False,
) -> ExerciseResult:
    """Run the hidden tests of `exercise_id` against `submission_dir/<exercise file>`.

    `limits` (default `Limits()`, a course may override) bound the submission's time and
    resources; `call_timeout`, when given, overrides `limits.call_seconds`. The tests run
    without a pytest session where that gives the same outcomes (`grader.testing.direct`),
    else, or with `use_pytest`, in an in-process pytest run.
    """
    import torch

    exercise = get_exercise(exercise_id)
    if not exercise.hidden_test_file.is_file():  # a student kit: replay the public checks
        from grader.release.public import grade_public

        return grade_public(
            exercise.id, submission_dir, device=device, seed=seed, zygote=zygote,
            call_timeout=call_timeout,
        )  # fmt: skip
    zygote = zygote or shared_zygote()
    concrete = resolve_device(device)
    seed = secrets.randbelow(2**31) if seed is None else seed
    submitted = Path(submission_dir) / exercise.filename
    started = time.perf_counter()
    limits = limits or Limits()
    if call_timeout is not None:
        limits = replace(limits, call_seconds=call_timeout)
    budget = Budget(limits.submission_seconds)

    def proxy(where: str) -> StudentModule:
        return StudentModule(
            submitted,
            exercise.module_name,
            zygote,
            where,
            functions=exercise.functions,
            limits=limits,
            budget=budget,
        )

    student = proxy(concrete)
    student_cpu = student if concrete == "cpu" else proxy("cpu")
    try:
        run = _run_pytest if use_pytest else _run_hidden_tests
        tests = run(exercise, student, student_cpu, torch.device(concrete), seed)
    finally:
        student.close()
        student_cpu.close()
    outputs = student.stdout if student_cpu is student else student.stdout + student_cpu.stdout
    printed = "".join(outputs)
    notes: tuple[str, ...] = (f"your code printed:\n{printed[:4000]}",) if printed else ()
    broken = student.broken or student_cpu.broken
    if broken:
        notes = (f"your file could not be graded: {broken}", *notes)
    return ExerciseResult(
        exercise=exercise.id,
        title=exercise.title,
        tests=tests,
        seed=seed,
        device=concrete,
        suite_hash=suite_hash(exercise),
        submission_hash=submission_hash(submitted),
        duration_s=time.perf_counter() - started,
        notes=notes,
    )


class _NativeTracebacks:
    """Sets pytest's `tbstyle` to `native` (the terminal plugin that owns `--tb` is off).
    pytest's default long style parses every source file in a failing traceback with `ast`,
    about 0.25 s per failed test; nobody reads that text (students see `Feedback`)."""

    def pytest_addoption(self, parser: Any) -> None:
        parser.addoption("--flowgrade-tbstyle", dest="tbstyle", default="native")


def _run_hidden_tests(
    exercise: Exercise,
    student: StudentModule,
    student_cpu: StudentModule,
    device: object,
    seed: int,
) -> tuple[TestResult, ...]:
    from grader.testing import direct

    tests = direct.collect(exercise)
    if tests is None:
        return _run_pytest(exercise, student, student_cpu, device, seed)
    reference = f"solutions.{exercise.module_name}"
    fixtures = {
        "student": lambda: student,
        "student_cpu": lambda: student_cpu,
        "reference": lambda: importlib.import_module(reference),
        "device": lambda: device,
    }
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return direct.run(tests, fixtures, seed)


def run_hidden_pytest(exercise: Exercise, plugins: list[Any]) -> int:
    """Run `exercise`'s hidden test file in-process with `plugins`, isolated from project
    settings, conftest files and auto-loaded plugins; output is swallowed. -> exit code"""
    import pytest

    hidden = exercise.hidden_test_file
    args = [str(hidden), "-c", str(hidden.parent / "pytest.ini"), "--rootdir", str(hidden.parent)]
    args += ["--noconftest", "-p", "no:cacheprovider", "-p", "no:terminal", "-s"]
    for plugin_name in UNUSED_PYTEST_PLUGINS:
        args += ["-p", f"no:{plugin_name}"]
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return int(pytest.main(args, plugins=plugins))
    finally:
        if previous is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


def _run_pytest(
    exercise: Exercise,
    student: StudentModule,
    student_cpu: StudentModule,
    device: object,
    seed: int,
) -> tuple[TestResult, ...]:
    from grader.testing.plugin import GradingPlugin

    plugin = GradingPlugin(exercise, student, student_cpu, device, seed)  # type: ignore[arg-type]
    code = run_hidden_pytest(exercise, [plugin, _NativeTracebacks()])
    if not plugin.results:
        feedback = Feedback(
            checked=f"running the hidden tests of {exercise.id}",
            differs=f"no test ran (pytest exit code {int(code)})",
            hint="this is not your fault; please tell your instructor",
        )
        return (TestResult("hidden_tests", "hidden tests ran", 0.0, 1.0, "error", feedback),)
    return tuple(plugin.results)
