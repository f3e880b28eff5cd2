"""`grade batch`: grade every exercise of every student of a class, in parallel, resumably.

    summary = run_batch(Path("submissions"), Path("course/.flowgrade/gradebook.sqlite"), jobs=4)

One run: discover the class, plan what is new or changed, draw one fresh seed for the
run (so no submission can be tuned to fixed inputs; the seed is stored with every score
and in `batch_runs`), grade in `jobs` long-lived worker processes, store each result in
its own transaction. Interrupted (Ctrl-C, SIGTERM, a kill) and started again, it grades
only what is still missing; `regrade=True` grades everything again and keeps history.

Every submission is bounded by the course's `Limits` (`call_timeout`, when given,
replaces `call_seconds`) and graded in the course's sandbox mode. The sandbox is checked
before anything is stored (a mode the machine cannot provide stops the run with
`SandboxUnavailable`), and before the first submission is graded the log gets one line
naming the active layers and limits, as the first worker's zygote confirmed them:

    sandbox bwrap: process split (JSON replies, no pickle); wall time (call 10 s, ...
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from grader.batch import quiz_hook
from grader.batch.discovery import find_quiz_attempt_files, find_students, load_timestamps
from grader.batch.plan import Task, gradable_exercises, make_plan
from grader.batch.points import max_points
from grader.batch.pool import Pool, PoolCallbacks
from grader.batch.progress import Progress, clock
from grader.batch.worker import WorkerConfig
from grader.exercises import get_exercise, suite_hash
from grader.gradebook import Gradebook
from grader.results import ExerciseResult, Feedback, TestResult
from grader.runner import sandbox
from grader.runner.limits import Limits

TASKS_PER_WORKER = 1000  # memory stays flat (measured); a restart costs a torch import
TASK_SLACK_S = 60.0  # trusted work per exercise (pytest, oracles) on top of the student's time


class BatchError(ValueError):
    """The batch cannot start (one-line message)."""


class BatchInterrupted(KeyboardInterrupt):
    """The run was stopped; what was stored stays, a rerun resumes."""

    def __init__(self, graded: int, planned: int) -> None:
        super().__init__(f"interrupted after {graded} of {planned} submissions")
        self.graded = graded
        self.planned = planned


@dataclass
class BatchSummary:
    """What one run did."""

    run_id: int
    seed: int
    students: int
    exercises: list[str]
    planned: int
    up_to_date: int
    graded: int = 0
    lost: int = 0
    grader_errors: list[str] = field(default_factory=list)
    quiz_attempts: int = 0
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    layers: str = ""  # the header line: active sandbox layers and limits ("" if none ran)


def default_jobs() -> int:
    """One worker per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def run_batch(
    submissions_dir: Path,
    gradebook_path: Path,
    *,
    jobs: int | None = None,
    call_timeout: float | None = None,
    limits: Limits | None = None,
    sandbox_mode: str | None = None,
    regrade: bool = False,
    exercises: list[str] | None = None,
    seed: int | None = None,
    device: str = "cpu",
    task_limit_s: float | None = None,
    tasks_per_worker: int = TASKS_PER_WORKER,
    stream: TextIO | None = None,
) -> BatchSummary:
    """Grade the class in `submissions_dir` into the gradebook at `gradebook_path`.

    A worker exits after `tasks_per_worker` tasks and a fresh one takes its place, which
    keeps memory flat. `limits` (default `Limits()`) bound each submission, `call_timeout`
    overrides their `call_seconds`; `sandbox_mode` is one of `sandbox.MODES` (None:
    $FLOWGRADE_SANDBOX, else auto) and raises `SandboxUnavailable` here, before anything
    is stored, when this machine cannot provide it. `task_limit_s` bounds the whole
    grading of one exercise (default: the submission's time twice over plus a minute).
    """
    started = time.monotonic()
    stream = stream or sys.stderr
    limits = limits or Limits()
    if call_timeout is not None:
        limits = replace(limits, call_seconds=float(call_timeout))
    sandbox.plan(sandbox_mode, limits.tmp_bytes)  # fail now if the mode cannot be had
    folders = find_students(submissions_dir)
    chosen = gradable_exercises(exercises)
    if not chosen:
        raise BatchError("no exercise has hidden tests and a reference here; nothing to grade")
    jobs = jobs or default_jobs()
    seed = secrets.randbelow(2**31) if seed is None else seed
    gradebook = Gradebook.open(gradebook_path)
    try:
        gradebook.ensure_students([f.student for f in folders])
        plan = make_plan(
            folders,
            chosen,
            gradebook.current_hashes(),
            load_timestamps(submissions_dir),
            regrade=regrade,
        )
        run_id = gradebook.start_batch_run(seed, jobs, str(submissions_dir), len(plan.tasks))
        summary = BatchSummary(
            run_id, seed, len(folders), [e.id for e in chosen], len(plan.tasks), plan.up_to_date
        )
        stream.write(
            f"grading {len(plan.tasks)} submission(s) of {len(folders)} student(s) "
            f"({', '.join(summary.exercises)}; {plan.up_to_date} already up to date) "
            f"with {jobs} worker(s), seed {seed}\n"
        )
        config = WorkerConfig(
            str(gradebook.path), seed, device, limits, sandbox_mode, run_id, tasks_per_worker
        )
        if task_limit_s is None:
            task_limit_s = TASK_SLACK_S + 2.0 * (limits.submission_seconds + limits.import_seconds)
        _grade(gradebook, plan.tasks, summary, config, (jobs, task_limit_s), stream)
        summary.quiz_attempts = _import_quiz_attempts(gradebook, folders, summary)
        gradebook.finish_batch_run(run_id, "finished", summary.graded)
    finally:
        gradebook.close()
    summary.wall_s = time.monotonic() - started
    return summary


def _grade(
    gradebook: Gradebook,
    tasks: list[Task],
    summary: BatchSummary,
    config: WorkerConfig,
    pool_size: tuple[int, float],
    stream: TextIO,
) -> None:
    jobs, task_limit_s = pool_size
    device = config.device
    if not tasks:
        return
    _preload()
    progress = Progress(len(tasks), stream)

    def done(task: Task, payload: dict[str, Any]) -> None:
        summary.graded += 1
        why = f" - {payload['reason']}" if payload.get("reason") else ""
        score = f"{payload['score']:g}/{payload['max_score']:g}"
        progress.advance(f"{task.student} {task.exercise} {score}{why}")

    def lost(task: Task, why: str) -> None:
        gradebook.record_exercise(
            task.student,
            _lost_result(task, why, summary.seed, device),
            submitted_at=task.submitted_at,
            batch_run=summary.run_id,
        )
        summary.graded += 1
        summary.lost += 1
        progress.advance(f"{task.student} {task.exercise} 0 - {why}")

    def error(task: Task, why: str) -> None:
        summary.grader_errors.append(f"{task.student} {task.exercise}: {why}")
        progress.message(
            f"grader error (not stored, rerun to retry): {task.student} {task.exercise}: {why}"
        )
        progress.advance(f"{task.student} {task.exercise} not graded")

    announced: list[str] = []

    def layers(line: str) -> None:
        """The first worker's layers are the run's header; a worker that differs is noted."""
        if not announced:
            announced.append(line)
            summary.layers = line
            progress.message(line)
        elif line not in announced:
            announced.append(line)
            progress.message(f"note: a grading worker started with other layers: {line}")

    pool = Pool(jobs, config, task_limit_s, PoolCallbacks(done, lost, error, layers))
    try:
        with _sigterm_as_interrupt():
            pool.run(tasks)
    except KeyboardInterrupt:
        progress.finish()
        gradebook.finish_batch_run(summary.run_id, "interrupted", summary.graded)
        raise BatchInterrupted(summary.graded, summary.planned) from None
    progress.finish()
    stream.write(f"graded {summary.graded} submission(s) in {clock(progress_elapsed(progress))}\n")


def progress_elapsed(progress: Progress) -> float:
    return time.monotonic() - progress.started


def _preload() -> None:
    """Import what every worker needs once, here, so forked workers share it.

    Nothing here may start a thread pool (no torch ops): workers fork their zygotes.
    """
    import pytest  # noqa: F401
    import torch  # noqa: F401

    import grader.session
    import grader.testing.checks
    import grader.testing.flows
    import grader.testing.oracles
    import grader.testing.plugin  # noqa: F401


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the pool runs, so a `kill` stops workers cleanly."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _lost_result(task: Task, why: str, seed: int, device: str) -> ExerciseResult:
    """A zero for a submission whose grading could not finish, with the reason."""
    exercise = get_exercise(task.exercise)
    feedback = Feedback(
        checked="grading the whole exercise",
        differs=why,
        hint="look for endless loops, huge allocations or code that kills its own process",
    )
    test = TestResult(
        "grading", "the exercise could be graded", 0.0, max_points(exercise), "failed", feedback
    )
    return ExerciseResult(
        exercise=exercise.id,
        title=exercise.title,
        tests=(test,),
        seed=seed,
        device=device,
        suite_hash=suite_hash(exercise),
        submission_hash=task.content_hash,
        duration_s=0.0,
    )


def _import_quiz_attempts(gradebook: Gradebook, folders: list[Any], summary: BatchSummary) -> int:
    found = {f.student: find_quiz_attempt_files(f.path) for f in folders}
    if not any(found.values()):
        return 0
    stored = 0
    for student, paths in found.items():
        count, problems = quiz_hook.store_attempts(gradebook, student, paths)
        stored += count
        summary.notes += [f"quiz attempt not scored: {line}" for line in problems]
    return stored
