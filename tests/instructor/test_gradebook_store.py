"""The gradebook: migration from schema 1, parallel writers, one current row per pair."""

from __future__ import annotations

import multiprocessing
import sqlite3

from grader import results
from grader.gradebook import Gradebook
from grader.gradebook.schema import MIGRATIONS, SCHEMA_VERSION


def _result(exercise: str, score: float, content: str = "abc") -> results.ExerciseResult:
    tests = (
        results.TestResult("a", "first", score, 2.0, "passed" if score == 2 else "failed"),
        results.TestResult("b", "second", 1.0, 1.0, "passed"),
    )
    return results.ExerciseResult(exercise, "t", tests, 7, "cpu", "suite", content, 0.1)


def test_version_1_gradebook_is_migrated_with_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO students VALUES ('ann', '2025-01-01T00:00:00+00:00')")
    db.execute(
        "INSERT INTO submissions (student, exercise, content_hash, suite_hash, seed, device, "
        "score, max_score, graded_at, duration_s, result_json) "
        "VALUES ('ann', 'exercise-03', 'h', 's', 1, 'cpu', 4, 10, 'now', 0.5, '{}')"
    )
    db.close()
    with Gradebook.open(path) as book:
        version = book.connection.execute("PRAGMA user_version").fetchone()[0]
        (row,) = book.current_submissions()
    assert version == SCHEMA_VERSION >= 2
    assert (row.student, row.score, row.submitted_at, row.batch_run) == ("ann", 4, None, None)


def _writer(path: str, worker: int) -> None:
    with Gradebook.open(path) as book:
        for i in range(15):
            book.record_exercise(
                f"s{i % 5}", _result("exercise-03", float(i % 3), f"w{worker}-{i}")
            )
            book.record_exercise(
                f"w{worker}", _result("exercise-01", 2.0), submitted_at="2025-01-01"
            )


def test_parallel_writers_never_corrupt_the_gradebook(tmp_path):
    path = tmp_path / "gb.sqlite"
    Gradebook.open(path).close()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(path), w)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with Gradebook.open(path) as book:
        db = book.connection
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 4 * 30
        assert db.execute("SELECT count(*) FROM test_results").fetchone()[0] == 4 * 30 * 2
        current = book.current_submissions()
    pairs = [(s.student, s.exercise) for s in current]
    assert len(pairs) == len(set(pairs)) == 5 + 4  # one current row per (student, exercise)


def test_database_refuses_a_second_current_row(tmp_path):
    with Gradebook.open(tmp_path / "gb.sqlite") as book:
        book.record_exercise("ann", _result("exercise-03", 2.0))
        try:
            book.connection.execute(
                "INSERT INTO submissions (student, exercise, content_hash, suite_hash, seed, "
                "device, score, max_score, graded_at, duration_s, result_json) "
                "VALUES ('ann', 'exercise-03', 'h', 's', 1, 'cpu', 4, 10, 'now', 0.5, '{}')"
            )
        except sqlite3.IntegrityError:
            return
    raise AssertionError("a duplicate current row was accepted")
