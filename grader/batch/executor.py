"""The executor interface: where a batch's submissions are graded, and what comes back.

    with LocalPool(jobs, config, task_limit_s) as executor:
        for event in executor.run(tasks):
            ...   # Graded / Lost / Failed per task, WorkerStarted per grading process

An executor takes the plan's `Task`s, reads each exercise file once (`job_for`: the
bytes travel, so a grading process needs no access to the submissions folder), grades
them in trusted grading processes (each with its own fork server; student code runs
only in that fork server's sandboxed workers) and yields one terminal event per task,
in the order they finish. It never writes the gradebook: the batch parent is the only
writer, whatever the executor (`grader.batch.runner`).

Events:
- `Graded`: the grading process returned the task's `ExerciseResult`;
- `Lost`: grading could not finish (the grading process died on it again and again, or
  it ran past the task limit): the parent records a zero with the reason;
- `Failed`: an internal grader error: reported, not stored, so a rerun retries it;
- `WorkerStarted`: a grading process is ready, with the line naming its sandbox layers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from grader.batch.plan import Task
from grader.results import ExerciseResult
from grader.runner.limits import Limits
from grader.runner.source import SubmittedFile


@dataclass(frozen=True)
class GradingConfig:
    """What every grading process of one run shares (plain data, sent to each).

    `limits` bound every submission (the course's, with `--timeout` as `call_seconds`);
    `sandbox_mode` is passed to `Zygote.start` (None: $FLOWGRADE_SANDBOX, else auto)."""

    seed: int
    device: str
    limits: Limits
    sandbox_mode: str | None


@dataclass(frozen=True)
class GradingJob:
    """One task as it travels to a grading process: which exercise, and the file itself."""

    key: tuple[str, str]
    exercise: str
    file: SubmittedFile


def job_for(task: Task, limits: Limits) -> GradingJob:
    """Read the task's exercise file (safely, once) into a job for a grading process."""
    from pathlib import Path

    from grader.exercises import get_exercise

    path = Path(task.directory) / get_exercise(task.exercise).filename
    return GradingJob(task.key, task.exercise, SubmittedFile.read(path, limits.source_bytes))


@dataclass(frozen=True)
class Graded:
    task: Task
    result: ExerciseResult
    worker: str = ""  # which grading process (a Dask worker's address; "" locally)


@dataclass(frozen=True)
class Lost:
    task: Task
    why: str


@dataclass(frozen=True)
class Failed:
    task: Task
    why: str


@dataclass(frozen=True)
class WorkerStarted:
    layers: str


Event = Graded | Lost | Failed | WorkerStarted


class Executor(Protocol):
    """Grades tasks in trusted grading processes; see the module docstring."""

    def run(self, tasks: list[Task]) -> Iterator[Event]:
        """Yield the events of grading `tasks`, ending after the last task's terminal one.

        Closing the iterator early (an interrupt) stops every grading process it started."""
        ...

    def close(self) -> None:
        """Release what the executor holds (processes, cluster connections)."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *_: object) -> None: ...
