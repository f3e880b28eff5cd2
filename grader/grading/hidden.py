"""Grading with the hidden tests: what decides an instructor's score.

    result = grade_hidden(exercise, submitted, device="cpu", seed=0, zygote=zygote)

Runs the exercise's hidden pytest file in this (trusted) process (directly, or with pytest
when the file needs more than `grader.testing.direct` offers); every call into the
submission goes through an isolated worker forked from the zygote.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import time
from typing import Any

from grader.exercises import Exercise, suite_hash
from grader.grading.device import resolve_device
from grader.results import ExerciseResult, Feedback, TestResult
from grader.runner.client import Budget, StudentModule
from grader.runner.limits import Limits
from grader.runner.source import SubmittedFile
from grader.runner.zygote import Zygote

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


def grade_hidden(
    exercise: Exercise,
    submitted: SubmittedFile,
    *,
    device: str,
    seed: int,
    zygote: Zygote,
    limits: Limits,
    use_pytest: bool = False,
) -> ExerciseResult:
    """Run the hidden tests of `exercise` against `submitted` within `limits`."""
    import torch

    concrete = resolve_device(device)
    started = time.perf_counter()
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
        submission_hash=submitted.content_hash,
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
