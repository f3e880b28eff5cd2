"""Recording public test vectors at release time: the hidden tests, run against the reference.

For every hidden test of an exercise, the test runs (in this trusted process) with a
`RecordingStudent` in place of the student: each call `student.f(*args)` is answered by
the reference solution and recorded as (function, inputs, expected output). The result
is one `.npz` per exercise (see `grader.release.encoding`) holding, per test, its name,
description, points and recorded calls; a kit replays them against the student's code
(`grader.grading.public`). Inputs are drawn from a fixed public seed, never from the
fresh seeds of graded runs, and neither test source nor reference code is stored.

A test whose calls cannot all be stored as plain data, or that does not pass against the
reference, gets no public vectors: the kit reports it as graded by the instructor only.
"""

from __future__ import annotations

import copy
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
from grader.runner.client import CallResult, FunctionProxy
from grader.runner.errors import StudentRaised

PUBLIC_SEED = 20_240_229
MAX_CALLS_PER_TEST = 200


@dataclass
class _TestRecord:
    calls: list[dict[str, Any]] = field(default_factory=list)
    unencodable: str | None = None


def _plain(value: Any) -> Any:
    """What the real proxy would hand back: detached CPU tensors, tuples, numbers."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, tuple | list):
        return type(value)(_plain(v) for v in value)
    return value


def _sent(value: Any) -> Any:
    """What the worker would receive: detached tensor copies and copied modules."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, torch.nn.Module):
        return copy.deepcopy(value)
    if isinstance(value, tuple | list):
        return type(value)(_sent(v) for v in value)
    if isinstance(value, dict):
        return {k: _sent(v) for k, v in value.items()}
    return copy.deepcopy(value)


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
    ) -> CallResult:
        kwargs = kwargs or {}
        record = self.records.setdefault(self.current, _TestRecord())
        entry: dict[str, Any] = {"function": function, "check_inputs": return_inputs}
        try:
            entry["args"] = self._encoder.encode(tuple(args))
            entry["kwargs"] = self._encoder.encode(dict(kwargs))
        except Unencodable as err:
            record.unencodable = record.unencodable or str(err)
        call_args, call_kwargs = _sent(tuple(args)), _sent(dict(kwargs))
        try:
            value = _plain(getattr(self._reference, function)(*call_args, **call_kwargs))
        except Exception as err:
            entry["raises"] = True
            entry["error_type"] = type(err).__name__
            record.calls.append(entry)
            raise StudentRaised(function, f"{type(err).__name__}: {err}") from None
        try:
            entry["expected"] = self._encoder.encode(value)
        except Unencodable as err:
            record.unencodable = record.unencodable or str(err)
        record.calls.append(entry)
        inputs = [_plain(a) for a in call_args] if return_inputs else None
        return CallResult(value, "", inputs)

    def close(self) -> None:
        pass


class _CurrentTest:
    """Tells the recorder which hidden test is running."""

    def __init__(self, recorder: RecordingStudent) -> None:
        self.recorder = recorder

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.recorder.current = item.name.removeprefix("test_")


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
