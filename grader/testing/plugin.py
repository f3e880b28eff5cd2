"""The pytest plugin that runs one exercise's hidden tests against one submission.

It provides the fixtures hidden tests use and turns every test outcome into a
`grader.results.TestResult`. Only `CheckFailed` and `StudentError` messages reach the
student; any other exception is reported as an internal grader error, never as test code.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import torch

from grader.exercises import Exercise
from grader.results import Feedback, TestResult
from grader.runner.client import StudentModule
from grader.runner.errors import StudentError
from grader.testing.checks import CheckFailed


def per_test_seed(seed: int, nodeid: str) -> int:
    """A per-test seed derived from the run's seed and the test's name."""
    digest = hashlib.sha256(f"{seed}:{nodeid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def outcome(test_name: str, doc: str, points: float, error: BaseException | None) -> TestResult:
    """The `TestResult` of one hidden test that raised `error` (None: it passed)."""
    name = test_name.removeprefix("test_")
    if error is None:
        return TestResult(name, doc, points, points, "passed")
    if isinstance(error, CheckFailed):
        return TestResult(name, doc, 0.0, points, "failed", error.feedback)
    if isinstance(error, StudentError):
        return TestResult(name, doc, 0.0, points, "failed", error.feedback())
    feedback = Feedback(
        checked=doc,
        differs=f"the grader hit an internal error ({type(error).__name__})",
        hint="this is not your fault; please tell your instructor",
    )
    return TestResult(name, doc, 0.0, points, "error", feedback)


class GradingPlugin:
    """Fixtures and result collection for one grading run."""

    def __init__(
        self,
        exercise: Exercise,
        student: StudentModule,
        student_cpu: StudentModule,
        device: torch.device,
        seed: int,
    ) -> None:
        self.exercise = exercise
        self._student = student
        self._student_cpu = student_cpu
        self._device = device
        self._seed = seed
        self.results: list[TestResult] = []

    # ----------------------------------------------------------------- fixtures

    @pytest.fixture(scope="session")
    def student(self) -> StudentModule:
        """The submission, as a proxy: every call runs in an isolated worker."""
        return self._student

    @pytest.fixture(scope="session")
    def student_cpu(self) -> StudentModule:
        """The submission on the CPU, whatever the grading device (for cost checks)."""
        return self._student_cpu

    @pytest.fixture(scope="session")
    def reference(self) -> ModuleType:
        """The reference solution module (trusted)."""
        return importlib.import_module(f"solutions.{self.exercise.module_name}")

    @pytest.fixture(scope="session")
    def device(self) -> torch.device:
        return self._device

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> torch.Generator:
        """A CPU generator seeded from the run's seed and this test's id."""
        return torch.Generator().manual_seed(per_test_seed(self._seed, request.node.nodeid))

    # ----------------------------------------------------------------- hooks

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
        yield
        if call.when == "call" or (call.when == "setup" and call.excinfo is not None):
            self.results.append(self._result(item, call))

    def _result(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> TestResult:
        marker = item.get_closest_marker("points")
        points = float(marker.args[0]) if marker and marker.args else 1.0
        function = getattr(item, "function", None)
        doc = (getattr(function, "__doc__", None) or item.name).strip().splitlines()[0]
        error = None if call.excinfo is None else call.excinfo.value
        return outcome(item.name, doc, points, error)

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): how many points the test is worth")
        config.addinivalue_line(
            "markers",
            "instructor_only: graded against a threshold, not recorded values; no public check",
        )
