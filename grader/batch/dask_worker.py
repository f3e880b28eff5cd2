"""The Dask worker's side of `grade batch --executor dask`: a plugin and the grading task.

Every Dask worker is a trusted grader. `GraderPlugin` (a Dask worker plugin, registered
by the batch for every current and future worker) starts the worker's own
`GradingService` once: its fork server, in the course's sandbox mode, with the layers it
could apply. `grade_jobs` is the task: it grades one student's `GradingJob`s in turn
(the exercise files' bytes travel with them; the worker needs no access to the
submissions) with that service and returns one `WorkerReply` (an `ExerciseResult`, or
why there is none) per job. Student code runs only in the fork server's sandboxed
workers, never in the Dask worker process. The replies travel back to the batch parent
pickled by Dask, between trusted grader processes only.

A worker grades one job at a time (the service holds a lock); start workers with
`--nthreads 1` and as many processes (`--nworkers`) as cores.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from distributed import WorkerPlugin, get_worker

from grader.batch.executor import GradingConfig, GradingJob
from grader.batch.service import GradingFailed, GradingService
from grader.results import ExerciseResult
from grader.runner.limits import Limits

PLUGIN_NAME = "flowgrade-grader"
STARTED_TOPIC = "flowgrade-started"  # a worker began a task (the batch's watchdog clock)


@dataclass(frozen=True)
class WorkerReply:
    """What `grade_job` sends back: a result, or why there is none (`problem`)."""

    worker: str
    layers: str
    result: ExerciseResult | None = None
    problem: str | None = None


class GraderPlugin(WorkerPlugin):
    """Starts one `GradingService` per Dask worker (and closes it with the worker).

    Setup never raises (a worker whose plugin fails would not start, and its nanny would
    restart it again and again): a worker that cannot grade says why in every reply."""

    name = PLUGIN_NAME

    def __init__(self, sandbox_mode: str | None, limits: Limits) -> None:
        self.sandbox_mode = sandbox_mode
        self.limits = limits
        self.service: GradingService | None = None
        self.problem: str | None = None

    async def setup(self, worker: Any) -> None:
        _stop_profiler(worker)
        loop = asyncio.get_running_loop()
        try:  # in a thread: the worker's event loop keeps answering its scheduler meanwhile
            self.service = await loop.run_in_executor(None, self._start)
        except Exception as err:  # SandboxUnavailable, ZygoteDied, OSError, ...
            self.problem = f"{type(err).__name__}: {err}"[:500]

    def _start(self) -> GradingService:
        return GradingService(self.sandbox_mode, self.limits)

    def teardown(self, worker: Any) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None


def _stop_profiler(worker: Any) -> None:
    """Stop the worker's statistical profiler (it samples the grading thread's stack every
    10 ms: measured here, it made each grading ~20% slower; nobody reads its output)."""
    for name in ("profile", "profile-cycle"):
        callback = worker.periodic_callbacks.pop(name, None)
        if callback is not None:
            callback.stop()


def grade_jobs(
    jobs: list[GradingJob], config: GradingConfig, suites: list[str]
) -> list[WorkerReply]:
    """The task: grade `jobs` (one student's exercises) on this worker, one reply each.
    `suites` are the test-suite hashes the batch parent planned with."""
    worker = get_worker()
    worker.log_event(STARTED_TOPIC, {"key": worker.get_current_task(), "worker": worker.address})
    return [grade_job(job, config, suite) for job, suite in zip(jobs, suites, strict=True)]


def grade_job(job: GradingJob, config: GradingConfig, suite: str) -> WorkerReply:
    """Grade one job with this worker's service; a worker with another flowgrade (another
    test-suite hash than `suite`) refuses rather than grade."""
    from grader.exercises import get_exercise, suite_hash

    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN_NAME)
    service = getattr(plugin, "service", None)
    if service is None:
        why = getattr(plugin, "problem", None) or "the flowgrade plugin is not set up"
        return WorkerReply(worker.address, "", problem=f"worker cannot grade: {why}")
    own = suite_hash(get_exercise(job.exercise))
    if own != suite:
        return WorkerReply(
            worker.address,
            service.layers,
            problem=f"worker {worker.address} has another test suite for {job.exercise} "
            f"(hash {own}, the batch has {suite}); install the same flowgrade there",
        )
    try:
        return WorkerReply(worker.address, service.layers, result=service.grade(job, config))
    except GradingFailed as err:
        return WorkerReply(worker.address, service.layers, problem=str(err))
