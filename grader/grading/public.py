"""Grading with public checks: what `grade exercise-NN` runs in a student kit.

    result = grade_public(exercise, submitted, zygote=zygote, limits=Limits())

A kit has no hidden tests. Each hidden test that could be recorded at release time
(`grader.release.vectors`, stored as `grader.release.vector_file` describes) is
replayed: its recorded calls go to the student's code through the same isolated worker
as real grading (`StudentModule`), and every output is compared with the reference's
recorded output (`expect_close`, `expect_structure`, `expect_unchanged`), giving the
same kind of feedback. The result says which tests only the instructor grades and that
the instructor grades with fresh random inputs, so passing here is necessary, not a
promise of full marks.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from grader.exercises import Exercise
from grader.release.vector_file import load_vectors
from grader.results import ExerciseResult, TestResult
from grader.runner.client import StudentModule
from grader.runner.errors import StudentError, StudentRaised
from grader.runner.limits import Limits
from grader.runner.source import SubmittedFile
from grader.runner.zygote import Zygote


def grade_public(
    exercise: Exercise, submitted: SubmittedFile, *, zygote: Zygote, limits: Limits
) -> ExerciseResult:
    """Replay the public checks of `exercise` against `submitted` (fixed CPU data: the
    device and seed of a graded run do not apply)."""
    vectors = load_vectors(exercise.id)
    started = time.perf_counter()
    student = StudentModule(
        submitted, exercise.module_name, zygote, "cpu", functions=exercise.functions,
        limits=limits,
    )  # fmt: skip
    try:
        tests = tuple(
            _replay(test, student, vectors.arrays)
            for test in vectors.manifest["tests"]
            if test["public"]
        )
    finally:
        student.close()
    return ExerciseResult(
        exercise=exercise.id,
        title=exercise.title,
        tests=tests,
        seed=int(vectors.manifest.get("seed", 0)),
        device="cpu",
        suite_hash=f"public-{vectors.digest}",
        submission_hash=submitted.content_hash,
        duration_s=time.perf_counter() - started,
        notes=_notes(vectors.manifest, student),
    )


def _notes(manifest: dict[str, Any], student: StudentModule) -> tuple[str, ...]:
    tests = manifest["tests"]
    total = sum(float(t["points"]) for t in tests)
    hidden_only = [t for t in tests if not t["public"]]
    notes = [
        "These are public checks on fixed recorded inputs. Your instructor grades "
        f"{len(tests)} tests ({total:g} points) with hidden tests on fresh random inputs."
    ]
    if hidden_only:
        listing = "; ".join(
            f"{t['name']} ({float(t['points']):g} pt): {t['description']}" for t in hidden_only
        )
        notes.append(f"Graded by your instructor only (no public check): {listing}")
    if student.stdout:
        notes.append("your code printed:\n" + "".join(student.stdout)[:4000])
    return tuple(notes)


def _replay(
    test: dict[str, Any], student: StudentModule, arrays: dict[str, np.ndarray]
) -> TestResult:
    from grader.testing.checks import CheckFailed

    points = float(test["points"])
    name, description = test["name"], test["description"]
    try:
        for index, call in enumerate(test["calls"], start=1):
            _replay_call(call, index, description, student, arrays)
    except CheckFailed as failed:
        return TestResult(name, description, 0.0, points, "failed", failed.feedback)
    except StudentError as err:
        return TestResult(name, description, 0.0, points, "failed", err.feedback())
    return TestResult(name, description, points, points, "passed")


def _replay_call(
    call: dict[str, Any],
    index: int,
    description: str,
    student: StudentModule,
    arrays: dict[str, np.ndarray],
) -> None:
    from grader.release.encoding import decode
    from grader.release.vectors import gradients_from_data, spec_from_data
    from grader.testing.checks import expect_clean_call, expect_unchanged, fail
    from grader.testing.gradients import ReferenceCall, expect_gradients

    function = call["function"]
    args = decode(call["args"], arrays)
    kwargs = decode(call["kwargs"], arrays)
    what = f"{function} on recorded case {index} of: {description}"
    names = [f"argument {i + 1}" for i in range(len(args))]
    if call.get("raises"):
        expected_type = call.get("error_type")  # absent in vector files of older kits
        try:
            student.call_full(function, args, kwargs)
        except StudentRaised as err:
            if expected_type in (None, err.detail.split(":", 1)[0]):
                return
            differs = f"your code raised {err.detail[:300]}"
            fail(what, differs, f"these inputs must raise {expected_type}")
        expected = expected_type or "an error"
        fail(what, f"expected {expected} for these inputs, but the call returned normally")
    spec = spec_from_data(decode(call["gradients"], arrays)) if "gradients" in call else None
    result = student.call_full(
        function,
        args,
        kwargs,
        return_inputs=call["check_inputs"],
        check_device=bool(call.get("check_device")),
        gradients=spec,
    )
    expected = decode(call["expected"], arrays)
    if spec is not None:
        grads = gradients_from_data(decode(call["expected_gradients"], arrays))
        outputs = [f"output {i + 1}" for i in range(len(expected))]
        expect_gradients(
            result,
            ReferenceCall(expected, grads),
            function=what,
            names=names,
            outputs=outputs if isinstance(expected, tuple | list) else ["output"],
        )
        return
    compare(result.value, expected, what)
    if call["check_inputs"]:
        expect_unchanged(
            list(decode(call["args"], arrays)), result.inputs_after, function=function, names=names
        )
    if call["check_inputs"] or call.get("check_device"):  # as the hidden structure tests do
        expect_clean_call(result, function=function, names=names)


def compare(got: Any, expected: Any, what: str) -> None:
    """Check `got` against a recorded expected value, recursively, with teaching feedback."""
    import torch

    from grader.testing.checks import expect_close, expect_structure, expect_tuple, fail

    if isinstance(expected, torch.Tensor):
        expect_close(got, expected, what=what)
        expect_structure(got, expected, what=what)
    elif isinstance(expected, tuple | list):
        items = expect_tuple(got, len(expected), what, f"of {len(expected)} values")
        for i, (g, e) in enumerate(zip(items, expected, strict=True)):
            compare(g, e, f"{what}, output {i + 1}")
    elif isinstance(expected, float):
        value = _number(got)
        if value is None or not math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-7):
            fail(what, f"expected {expected:.6g}, got {got!r}"[:300])
    elif got != expected:
        fail(what, f"expected {expected!r}, got {got!r}"[:300])


def _number(value: Any) -> float | None:
    import torch

    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    return None
