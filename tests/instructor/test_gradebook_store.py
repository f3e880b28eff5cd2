"""The gradebook on both backends: migrations, parallel writers, one current row per pair."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from grader import results
from grader.gradebook import Gradebook, GradebookError
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
    for statement in MIGRATIONS[0]:  # schema 1 exactly as it shipped
        db.execute(statement.format(id="INTEGER PRIMARY KEY", int="INTEGER", real="REAL"))
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO students VALUES ('ann', '2025-01-01T00:00:00+00:00')")
    db.execute(
        "INSERT INTO submissions (student, exercise, content_hash, suite_hash, seed, device, "
        "score, max_score, graded_at, duration_s, result_json) "
        "VALUES ('ann', 'exercise-03', 'h', 's', 1, 'cpu', 4, 10, 'now', 0.5, '{}')"
    )
    db.close()
    with Gradebook.open(path) as book:
        version = book.schema_version()
        (row,) = book.current_submissions()
    assert version == SCHEMA_VERSION >= 2
    assert (row.student, row.score, row.submitted_at, row.batch_run) == ("ann", 4, None, None)


def test_both_backends_store_and_read_the_same(gradebook_location):
    with Gradebook.open(gradebook_location) as book:
        assert book.schema_version() == SCHEMA_VERSION
        first = book.record_exercise("ann", _result("exercise-03", 1.0 / 3.0), submitted_at="t0")
        second = book.record_exercise("ann", _result("exercise-03", 2.0, "def"))
        run = book.start_batch_run(11, 2, "subs", 1)
        book.finish_batch_run(run, "finished", 1)
        (current,) = book.current_submissions()
        history = book.submission_history("ann", "exercise-03")
        rows = book.test_rows([first])
        assert book.integrity_problems() == []
    assert second > first and current.id == second and current.score == 3.0
    assert [h.superseded for h in history] == [True, False]
    assert history[0].score == round(1.0 / 3.0 + 1.0, 6)  # double precision (float4: 1.3333330)
    assert [(r.position, r.name, r.status) for r in rows] == [
        (0, "a", "failed"),
        (1, "b", "passed"),
    ]
    with Gradebook.open(gradebook_location, create=False) as again:  # migrating twice is a no-op
        assert again.batch_runs()[0].status == "finished" and again.students() == ["ann"]


def _writer(location: str, worker: int) -> None:
    with Gradebook.open(location) as book:
        for i in range(15):
            book.record_exercise(
                f"s{i % 5}", _result("exercise-03", float(i % 3), f"w{worker}-{i}")
            )
            book.record_exercise(
                f"w{worker}", _result("exercise-01", 2.0), submitted_at="2025-01-01"
            )


def test_parallel_writers_never_corrupt_the_gradebook(gradebook_location):
    context = multiprocessing.get_context("fork")
    # the first opening (and migration) races too: every writer opens a fresh gradebook
    workers = [context.Process(target=_writer, args=(gradebook_location, w)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with Gradebook.open(gradebook_location) as book:
        assert book.integrity_problems() == []
        count = book.backend.execute("SELECT count(*) FROM submissions").fetchone()[0]
        tests = book.backend.execute("SELECT count(*) FROM test_results").fetchone()[0]
        current = book.current_submissions()
    assert (count, tests) == (4 * 30, 4 * 30 * 2)
    pairs = [(s.student, s.exercise) for s in current]
    assert len(pairs) == len(set(pairs)) == 5 + 4  # one current row per (student, exercise)


def test_database_refuses_a_second_current_row(gradebook_location):
    with Gradebook.open(gradebook_location) as book:
        book.record_exercise("ann", _result("exercise-03", 2.0))
        with pytest.raises(book.backend.integrity_error):
            book.backend.execute(
                "INSERT INTO submissions (student, exercise, content_hash, suite_hash, seed, "
                "device, score, max_score, graded_at, duration_s, result_json) "
                "VALUES ('ann', 'exercise-03', 'h', 's', 1, 'cpu', 4, 10, 'now', 0.5, '{}')"
            )


def test_unreachable_server_is_a_one_line_error(tmp_path):
    pytest.importorskip("psycopg")
    url = f"postgresql://grader:secret@/nowhere?host={tmp_path}"
    with pytest.raises(GradebookError) as error:
        Gradebook.open(url)
    message = str(error.value)
    assert "cannot connect" in message and "secret" not in message and "\n" not in message


def test_hint_steps_are_stored_once_each_on_both_backends(gradebook_location):
    """`grade hint`'s table (schema version 3): steps numbered per function, none past the
    last one, counted per (student, exercise) for reports."""
    with Gradebook.open(gradebook_location) as book:
        steps = [book.record_hint("ann", "exercise-03", "soft_clamp", 2) for _ in range(3)]
        book.record_hint("ann", "exercise-03", "affine_coupling_forward", 3)
        book.record_hint("bob", "exercise-01", "affine_flow_log_prob", 3)
        shown = book.hints_shown("ann")
        counts = book.hint_counts()
    assert steps == [1, 2, None]
    assert [(h.function, h.step) for h in shown] == [
        ("soft_clamp", 1),
        ("soft_clamp", 2),
        ("affine_coupling_forward", 1),
    ]
    assert counts == {("ann", "exercise-03"): 3, ("bob", "exercise-01"): 1}
