"""Run an exercise's hidden tests without a pytest session: same outcomes, a fraction of the cost.

A pytest run costs ~50-100 ms of configuration, plugin registration and collection before
the first test starts, for every (submission, exercise). The hidden tests only use what
`grader.testing.plugin.GradingPlugin` gives them: plain module-level `test_*` functions,
the fixtures `student`, `student_cpu`, `reference`, `device`, `rng` and a
`@pytest.mark.points(n)` mark (and `instructor_only`, which only release recording reads).
For such a file this module does what pytest would:

- collect the `test*` functions in the order the module defines them;
- call each with its fixtures: the session ones (built once per run, an exception in
  building one is re-raised for every test that asks for it, as pytest does) and `rng`,
  a fresh generator seeded from `per_test_seed(seed, "<file>::<test>")`, pytest's node id;
- turn what each test raised into a `TestResult` with `plugin.outcome`, the function the
  pytest plugin uses (a KeyboardInterrupt still stops the run).

`collect` returns None for a file that uses anything else (classes, other marks, module
fixtures or setup functions, default arguments, generators...): the caller then runs
pytest. The module is imported and collected once per process and kept, as pytest keeps
it too.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from grader.exercises import Exercise
from grader.results import TestResult
from grader.testing.plugin import outcome, per_test_seed

SESSION_FIXTURES = ("student", "student_cpu", "reference", "device")
FIXTURES = (*SESSION_FIXTURES, "rng")
GRADING_MARKS = ("points", "instructor_only")  # instructor_only: see grader.release.vectors
# Module-level names pytest would run around the tests (xunit-style setup and teardown).
XUNIT_NAMES = (
    "setup_module", "teardown_module", "setUpModule", "tearDownModule", "setup_function",
    "teardown_function", "setup", "teardown",
)  # fmt: skip


@dataclass(frozen=True)
class HiddenTest:
    """One collected test function: what pytest would call it and what it is worth."""

    name: str
    nodeid: str
    function: Callable[..., Any]
    fixtures: tuple[str, ...]
    points: float
    doc: str


def collect(exercise: Exercise) -> tuple[HiddenTest, ...] | None:
    """The hidden tests of `exercise` in pytest's order, or None when this runner cannot
    promise pytest's behaviour for that file."""
    path = exercise.hidden_test_file
    try:
        with warnings.catch_warnings():  # `points` is registered only inside a grading run
            warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
            module = importlib.import_module(f"grader.hidden.{path.stem}")
    except ImportError:
        return None
    return _collect_imported(module, path)


@functools.cache
def _collect_imported(module: ModuleType, path: Path) -> tuple[HiddenTest, ...] | None:
    """Once per imported module: a batch worker grades hundreds of submissions with it."""
    if not _same_file(module, path):
        return None
    return collect_module(module, path.name)


def collect_module(module: ModuleType, filename: str) -> tuple[HiddenTest, ...] | None:
    """The tests of an imported hidden test `module` (file `filename`), or None (see
    `collect`)."""
    if _module_level_machinery(module):
        return None
    tests: list[HiddenTest] = []
    for name, value in list(vars(module).items()):
        if name.startswith("Test") and inspect.isclass(value):
            return None
        if not name.startswith("test"):
            continue
        test = _hidden_test(filename, name, value)
        if test is None:
            return None
        tests.append(test)
    return tuple(tests) or None


def run(
    tests: tuple[HiddenTest, ...], fixtures: dict[str, Any], seed: int
) -> tuple[TestResult, ...]:
    """Run `tests` in order. `fixtures` maps each session fixture name to a zero-argument
    function building it (called at most once, when a test first asks for it)."""
    session = _SessionFixtures(fixtures)
    results = []
    for test in tests:
        try:
            kwargs = {name: session.get(name, test.nodeid, seed) for name in test.fixtures}
        except (KeyboardInterrupt, pytest.exit.Exception):
            raise
        except BaseException as err:  # a setup error, reported like pytest's
            results.append(outcome(test.name, test.doc, test.points, err))
            continue
        error: BaseException | None = None
        try:
            test.function(**kwargs)
        except (KeyboardInterrupt, pytest.exit.Exception):
            raise
        except BaseException as err:
            error = err
        results.append(outcome(test.name, test.doc, test.points, error))
    return tuple(results)


class _SessionFixtures:
    def __init__(self, factories: dict[str, Callable[[], Any]]) -> None:
        self._factories = factories
        self._values: dict[str, Any] = {}
        self._errors: dict[str, BaseException] = {}

    def get(self, name: str, nodeid: str, seed: int) -> Any:
        if name == "rng":
            return torch.Generator().manual_seed(per_test_seed(seed, nodeid))
        if name in self._errors:
            raise self._errors[name]
        if name not in self._values:
            try:
                self._values[name] = self._factories[name]()
            except (KeyboardInterrupt, pytest.exit.Exception):
                raise
            except BaseException as err:
                self._errors[name] = err
                raise
        return self._values[name]


def _same_file(module: ModuleType, path: Path) -> bool:
    filename = getattr(module, "__file__", None)
    return filename is not None and Path(filename).resolve() == path.resolve()


def _module_level_machinery(module: ModuleType) -> bool:
    """Whether the module has marks, fixtures or setup functions of its own."""
    if hasattr(module, "pytestmark") or any(hasattr(module, n) for n in XUNIT_NAMES):
        return True
    definition = getattr(pytest, "FixtureFunctionDefinition", None)
    for value in vars(module).values():
        if getattr(value, "__test__", None) is True:  # collected whatever its name
            return True
        if definition is not None and isinstance(value, definition):
            return True
        if hasattr(value, "_pytestfixturefunction") or hasattr(value, "_fixture_function"):
            return True
    return False


def _hidden_test(filename: str, name: str, value: Any) -> HiddenTest | None:
    """A `HiddenTest` for the module attribute `name`, or None if pytest would treat it in
    any way this runner does not (not a plain function, unknown fixture, other marks)."""
    if not inspect.isfunction(value) or hasattr(value, "__test__"):
        return None
    if inspect.isgeneratorfunction(value) or inspect.iscoroutinefunction(value):
        return None
    fixtures = []
    for parameter in inspect.signature(value).parameters.values():
        plain = parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        if not plain or parameter.default is not inspect.Parameter.empty:
            return None
        if parameter.name not in FIXTURES:
            return None
        fixtures.append(parameter.name)
    marks = getattr(value, "pytestmark", [])
    points_marks = [m for m in marks if m.name == "points"]
    if len(points_marks) != 1 or len(points_marks[0].args) != 1:
        return None
    if any(m.name not in GRADING_MARKS for m in marks):
        return None
    doc = (value.__doc__ or name).strip().splitlines()[0]
    points = float(points_marks[0].args[0])
    return HiddenTest(name, f"{filename}::{name}", value, tuple(fixtures), points, doc)
