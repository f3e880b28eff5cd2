"""`grade batch`: grade every exercise of every student of a class, in parallel, resumably.

    summary = run_batch(Path("submissions"), Path("course/.flowgrade/gradebook.sqlite"), jobs=4)

One run: discover the class, plan what is new or changed, draw one fresh seed for the
run (so no submission can be tuned to fixed inputs; the seed is stored with every score
and in `batch_runs`), grade with an executor (`grader.batch.executor`: here `jobs`
long-lived local worker processes) and store each result, as it comes back, in its own
transaction. This process is the gradebook's only writer. Interrupted (Ctrl-C, SIGTERM,
a kill) and started again, it grades only what is still missing; `regrade=True` grades
everything again and keeps history.

Every submission is bounded by the course's `Limits` (`call_timeout`, when given,
replaces `call_seconds`) and graded in the course's sandbox mode. The sandbox is checked
before anything is stored (a mode the machine cannot provide stops the run with
`SandboxUnavailable`), and before the first submission is graded the log gets one line
naming the active layers and limits, as the first worker's zygote confirmed them:

    sandbox bwrap: process split (JSON replies, no pickle); wall time (call 10 s, ...
"""

from __future__ import annotations

import contextlib
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
from typing import TYPE_CHECKING, Any, TextIO

from grader.batch import quiz_hook
from grader.batch.discovery import find_quiz_attempt_files, find_students, load_timestamps
from grader.batch.executor import (
    Event,
    Executor,
    Failed,
    Graded,
    GradingConfig,
    Lost,
    WorkerStarted,
)
from grader.batch.plan import Task, gradable_exercises, make_plan
from grader.batch.points import max_points
from grader.batch.pool import LocalPool
from grader.batch.progress import Progress, clock
from grader.batch.service import preload_grading_modules
from grader.exercises import get_exercise, suite_hash
from grader.gradebook import Gradebook
from grader.report.reasons import reason
from grader.results import ExerciseResult, Feedback, TestResult
from grader.runner import sandbox
from grader.runner.limits import Limits

if TYPE_CHECKING:
    from grader.batch.dask_executor import DaskExecutor

TASKS_PER_WORKER = 1000  # memory stays flat (measured); a restart costs a torch import
TASK_SLACK_S = 60.0  # trusted work per exercise (pytest, oracles) on top of the student's time
EXECUTORS = ("local", "dask")


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
    gradebook_path: str | Path,
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
    executor: str = "local",
    scheduler: str | None = None,
    stream: TextIO | None = None,
) -> BatchSummary:
    """Grade the class in `submissions_dir` into the gradebook at `gradebook_path` (an
    SQLite file or a `postgresql://` URL).

    A worker exits after `tasks_per_worker` tasks and a fresh one takes its place, which
    keeps memory flat. `limits` (default `Limits()`) bound each submission, `call_timeout`
    overrides their `call_seconds`; `sandbox_mode` is one of `sandbox.MODES` (None:
    $FLOWGRADE_SANDBOX, else auto) and raises `SandboxUnavailable` here, before anything
    is stored, when this machine cannot provide it. `task_limit_s` bounds the whole
    grading of one exercise (default: the submission's time twice over plus a minute).

    `executor` is `local` (`jobs` worker processes here) or `dask`: a `LocalCluster` of
    `jobs` workers, or with `scheduler` the running Dask cluster at that address, whose
    workers apply their own sandbox (`grader.batch.dask_executor`).
    """
    if executor not in EXECUTORS:
        raise BatchError(f"unknown executor {executor!r}; valid choices: {', '.join(EXECUTORS)}")
    if scheduler is not None and executor != "dask":
        raise BatchError("--scheduler needs --executor dask")
    started = time.monotonic()
    stream = stream or sys.stderr
    limits = limits or Limits()
    if call_timeout is not None:
        limits = replace(limits, call_seconds=float(call_timeout))
    if scheduler is None:  # the sandbox is this machine's: fail now if the mode cannot be had
        sandbox.plan(sandbox_mode, limits.tmp_bytes)
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
        grading = GradingConfig(seed, device, limits, sandbox_mode)
        if task_limit_s is None:
            task_limit_s = TASK_SLACK_S + 2.0 * (limits.submission_seconds + limits.import_seconds)
        with contextlib.ExitStack() as stack:
            where = f"{jobs} worker(s)"
            if plan.tasks and executor == "dask":  # started first: it may refuse (no GPU, ...)
                dask = stack.enter_context(_dask(grading, task_limit_s, jobs, scheduler))
                graders: Executor = dask
                jobs = dask.threads
                where = f"{jobs} Dask worker(s) ({scheduler or 'a local cluster'})"
            elif plan.tasks:
                preload_grading_modules()  # once here: forked workers share them
                graders = stack.enter_context(
                    LocalPool(jobs, grading, task_limit_s, tasks_per_worker)
                )
            run_id = gradebook.start_batch_run(seed, jobs, str(submissions_dir), len(plan.tasks))
            summary = BatchSummary(
                run_id, seed, len(folders), [e.id for e in chosen], len(plan.tasks),
                plan.up_to_date,
            )  # fmt: skip
            stream.write(
                f"grading {len(plan.tasks)} submission(s) of {len(folders)} student(s) "
                f"({', '.join(summary.exercises)}; {plan.up_to_date} already up to date) "
                f"with {where}, seed {seed}\n"
            )
            if plan.tasks:
                _grade(gradebook, graders, plan.tasks, summary, device, stream)
        summary.quiz_attempts = _import_quiz_attempts(gradebook, folders, summary)
        gradebook.finish_batch_run(run_id, "finished", summary.graded)
    finally:
        gradebook.close()
    summary.wall_s = time.monotonic() - started
    return summary


def _dask(
    grading: GradingConfig, task_limit_s: float, jobs: int, scheduler: str | None
) -> DaskExecutor:
    from grader.batch.dask_executor import DaskExecutor, ExecutorError

    try:
        return DaskExecutor(grading, task_limit_s, jobs=jobs, scheduler=scheduler)
    except ExecutorError as err:
        raise BatchError(str(err)) from None


def _grade(
    gradebook: Gradebook,
    executor: Executor,
    tasks: list[Task],
    summary: BatchSummary,
    device: str,
    stream: TextIO,
) -> None:
    """Grade `tasks` with `executor`, storing each result as it comes back."""
    progress = Progress(len(tasks), stream)
    recorder = _Recorder(gradebook, summary, progress, device)
    try:
        with _sigterm_as_interrupt(), contextlib.closing(executor.run(tasks)) as events:
            for event in events:
                recorder.handle(event)
    except KeyboardInterrupt:
        progress.finish()
        gradebook.finish_batch_run(summary.run_id, "interrupted", summary.graded)
        raise BatchInterrupted(summary.graded, summary.planned) from None
    progress.finish()
    stream.write(f"graded {summary.graded} submission(s) in {clock(progress_elapsed(progress))}\n")


class _Recorder:
    """The parent's side of every executor: store, count and report each event once.

    A task's result is stored at most once per run (by task key), however often an
    executor reports it, so a retried or duplicated task can never add a second row."""

    def __init__(
        self, gradebook: Gradebook, summary: BatchSummary, progress: Progress, device: str
    ) -> None:
        self.gradebook = gradebook
        self.device = device
        self.summary = summary
        self.progress = progress
        self.finished: set[tuple[str, str]] = set()
        self.announced: list[str] = []

    def handle(self, event: Event) -> None:
        if isinstance(event, WorkerStarted):
            self._layers(event.layers)
            return
        if event.task.key in self.finished:
            return
        self.finished.add(event.task.key)
        task = event.task
        if isinstance(event, Graded):
            self._store(task, event.result)
            why = reason((t.status, t.output) for t in event.result.tests)
            score = f"{event.result.score:g}/{event.result.max_score:g}"
            why = f" - {why}" if why else ""
            self.progress.advance(f"{task.student} {task.exercise} {score}{why}")
        elif isinstance(event, Lost):
            self._store(task, _lost_result(task, event.why, self.summary.seed, self.device))
            self.summary.lost += 1
            self.progress.advance(f"{task.student} {task.exercise} 0 - {event.why}")
        elif isinstance(event, Failed):
            self.summary.grader_errors.append(f"{task.student} {task.exercise}: {event.why}")
            self.progress.message(
                f"grader error (not stored, rerun to retry): {task.student} {task.exercise}: "
                f"{event.why}"
            )
            self.progress.advance(f"{task.student} {task.exercise} not graded")

    def _store(self, task: Task, result: ExerciseResult) -> None:
        self.gradebook.record_exercise(
            task.student, result, submitted_at=task.submitted_at, batch_run=self.summary.run_id
        )
        self.summary.graded += 1

    def _layers(self, line: str) -> None:
        """The first worker's layers are the run's header; a worker that differs is noted."""
        if not self.announced:
            self.announced.append(line)
            self.summary.layers = line
            self.progress.message(line)
        elif line not in self.announced:
            self.announced.append(line)
            self.progress.message(f"note: a grading worker started with other layers: {line}")


def progress_elapsed(progress: Progress) -> float:
    return time.monotonic() - progress.started


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
