"""Shared fixtures: one generated class of 20 students, graded once per gradebook backend
(an SQLite file and a database on the session's PostgreSQL server)."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classgen import make_class

from grader.batch.runner import BatchSummary, run_batch
from tests.postgres_server import GRADEBOOK_KINDS, new_gradebook

TIMEOUT_S = 1.0


@dataclass
class GradedClass:
    root: Path
    gradebook: str  # an SQLite file's path or a postgresql:// URL
    kind: str
    roster: dict[str, str]
    summary: BatchSummary
    log: str


@pytest.fixture(scope="session", params=GRADEBOOK_KINDS)
def graded_class(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> GradedClass:
    """20 students (correct, partly wrong, empty, stub, syntax error, import error,
    crashing, hanging) graded by `run_batch` with 2 workers, into each backend."""
    root = tmp_path_factory.mktemp("class") / "submissions"
    roster = make_class(root)
    # two students handed in late (see course.toml in test_reports): 30 h and 5 days
    (root / "timestamps.csv").write_text(
        "student,exercise,submitted_at\n"
        "s01_correct,exercise-03,2025-03-15T05:59:00+00:00\n"
        "s02_correct,exercise-03,2025-03-19T23:00:00+00:00\n"
        "s03_correct,,2025-03-14T20:00:00+00:00\n",
        encoding="utf-8",
    )
    gradebook = new_gradebook(request, request.param, root.parent)
    log = io.StringIO()
    summary = run_batch(
        root,
        gradebook,
        jobs=2,
        call_timeout=TIMEOUT_S,
        exercises=["exercise-03"],
        stream=log,
    )
    return GradedClass(root, gradebook, request.param, roster, summary, log.getvalue())
