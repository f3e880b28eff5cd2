"""Recording public test vectors at release time: the hidden tests, run against the reference.

For every hidden test of an exercise, the test runs (in this trusted process) with a
`RecordingStudent` in place of the student: each call `student.f(*args)` is answered by
the reference solution and recorded as (function, inputs, expected output). The result
is one `.npz` per exercise (see `grader.release.encoding`) holding, per test, its name,
description, points and recorded calls; a kit replays them against the student's code
(`grader.grading.public`). Inputs are drawn from a fixed public seed, never from the
fresh seeds of graded runs, and neither test source nor reference code is stored.

Calls in the gradient call mode record their cotangents and the reference's gradients;
calls with `check_device` record that flag, so that the kit runs the same checks. The
reference runs under the worker's watch (`grader.runner.watch`) too, so a hidden test that
counts trusted calls sees the reference's counts.

A test whose calls cannot all be stored as plain data, that does not pass against the
reference, or that is marked `@pytest.mark.instructor_only` (it grades against a threshold,
e.g. exercise-09's held-out NLL after training, so a correct answer need not reproduce the
reference's values) gets no public vectors: the kit reports it as graded by the instructor
only.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from grader.batch.points import test_points
from grader.exercises import Exercise
from grader.grading.hidden import run_hidden_pytest
from grader.release.encoding import Encoder, Unencodable
from grader.release.vector_file import MANIFEST_KEY
from grader.runner.client import CallResult, FunctionProxy, GradientResult
from grader.runner.errors import StudentRaised
from grader.runner.gradients import GradientSpec, gradient_call
from grader.runner.preload import ARGUMENT_MODULES
from grader.runner.tensor_pickle import as_received
from grader.runner.watch import CallWatch

PUBLIC_SEED = 20_240_229
MAX_CALLS_PER_TEST = 200


@dataclass
class _TestRecord:
    calls: list[dict[str, Any]] = field(default_factory=list)
    unencodable: str | None = None


def _plain(value: Any) -> Any:
    """What the real proxy would hand back: detached plain CPU tensors, tuples, numbers.

    Plain: a result computed from a watched input (`grader.testing.flows_06.WatchedTensor`)
    is that tensor subclass here, and a subclass would be stored as an object without its
    values (the kit would then expect shape (0,))."""
    if isinstance(value, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            return value.detach().cpu().clone().as_subclass(torch.Tensor)
    if isinstance(value, tuple | list):
        return type(value)(_plain(v) for v in value)
    return value


class RecordingStudent(FunctionProxy):
    """Looks like `grader.runner.client.StudentModule`, answers with the reference, records."""

    def __init__(self, reference: ModuleType, functions: tuple[str, ...], encoder: Encoder):
        self._reference = reference
        self._functions = functions
        self._encoder = encoder
        self.records: dict[str, _TestRecord] = {}
        self.current = ""
        self.stdout: list[str] = []

    def call_full(
        self,
        function: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        return_inputs: bool = False,
        check_device: bool = False,
        gradients: GradientSpec | None = None,
    ) -> CallResult:
        kwargs = kwargs or {}
        record = self.records.setdefault(self.current, _TestRecord())
        entry: dict[str, Any] = {"function": function, "check_inputs": return_inputs}
        entry["check_device"] = check_device
        try:
            entry["args"] = self._encoder.encode(tuple(args))
            entry["kwargs"] = self._encoder.encode(dict(kwargs))
            if gradients is not None:
                entry["gradients"] = self._encoder.encode(_spec_data(gradients))
        except Unencodable as err:
            record.unencodable = record.unencodable or str(err)
        call_args, call_kwargs = as_received(tuple(args)), as_received(dict(kwargs))
        reference = getattr(self._reference, function)
        watch = CallWatch(call_args, call_kwargs, ARGUMENT_MODULES)
        report: list[dict[str, Any]] | None = None
        try:
            with watch:
                if gradients is None:
                    raw = reference(*call_args, **call_kwargs)
                else:
                    raw, report = gradient_call(reference, call_args, call_kwargs, gradients)
        except Exception as err:
            entry["raises"] = True
            entry["error_type"] = type(err).__name__
            record.calls.append(entry)
            raise StudentRaised(function, f"{type(err).__name__}: {err}") from None
        value = _plain(raw)
        grads = None if report is None else _gradient_results(report)
        try:
            entry["expected"] = self._encoder.encode(value)
            if grads is not None:
                entry["expected_gradients"] = self._encoder.encode(_gradients_data(grads))
        except Unencodable as err:
            record.unencodable = record.unencodable or str(err)
        record.calls.append(entry)
        inputs = [_plain(a) for a in call_args] if return_inputs else None
        return CallResult(value, "", inputs, dict(watch.calls), gradients=grads)

    def close(self) -> None:
        pass


def _spec_data(spec: GradientSpec) -> dict[str, Any]:
    """A gradient spec as plain data (see `spec_from_data`)."""
    return {
        "wrt": [list(path) for path in spec.wrt],
        "params": spec.params,
        "cotangents": [[list(path), tensor] for path, tensor in spec.cotangents],
    }


def spec_from_data(data: dict[str, Any]) -> GradientSpec:
    """The `GradientSpec` that `_spec_data` stored."""
    wrt = tuple((str(kind), key) for kind, key in data["wrt"])
    cotangents = tuple((tuple(int(i) for i in path), tensor) for path, tensor in data["cotangents"])
    return GradientSpec(wrt, cotangents, bool(data["params"]))  # type: ignore[arg-type]


def _gradient_results(report: list[dict[str, Any]]) -> tuple[GradientResult, ...]:
    results = []
    for entry in report:
        wrt = {k: None if g is None else _plain(g) for k, g in entry.get("wrt", {}).items()}
        results.append(GradientResult(entry["output"], entry["state"], wrt))
    return tuple(results)


def _gradients_data(grads: tuple[GradientResult, ...]) -> list[dict[str, Any]]:
    return [{"output": g.output, "state": g.state, "wrt": dict(g.wrt)} for g in grads]


def gradients_from_data(data: list[dict[str, Any]]) -> tuple[GradientResult, ...]:
    """The reference's gradients that `_gradients_data` stored."""
    return tuple(GradientResult(g["output"], g["state"], dict(g["wrt"])) for g in data)


class _CurrentTest:
    """Tells the recorder which hidden test is running."""

    def __init__(self, recorder: RecordingStudent) -> None:
        self.recorder = recorder

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.recorder.current = item.name.removeprefix("test_")
        if item.get_closest_marker("instructor_only"):
            record = self.recorder.records.setdefault(self.recorder.current, _TestRecord())
            record.unencodable = "graded against a threshold, not against recorded values"


def record_vectors(
    exercise: Exercise, seed: int = PUBLIC_SEED
) -> tuple[dict, dict[str, np.ndarray]]:
    """Run the hidden tests against the reference; returns (manifest, arrays)."""
    from grader.testing.plugin import GradingPlugin

    reference = importlib.import_module(f"solutions.{exercise.module_name}")
    encoder = Encoder()
    recorder = RecordingStudent(reference, exercise.functions, encoder)
    plugin = GradingPlugin(exercise, recorder, recorder, torch.device("cpu"), seed)  # type: ignore[arg-type]
    run_hidden_pytest(exercise, [plugin, _CurrentTest(recorder)])
    outcomes = {r.name: r for r in plugin.results}
    points = test_points(exercise)
    tests = []
    for name, result in outcomes.items():
        record = recorder.records.get(name, _TestRecord())
        public = (
            result.status == "passed"
            and record.unencodable is None
            and 0 < len(record.calls) <= MAX_CALLS_PER_TEST
        )
        tests.append(
            {
                "name": name,
                "description": result.description,
                "points": points.get(name.split("[")[0], result.max_score),
                "public": public,
                "calls": record.calls if public else [],
            }
        )
    manifest = {"exercise": exercise.id, "seed": seed, "tests": tests}
    return manifest, encoder.arrays


def write_vectors(exercise: Exercise, out: Path, seed: int = PUBLIC_SEED) -> dict:
    """Record and write `out` (an .npz); returns the manifest."""
    manifest, arrays = record_vectors(exercise, seed)
    blob = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:
        np.savez_compressed(handle, **arrays, **{MANIFEST_KEY: blob})
    return manifest
