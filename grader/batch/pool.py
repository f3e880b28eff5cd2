"""The local executor: a pool of long-lived grading processes on this machine.

Each of `jobs` slots holds one worker process (forked from this process, see
`grader.batch.worker`) and at most one task. The parent reads each task's file and sends
it as a `GradingJob`; it waits on the workers' pipes and process sentinels together, so
it notices at once when a worker answers, dies, or (by the watchdog) runs past
`task_limit_s` on one submission. Those outcomes become events (`grader.batch.executor`):

- "done": `Graded` with the worker's `ExerciseResult`;
- a worker died mid-task: the task is retried once in a fresh worker, then `Lost` (a
  submission that kills its grader must not stop the batch);
- the watchdog fired: the worker is killed and the task is `Lost`;
- "error" (an internal grader error): `Failed`, not stored, so a rerun retries it.

A worker says "ready" once its zygote is up, with the line naming the layers that zygote
applies; the pool yields it as `WorkerStarted` before that worker gets a task.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from grader.batch import worker
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

STARTUP_FAILURES_ALLOWED = 3
MAX_ATTEMPTS = 2


class PoolError(RuntimeError):
    """Workers cannot be started (one-line message)."""


@dataclass
class _Slot:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    task: Task | None = None
    started: float = 0.0
    sent: int = 0


@dataclass
class LocalPool:
    """A fixed number of long-lived grading workers fed from a queue (an `Executor`).

    A worker exits after `tasks_per_worker` tasks and a fresh one takes its place, which
    keeps memory flat."""

    jobs: int
    grading: GradingConfig
    task_limit_s: float
    tasks_per_worker: int
    slots: list[_Slot] = field(default_factory=list)
    _attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    _startup_failures: int = 0
    _startup_problem: str = ""
    _events: deque[Event] = field(default_factory=deque)

    @property
    def config(self) -> worker.WorkerConfig:
        return worker.WorkerConfig(self.grading, self.tasks_per_worker)

    def run(self, tasks: list[Task]) -> Iterator[Event]:
        """Grade every task (see `Executor.run`); an interrupt or an early close stops
        all workers."""
        queue = deque(tasks)
        try:
            self._fill(queue)
            self._dispatch(queue)
            while queue or any(s.task is not None for s in self.slots):
                self._wait_and_collect(queue)
                self._watchdog()
                # idle workers get their next task before the owner stores the results
                # (an SQLite commit waits ~2.5 ms for the disk here)
                self._fill(queue)
                self._dispatch(queue)
                while self._events:
                    yield self._events.popleft()
            self._stop_all(graceful=True)
        except BaseException:  # KeyboardInterrupt, GeneratorExit: stop at once
            self._stop_all(graceful=False)
            raise

    def close(self) -> None:
        self._stop_all(graceful=False)

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ workers

    def _spawn(self) -> _Slot:
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=worker.main, args=(theirs, self.config), name="flowgrade-batch", daemon=True
        )
        process.start()
        theirs.close()
        return _Slot(process, ours)

    def _can_take(self, slot: _Slot) -> bool:
        """Idle and not about to retire (a worker exits after `tasks_per_worker` tasks)."""
        return slot.task is None and slot.sent < self.tasks_per_worker

    def _fill(self, queue: deque[Task]) -> None:
        while len(self.slots) < self.jobs and sum(map(self._can_take, self.slots)) < len(queue):
            self.slots.append(self._spawn())

    def _dispatch(self, queue: deque[Task]) -> None:
        for slot in self.slots:
            if slot.ready and self._can_take(slot) and queue:
                slot.task = queue.popleft()
                slot.sent += 1
                slot.started = time.monotonic()
                job = job_for(slot.task, self.grading.limits)
                # if the worker is gone, its sentinel tells and the task counts as lost
                with contextlib.suppress(BrokenPipeError, OSError):
                    slot.conn.send(job)

    def _wait_and_collect(self, queue: deque[Task]) -> None:
        handles: list[Any] = [s.conn for s in self.slots] + [s.process.sentinel for s in self.slots]
        ready = set(wait(handles, timeout=0.5))
        for slot in list(self.slots):
            if slot.conn in ready:
                self._receive(slot)
            if slot.process.sentinel in ready and not self._drain(slot):
                self._worker_died(slot, queue)

    def _drain(self, slot: _Slot) -> bool:
        """Read a last message a dying worker may have left; True if the slot lives on."""
        with contextlib.suppress(OSError):
            while slot.conn.poll() and self._receive(slot):
                pass
        return slot.process.is_alive()

    def _receive(self, slot: _Slot) -> bool:
        """Handle one message from the worker; False when its pipe is closed."""
        try:
            kind, key, payload = slot.conn.recv()
        except (EOFError, OSError):
            return False
        if kind == "ready":
            slot.ready = True
            self._startup_failures = 0
            self._events.append(WorkerStarted(str((payload or {}).get("layers", ""))))
            return True
        if kind == "unavailable":
            self._startup_problem = str((payload or {}).get("message", ""))
            return True
        task = slot.task
        if task is None or task.key != key:
            return True
        slot.task = None
        if kind == "done":
            self._events.append(Graded(task, payload))
        else:
            self._events.append(Failed(task, str(payload.get("message", "unknown error"))))
        return True

    def _worker_died(self, slot: _Slot, queue: deque[Task]) -> None:
        self.slots.remove(slot)
        slot.process.join(timeout=1)
        with contextlib.suppress(OSError):
            slot.conn.close()
        if not slot.ready:
            self._startup_failures += 1
            if self._startup_failures > STARTUP_FAILURES_ALLOWED:
                why = f": {self._startup_problem}" if self._startup_problem else ""
                raise PoolError(
                    f"grading workers exit at start (exit code {slot.process.exitcode}{why}); "
                    "run `grade exercise-NN` on one submission to see why"
                )
        task = slot.task
        if task is None:
            return  # retired after max_tasks, or stopped
        attempts = self._attempts.get(task.key, 0) + 1
        self._attempts[task.key] = attempts
        if attempts < MAX_ATTEMPTS:
            queue.appendleft(task)
        else:
            self._events.append(
                Lost(
                    task,
                    f"the grading process died while grading this submission "
                    f"({attempts} tries, exit code {slot.process.exitcode})",
                )
            )

    def _watchdog(self) -> None:
        now = time.monotonic()
        for slot in list(self.slots):
            if slot.task is not None and now - slot.started > self.task_limit_s:
                task = slot.task
                slot.task = None
                slot.process.kill()
                slot.process.join(timeout=5)
                self.slots.remove(slot)
                with contextlib.suppress(OSError):
                    slot.conn.close()
                self._events.append(
                    Lost(
                        task,
                        f"grading this exercise took longer than {self.task_limit_s:g} s "
                        "in total and was stopped",
                    )
                )

    def _stop_all(self, *, graceful: bool) -> None:
        for slot in self.slots:
            if graceful:
                with contextlib.suppress(BrokenPipeError, OSError):
                    slot.conn.send(None)
            else:
                slot.process.kill()
        deadline = time.monotonic() + 5
        for slot in self.slots:
            slot.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=1)
            with contextlib.suppress(OSError):
                slot.conn.close()
        self.slots.clear()
