"""`grade batch` on a generated class of 20 students, end to end."""

from __future__ import annotations

import csv
import io
import shutil

from classgen import EXERCISE, make_class, write_student
from click.testing import CliRunner
from conftest import TIMEOUT_S, GradedClass

from grader.batch.runner import run_batch
from grader.exercises import PROJECT_ROOT, get_exercise
from grader.gradebook import Gradebook
from grader.instructor_cli import report
from tests.wrong.mutants import materialize


def _current(graded: GradedClass) -> dict[str, object]:
    with Gradebook.open(graded.gradebook, create=False) as book:
        return {s.student: s for s in book.current_submissions()}


def test_every_student_is_graded_once_with_the_expected_outcome(graded_class):
    current = _current(graded_class)
    assert set(current) == set(graded_class.roster)
    assert graded_class.summary.graded == 20 and graded_class.summary.grader_errors == []
    with Gradebook.open(graded_class.gradebook, create=False) as book:
        reasons = {s: " ".join(t.message for t in book.test_rows([current[s].id])) for s in current}
    for student, kind in graded_class.roster.items():
        row = current[student]
        assert row.max_score == 10, student
        if kind == "correct":
            assert row.score == 10, (student, reasons[student])
        elif kind in ("wrong_sign", "hard_clamp"):
            assert 0 < row.score < 10, student
        elif kind in ("empty", "stub", "syntax_error", "import_error"):
            assert row.score == 0, student
        else:  # crashing, hanging: the parts that do not crash or hang still earn points
            assert row.score < 10, student
    assert "syntax error" in reasons["s15_syntax_error"] and "line" in reasons["s15_syntax_error"]
    assert "missing from the submission" in reasons["s11_empty"]
    assert "numpy_that_does_not_exist" in reasons["s17_import_error"]
    assert "not implemented yet" in reasons["s13_stub"]
    assert "process running your code ended" in reasons["s18_crashing"]
    assert f"ran for more than {TIMEOUT_S:g} s" in reasons["s20_hanging"]


def test_seed_and_suite_are_recorded_with_every_score(graded_class):
    current = _current(graded_class)
    with Gradebook.open(graded_class.gradebook, create=False) as book:
        runs = book.batch_runs()
    assert len(runs) == 1 and runs[0].status == "finished" and runs[0].graded == 20
    assert {row.seed for row in current.values()} == {runs[0].seed}
    assert {row.batch_run for row in current.values()} == {runs[0].id}
    assert len({row.suite_hash for row in current.values()}) == 1
    # submission times: from timestamps.csv when listed, else the file's mtime
    assert current["s01_correct"].submitted_at == "2025-03-15T05:59:00+00:00"
    assert current["s03_correct"].submitted_at == "2025-03-14T20:00:00+00:00"
    assert current["s04_correct"].submitted_at is not None


def test_progress_is_reported_with_an_eta(graded_class):
    lines = graded_class.log.splitlines()
    assert lines[0].startswith("grading 20 submission(s) of 20 student(s)")
    # before any result: one line naming the sandbox layers and the limits in force
    assert lines[1] == graded_class.summary.layers
    assert lines[1].startswith("sandbox ") and ": process split (JSON replies" in lines[1]
    assert f"wall time (call {TIMEOUT_S:g} s, submission 60 s)" in lines[1]
    assert "rlimits (cpu 60 s, memory 4 GiB" in lines[1]
    assert sum(line.startswith("sandbox ") for line in lines) == 1
    assert any("20/20" in line and "ETA" in line for line in lines)


def test_rerun_grades_only_what_changed_and_regrade_keeps_history(tmp_path):
    root = tmp_path / "subs"
    make_class(root, ["correct", "wrong_sign", "empty"])
    book = tmp_path / "gb.sqlite"
    # workers retire after 2 tasks, so fresh workers take over mid-run
    quiet = {
        "jobs": 1,
        "call_timeout": TIMEOUT_S,
        "exercises": ["exercise-03"],
        "tasks_per_worker": 2,
    }
    first = run_batch(root, book, stream=io.StringIO(), **quiet)
    again = run_batch(root, book, stream=io.StringIO(), **quiet)
    assert (first.planned, again.planned, again.up_to_date) == (3, 0, 3)
    assert first.seed != again.seed  # every run draws fresh inputs

    shutil.rmtree(root / "s02_wrong_sign")
    write_student(root, "s02_wrong_sign", "correct")  # the student fixed their file
    (root / "s03_empty" / EXERCISE.filename).write_text("x = 1\n")
    changed = run_batch(root, book, stream=io.StringIO(), **quiet)
    assert changed.planned == 2
    regraded = run_batch(root, book, regrade=True, stream=io.StringIO(), **quiet)
    assert regraded.planned == 3
    with Gradebook.open(book, create=False) as gradebook:
        current = {s.student: s for s in gradebook.current_submissions()}
        history = gradebook.submission_history("s02_wrong_sign", "exercise-03")
    assert current["s02_wrong_sign"].score == 10
    assert [h.superseded for h in history] == [True, True, False]
    assert history[0].score < 10 and len({h.content_hash for h in history}) == 2


def test_batch_cli_errors_and_quiz_attempt_hook(tmp_path):
    from click.testing import CliRunner

    from grader.instructor_cli import batch

    runner = CliRunner()
    missing = runner.invoke(batch, [str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "not a folder of student submissions" in missing.output
    root = tmp_path / "subs"
    make_class(root, ["stub"])
    unknown = runner.invoke(batch, [str(root), "--exercise", "exercise-99"])
    assert unknown.exit_code == 1 and "valid ids" in unknown.output
    assert "Traceback" not in unknown.output + missing.output
    (root / "s01_stub" / "quiz-01.attempt.json").write_text("{}")
    course = tmp_path / "course.toml"
    course.write_text(
        "[limits]\ncall_seconds = 7\nsubmission_seconds = 9\ncpu_seconds = 30\n"
        '[sandbox]\nmode = "basic"\n'
    )
    result = runner.invoke(
        batch,
        [str(root), "--gradebook", str(tmp_path / "gb.sqlite"), "--jobs", "1",
         "--exercise", "03", "--timeout", str(TIMEOUT_S), "--course", str(course)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 graded" in result.output
    assert "quiz attempt not scored: s01_stub:" in result.output
    # the course's limits and mode reach the worker's zygote; --timeout replaces call_seconds
    (header,) = [line for line in result.output.splitlines() if line.startswith("sandbox ")]
    assert header.startswith("sandbox basic: process split")
    assert f"wall time (call {TIMEOUT_S:g} s, submission 9 s)" in header
    assert "rlimits (cpu 30 s," in header


def test_batch_cli_course_errors_are_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from grader.instructor_cli import batch
    from grader.runner import sandbox

    root = tmp_path / "subs"
    make_class(root, ["stub"])
    course = tmp_path / "course.toml"
    book = tmp_path / "gb.sqlite"
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    for text, message in (
        ("[limits]\nwall_seconds = 3\n", "[limits] unknown limit 'wall_seconds'"),
        ('[sandbox]\nmode = "docker"\n', "valid modes: auto, bwrap, unshare, basic"),
        ('[sandbox]\nmode = "bwrap"\n', "[sandbox] mode = 'bwrap': sandbox mode bwrap was"),
    ):
        course.write_text(text)
        result = CliRunner().invoke(
            batch, [str(root), "--gradebook", str(book), "--course", str(course)]
        )
        assert result.exit_code == 1, result.output
        assert result.output.count("\n") == 1 and message in result.output, result.output
        assert f"Error: {course}: [" in result.output  # names the file and the key
        assert "Traceback" not in result.output
    assert not book.exists()  # nothing was started or stored


def test_batch_scores_handed_in_quiz_attempts(tmp_path):
    from click.testing import CliRunner

    from grader.gradebook import Gradebook
    from grader.instructor_cli import batch
    from grader.quiz.cli import quiz

    root = tmp_path / "subs"
    make_class(root, ["stub"])
    attempt = root / "s01_stub" / "checkpoint.attempt.json"
    taken = CliRunner().invoke(
        quiz,
        ["take", "checkpoint", "--student", "someone", "--gradebook", str(tmp_path / "own.sqlite"),
         "--save-file", str(attempt)],
        input="A\n" * 30,
    )  # fmt: skip
    assert attempt.is_file(), taken.output
    book = tmp_path / "gb.sqlite"
    args = [str(root), "--gradebook", str(book), "--jobs", "1", "--exercise", "03"]
    result = CliRunner().invoke(batch, [*args, "--timeout", str(TIMEOUT_S)])
    assert result.exit_code == 0, result.output
    with Gradebook.open(book) as gradebook:
        (stored,) = gradebook.quiz_attempts(quiz="checkpoint")
    assert stored.student == "s01_stub" and stored.state == "finished"
    assert stored.score is not None and 0 <= stored.score <= stored.max_score


def test_planar_multiscale_and_training_exercises_are_batch_graded_and_reported(tmp_path):
    """Exercises 06, 07 and 09 go through `grade batch` and `grade report` like the others
    (exercise-09's training call keeps its own 30 s limit under a 5 s call timeout)."""
    root = tmp_path / "subs"
    exercises = ("exercise-06", "exercise-07", "exercise-09")
    for exercise in exercises:
        filename = get_exercise(exercise).filename
        (root / "ann").mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "solutions" / filename, root / "ann" / filename)
    materialize("exercise-06", "u_hat_norm_not_squared", root / "ben")
    materialize("exercise-07", "bits_without_eight", root / "ben")
    materialize("exercise-09", "q0_without_log_sigma", root / "ben")
    book = tmp_path / "gb.sqlite"
    summary = run_batch(
        root, book, jobs=2, call_timeout=5.0, exercises=list(exercises), stream=io.StringIO()
    )
    assert summary.graded == 6 and summary.grader_errors == []
    with Gradebook.open(book, create=False) as gradebook:
        scores = {(s.student, s.exercise): s.score for s in gradebook.current_submissions()}
    assert all(scores[("ann", exercise)] == 10 for exercise in exercises)
    # bits per dimension without the +8 loses bits_per_dim and structure (needs values)
    assert 0 < scores[("ben", "exercise-06")] < 10 and scores[("ben", "exercise-07")] == 8
    assert scores[("ben", "exercise-09")] == 6
    result = CliRunner().invoke(report, ["--format", "csv", "--gradebook", str(book)])
    assert result.exit_code == 0, result.output
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert all(float(rows["ann"][exercise]) == 10 for exercise in exercises)
    assert float(rows["ben"]["exercise-07"]) == 8 and float(rows["ben"]["exercise-09"]) == 6


def test_maf_iaf_exercise_is_batch_graded_and_reported(tmp_path):
    """Exercise-08 goes through `grade batch` and `grade report` like the others: the call
    counts its hidden tests read come back through the batch's workers too."""
    filename = get_exercise("exercise-08").filename
    root = tmp_path / "subs"
    for student, folder in (("ann", "solutions"), ("cat", "exercises")):
        (root / student).mkdir(parents=True)
        shutil.copy(PROJECT_ROOT / folder / filename, root / student / filename)
    materialize("exercise-08", "maf_density_loop", root / "ben")
    book = tmp_path / "gb.sqlite"
    summary = run_batch(
        root, book, jobs=2, call_timeout=5.0, exercises=["exercise-08"], stream=io.StringIO()
    )
    assert summary.graded == 3 and summary.grader_errors == []
    result = CliRunner().invoke(report, ["--format", "csv", "--gradebook", str(book)])
    assert result.exit_code == 0, result.output
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    scores = {student: float(rows[student]["exercise-08"]) for student in ("ann", "ben", "cat")}
    assert scores == {"ann": 10.0, "ben": 9.0, "cat": 0.0}


def test_the_parent_stores_each_task_once_whatever_an_executor_reports(tmp_path):
    """The recorder behind every executor: a result reported twice (a rescheduled task)
    or after a zero for the same task is not stored again."""
    from grader.batch import runner
    from grader.batch.executor import Graded, Lost, WorkerStarted
    from grader.batch.plan import Task
    from grader.gradebook import Gradebook
    from grader.results import ExerciseResult, TestResult

    task = Task("ann", "exercise-03", str(tmp_path), "hash", None)
    other = Task("bob", "exercise-03", str(tmp_path), "hash", None)
    result = ExerciseResult("exercise-03", "t", (TestResult("a", "d", 1.0, 1.0, "passed"),),
                            3, "cpu", "suite", "hash", 0.1)  # fmt: skip

    class Twice:  # a stand-in for an executor that reports duplicates
        def run(self, tasks):
            yield WorkerStarted("sandbox basic: ...")
            yield Graded(task, result)
            yield Graded(task, result)
            yield Lost(other, "the grading process died")
            yield Graded(other, result)

    with Gradebook.open(tmp_path / "gb.sqlite") as book:
        run_id = book.start_batch_run(3, 1, "subs", 2)
        summary = runner.BatchSummary(run_id, 3, 2, ["exercise-03"], 2, 0)
        runner._grade(book, Twice(), [task, other], summary, "cpu", io.StringIO())
        rows = book.backend.execute("SELECT student, score FROM submissions").fetchall()
    assert sorted(rows) == [("ann", 1.0), ("bob", 0.0)]
    assert (summary.graded, summary.lost, summary.layers) == (2, 1, "sandbox basic: ...")
