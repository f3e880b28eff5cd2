"""The Dask executor: grade a class on a Dask cluster (`grade batch --executor dask`).

    with DaskExecutor(jobs=2, grading=config, task_limit_s=220) as executor:   # LocalCluster
    with DaskExecutor(scheduler="tcp://head:8786", grading=config, ...) as executor:

Without `scheduler` it starts a `LocalCluster` of `jobs` worker processes (one thread
each) on this machine; with one, it connects to a running scheduler whose workers may be
on other machines (`dask scheduler`, `dask worker ADDRESS --nthreads 1`, or
dask-jobqueue on SLURM). It registers `GraderPlugin`, so every worker, including one that
joins or is restarted later, starts its own fork server and sandbox once, then submits
one task per student (`grade_jobs`: that student's pending exercises) carrying the
exercise files' bytes: workers need no shared filesystem. At most `WINDOW_PER_THREAD`
tasks per worker thread are in flight, so the class's files are read as they are needed
and results stream back as they finish.

Faults: a worker that dies mid-task (killed, out of memory, its machine gone) has its
tasks rescheduled by the scheduler onto other workers; a task that killed
`allowed-failures` workers comes back as `KilledWorker`: its exercises are retried one
by one, and the one that still kills its workers is recorded as a zero with the reason,
as the local pool does. A task still running `task_limit_s` per exercise after its worker
started it is cancelled and that worker restarted by its nanny; again its exercises are
retried one by one, and one past the limit alone gets the zero. The batch parent stores
each exercise once (by task key), whatever Dask reports twice.

GPUs: with `device="cuda"` every task requires the resource `GPU` (workers started with
`--resources GPU=1`), so it only runs on such workers; without any, `ExecutorError`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from grader.batch.executor import (
    Event,
    Failed,
    Graded,
    GradingConfig,
    Lost,
    WorkerStarted,
    job_for,
)
from grader.batch.plan import Task

# Dask tasks in flight per worker thread. The scheduler hands a worker its next task as
# soon as its thread is free; the window only bounds what is read and queued at once.
# With 2, a worker sometimes waited for the parent to notice a result and submit more.
WINDOW_PER_THREAD = 4
BUNDLE_MAX = 8  # exercises of one student per Dask task
CONNECT_TIMEOUT_S = 30.0
WORKERS_TIMEOUT_S = 120.0
POLL_S = 0.02  # how often the parent looks for finished tasks when none came
LOCAL_ALLOWED_FAILURES = 1  # a task that killed two workers is lost (the local pool: 2 tries)
FORKSERVER_PRELOAD = (
    "distributed",
    "torch",
    "pytest",
    "sympy",
    "grader.batch.dask_worker",
    "grader.grading.hidden",
    "grader.testing.checks",
    "grader.testing.flows",
    "grader.testing.oracles",
    "grader.testing.plugin",
)


Bundle = tuple[Task, ...]  # one student's pending exercises, graded by one Dask task


def _bundles(tasks: list[Task]) -> list[Bundle]:
    """Consecutive tasks of one student, at most `BUNDLE_MAX` per bundle."""
    bundles: list[list[Task]] = []
    for task in tasks:
        last = bundles[-1] if bundles else None
        if last and last[0].student == task.student and len(last) < BUNDLE_MAX:
            last.append(task)
        else:
            bundles.append([task])
    return [tuple(b) for b in bundles]


class ExecutorError(RuntimeError):
    """The cluster cannot be used for this batch (one-line message)."""


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ExecutorError(
            "--executor dask needs Dask distributed: pip install 'flowgrade[dask]'"
        ) from None
    return distributed


@dataclass
class DaskExecutor:
    """Grades on a Dask cluster (an `Executor`, see the module docstring)."""

    grading: GradingConfig
    task_limit_s: float
    jobs: int = 2
    scheduler: str | None = None
    client: Any = None
    cluster: Any = None
    _started: dict[str, tuple[float, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _config: Any = None

    def __post_init__(self) -> None:
        distributed = _import_distributed()
        self._distributed = distributed
        self._token = uuid.uuid4().hex[:8]
        try:
            self._connect(distributed)
            self._check_resources()
            self._register_plugin()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ setup

    def _connect(self, distributed: Any) -> None:
        if self.scheduler is None:
            self._config = _local_cluster_config()
            self._config.__enter__()  # for the cluster's life: a restarted worker forks too
            _preload_forkserver(distributed)
            with _quiet_dask():
                self.cluster = distributed.LocalCluster(
                    n_workers=self.jobs,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    resources={"GPU": 1} if self.grading.device == "cuda" and _has_cuda() else None,
                )
                self.client = distributed.Client(self.cluster)
            return
        try:
            with _quiet_dask():  # no warning per retried connection
                self.client = distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            raise ExecutorError(
                f"cannot reach the Dask scheduler at {self.scheduler}: {_first_line(err)}"
            ) from None
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            raise ExecutorError(
                f"no Dask worker joined the scheduler at {self.scheduler} within "
                f"{WORKERS_TIMEOUT_S:g} s; start some with `dask worker {self.scheduler} "
                "--nthreads 1`"
            ) from None

    def _workers(self) -> dict[str, dict[str, Any]]:
        return dict(self.client.scheduler_info(n_workers=-1)["workers"])

    def _check_resources(self) -> None:
        """With `--device cuda`, some worker must offer the `GPU` resource."""
        if self.grading.device != "cuda":
            return
        gpu = [a for a, w in self._workers().items() if w.get("resources", {}).get("GPU", 0) >= 1]
        if not gpu:
            where = self.scheduler or "the local cluster (no CUDA GPU on this machine)"
            raise ExecutorError(
                f"--device cuda: no Dask worker of {where} offers a GPU; start GPU workers "
                "with `dask worker SCHEDULER --nthreads 1 --resources GPU=1`"
            )

    def _register_plugin(self) -> None:
        from grader.batch.dask_worker import PLUGIN_NAME, STARTED_TOPIC, GraderPlugin

        plugin = GraderPlugin(self.grading.sandbox_mode, self.grading.limits)
        self.client.register_plugin(plugin, name=PLUGIN_NAME)
        self.client.subscribe_topic(STARTED_TOPIC, self._task_started)

    def _task_started(self, event: tuple[float, Any]) -> None:
        """A worker began a task (its `grade_job` logged it): start its watchdog clock."""
        message = event[1]
        if isinstance(message, dict):
            key, worker = str(message.get("key")), str(message.get("worker"))
            with self._lock:
                self._started[key] = (time.monotonic(), worker)

    # ------------------------------------------------------------------ grading

    def run(self, tasks: list[Task]) -> Iterator[Event]:
        """Submit `tasks` (a sliding window of bundles), yield events as they finish.

        One Dask task grades a bundle: the pending exercises of one student, in turn
        (`grade_jobs`); measured, one Dask task per exercise cost ~14 CPU-ms of
        scheduling and messages each. A bundle that kills its workers or runs past its
        limit is split, and each of its exercises retried alone, so only the exercise at
        fault gets the zero. Results are fetched in the background as tasks finish
        (`as_completed(with_results=True)`), never one blocking round trip per task."""
        pending = deque(_bundles(tasks))
        futures: dict[str, tuple[Any, Bundle]] = {}
        seen_workers: set[str] = set()
        window = max(1, WINDOW_PER_THREAD * self._threads())
        finished = self._distributed.as_completed(with_results=True, raise_errors=False)
        try:
            self._fill(pending, futures, window, finished)
            while futures:
                batch = finished.next_batch(block=False)
                if not batch:
                    time.sleep(POLL_S)
                events: list[Event] = []
                for future, value in batch:
                    if future.key in futures:
                        _, bundle = futures.pop(future.key)
                        events += self._outcome(future, value, bundle, seen_workers, pending)
                events += self._watchdog(futures, pending)
                self._fill(pending, futures, window, finished)  # before the parent stores
                yield from events
        except BaseException:  # an interrupt, or the owner closed us: stop what we started
            with contextlib.suppress(Exception):
                self.client.cancel([f for f, _ in futures.values()])
            raise

    def _threads(self) -> int:
        return sum(int(w.get("nthreads", 1)) for w in self._workers().values()) or 1

    @property
    def threads(self) -> int:
        """Worker threads in the cluster now (what the batch run records as its jobs)."""
        return self._threads()

    def _fill(
        self,
        pending: deque[Bundle],
        futures: dict[str, tuple[Any, Bundle]],
        window: int,
        finished: Any,
    ) -> None:
        while pending and len(futures) < window:
            bundle = pending.popleft()
            future = self._submit(bundle)
            futures[future.key] = (future, bundle)
            finished.add(future)

    def _submit(self, bundle: Bundle) -> Any:
        from grader.batch.dask_worker import grade_jobs
        from grader.exercises import get_exercise, suite_hash

        exercises = "+".join(t.exercise for t in bundle)
        return self.client.submit(
            grade_jobs,
            [job_for(task, self.grading.limits) for task in bundle],
            self.grading,
            [suite_hash(get_exercise(task.exercise)) for task in bundle],
            key=f"flowgrade-{self._token}-{bundle[0].student}-{exercises}",
            pure=False,
            resources={"GPU": 1} if self.grading.device == "cuda" else None,
        )

    def _outcome(
        self,
        future: Any,
        value: Any,
        bundle: Bundle,
        seen_workers: set[str],
        pending: deque[Bundle],
    ) -> list[Event]:
        """What a finished future means. `value` is its result (one reply per task), or
        for an error the `(type, exception, traceback)` that `as_completed` hands over."""
        with self._lock:
            self._started.pop(future.key, None)
        if future.status == "cancelled":
            return []
        if future.status == "error":
            error = value[1] if isinstance(value, tuple) and len(value) == 3 else value
            if type(error).__name__ != "KilledWorker":
                return [Failed(task, f"{type(error).__name__}: {error}"[:500]) for task in bundle]
            if len(bundle) > 1:  # which exercise killed its workers? each one alone
                pending.extendleft((task,) for task in reversed(bundle))
                return []
            why = "the grading process died while grading this submission (on every worker "
            return [Lost(bundle[0], why + "that tried it)")]
        events: list[Event] = []
        for task, reply in zip(bundle, value, strict=True):
            if reply.worker not in seen_workers and reply.layers:
                seen_workers.add(reply.worker)
                events.append(WorkerStarted(reply.layers))
            if reply.result is None:
                events.append(Failed(task, f"{reply.problem or 'no result'} (on {reply.worker})"))
            else:
                events.append(Graded(task, reply.result, reply.worker))
        return events

    def _watchdog(
        self, futures: dict[str, tuple[Any, Bundle]], pending: deque[Bundle]
    ) -> list[Event]:
        """Bundles running past `task_limit_s` per exercise: their worker is restarted (a
        grading thread cannot be stopped); a single exercise gets its zero, a bundle is
        split and retried one exercise at a time."""
        now = time.monotonic()
        with self._lock:
            overdue = [
                (key, worker)
                for key, (started, worker) in self._started.items()
                if key in futures and now - started > self.task_limit_s * len(futures[key][1])
            ]
            for key, _ in overdue:
                self._started.pop(key)
        events: list[Event] = []
        for key, worker in overdue:
            future, bundle = futures.pop(key)
            future.cancel()
            with contextlib.suppress(Exception):
                self.client.restart_workers([worker], raise_for_error=False)
            if len(bundle) > 1:
                pending.extendleft((task,) for task in reversed(bundle))
                continue
            why = f"grading this exercise took longer than {self.task_limit_s:g} s in total "
            events.append(Lost(bundle[0], why + "and was stopped"))
        return events

    def close(self) -> None:
        from grader.batch.dask_worker import PLUGIN_NAME

        if self.client is not None:
            if self.cluster is None:  # a shared cluster: leave its workers as we found them
                with contextlib.suppress(Exception):
                    self.client.unregister_worker_plugin(PLUGIN_NAME)
            with contextlib.suppress(Exception):
                self.client.close()
            self.client = None
        if self.cluster is not None:
            with contextlib.suppress(Exception), _quiet_dask():
                self.cluster.close()
            self.cluster = None
        if self._config is not None:
            self._config.__exit__(None, None, None)
            self._config = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _local_cluster_config() -> Any:
    """Dask settings for a LocalCluster: two tries per task, as the local pool; workers
    forked from a fork server that imported torch and the grader once (a spawned worker
    imports distributed, torch, pytest and the grader itself), instead of spawned; fewer
    wake-ups of each worker's event loop."""
    import dask

    return dask.config.set(
        {
            "distributed.scheduler.allowed-failures": LOCAL_ALLOWED_FAILURES,
            "distributed.worker.multiprocessing-method": "forkserver",
            # a worker's event loop woke every 20 ms (tick) and every 100 ms (memory
            # monitor, reading /proc): ~4% of a core per worker while grading
            "distributed.admin.tick.interval": "500ms",
            "distributed.worker.memory.monitor-interval": "1s",
        }
    )


def _preload_forkserver(distributed: Any) -> None:
    """What the forkserver imports before it forks the workers (Python's
    `set_forkserver_preload`; the forkserver is a fresh interpreter started on first use,
    never a fork of this process)."""
    context = distributed.utils.get_mp_context()  # sets Dask's own preload list first
    context.set_forkserver_preload(list(FORKSERVER_PRELOAD))


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask logs routine start-up and shutdown at INFO/WARNING on stderr; a batch's stderr
    is its progress bar. Errors still show."""
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
