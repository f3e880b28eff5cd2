"""Fixtures shared by the project's tests: graded mutants of the exercises
(tests/test_exercise_0*.py) and gradebooks on both backends (SQLite, a real PostgreSQL
server started here)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.grading import grade_exercise
from grader.results import ExerciseResult
from tests.exercise_grading import GradeMutant
from tests.postgres_server import GRADEBOOK_KINDS, PostgresServer, find_binaries, new_gradebook
from tests.wrong.mutants import materialize


@pytest.fixture(scope="session")
def graded_mutant(tmp_path_factory: pytest.TempPathFactory) -> GradeMutant:
    """graded_mutant(exercise_id, name) -> ExerciseResult, graded once per session.

    Each mutant is written into its own pytest temporary folder and graded with seed 0;
    later calls for the same mutant get the same result without grading again.
    """
    results: dict[tuple[str, str], ExerciseResult] = {}

    def grade(exercise_id: str, name: str) -> ExerciseResult:
        if (exercise_id, name) not in results:
            folder = materialize(exercise_id, name, tmp_path_factory.mktemp(name))
            results[exercise_id, name] = grade_exercise(exercise_id, folder, seed=0)
        return results[exercise_id, name]

    return grade


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (see `tests/postgres_server.py`)."""
    bindir = find_binaries()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries here (/usr/lib/postgresql/*/bin or pg_config)")
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    server = PostgresServer.start(bindir)
    yield server
    server.stop()


@pytest.fixture(params=GRADEBOOK_KINDS)
def gradebook_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh gradebook, once as an SQLite file and once as a PostgreSQL database."""
    return new_gradebook(request, request.param, tmp_path)
