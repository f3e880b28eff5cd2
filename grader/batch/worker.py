"""A batch worker: one long-lived process that grades many submissions in a loop.

Forked once from the batch parent (which has torch, pytest and the grader imported), it
starts its own zygote in the course's sandbox mode, waits until the zygote says which
layers it could apply, tells the parent (`("ready", None, {"layers": line})`), opens its
own gradebook connection and then repeats: receive a `Task`, grade it with
`grader.session.grade_exercise` under the course's `Limits`, store the result in one
transaction, report a one-line summary. Student code never runs here: it runs in
workers forked from this process's zygote.

Ctrl-C is the parent's business: workers ignore SIGINT (a KeyboardInterrupt inside the
in-process pytest run would otherwise end it early and store a partial score). The parent
stops a worker with SIGTERM or SIGKILL; a result is either fully stored or not at all.
After `max_tasks` tasks a worker exits and the parent starts a fresh one, so memory
stays flat however many submissions the class has.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from grader import symbolic
from grader.batch.plan import Task
from grader.gradebook import Gradebook
from grader.report.reasons import reason
from grader.runner.limits import Limits
from grader.runner.sandbox import SandboxUnavailable
from grader.runner.zygote import Zygote, ZygoteDied

_PR_SET_PDEATHSIG = 1
# What each worker's fork server loads and runs once before its first worker (`preload`).
ZYGOTE_PRELOAD = ("sympy", "calls")


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker of one run shares (plain data, sent at fork time).

    `limits` bound every submission (the course's, with `--timeout` as `call_seconds`);
    `sandbox_mode` is passed to `Zygote.start` (None: $FLOWGRADE_SANDBOX, else auto)."""

    gradebook: str
    seed: int
    device: str
    limits: Limits
    sandbox_mode: str | None
    run_id: int
    max_tasks: int


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the batch parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def main(conn: Connection, config: WorkerConfig) -> None:  # pragma: no cover - forked child
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()
    try:
        state = _WorkerState(config)
    except (ZygoteDied, SandboxUnavailable, OSError) as err:
        # the parent counts it as a failed start and says why
        with contextlib.suppress(OSError):
            conn.send(("unavailable", None, {"message": f"{type(err).__name__}: {err}"[:500]}))
        return
    try:
        conn.send(("ready", None, {"layers": state.layers}))
        for _ in range(config.max_tasks):
            task = conn.recv()
            if task is None:
                break
            conn.send(state.grade(task))
    except (EOFError, BrokenPipeError):
        pass  # the parent went away
    finally:
        state.close()


def _start_zygote(config: WorkerConfig) -> Zygote:
    """A fork server for many submissions: libraries preloaded, memory in huge pages."""
    return Zygote.start(config.sandbox_mode, preload=ZYGOTE_PRELOAD, huge_pages=True)


class _WorkerState:
    """The worker's zygote and gradebook connection, restarted if the zygote dies."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.zygote = _start_zygote(config)
        try:
            self.layers = self.zygote.describe(config.limits)  # waits for the zygote's hello
        except ZygoteDied:
            self.zygote.close()
            raise
        import torch

        torch.set_num_threads(1)  # one core per worker: --jobs decides the parallelism
        symbolic.keep_checker_process()  # no fork of this large process per sympy check
        self.gradebook = Gradebook.open(Path(config.gradebook))
        # Everything alive now (torch, pytest, the grader) lives as long as the worker:
        # keep it out of the garbage collector's scans. pytest runs gc.collect() several
        # times per grading run, and scanning torch's objects each time doubled its cost.
        gc.freeze()
        gc.enable()  # off while the `grade` process imported (`grader.cli.run`); on for grading

    def grade(self, task: Task) -> tuple[str, tuple[str, str], dict[str, Any]]:
        """Grade and store one task; returns the message for the parent."""
        from grader.session import grade_exercise

        for attempt in range(2):
            try:
                result = grade_exercise(
                    task.exercise,
                    Path(task.directory),
                    device=self.config.device,
                    seed=self.config.seed,
                    zygote=self.zygote,
                    limits=self.config.limits,
                )
                break
            except ZygoteDied:
                # student code can kill its own zygote; start a fresh one and retry once
                self.zygote.close()
                self.zygote = _start_zygote(self.config)
                if attempt == 1:
                    return ("error", task.key, {"message": "the fork server died twice"})
            except Exception as err:  # an internal grader error: the parent records it
                return ("error", task.key, {"message": f"{type(err).__name__}: {err}"[:500]})
        self.gradebook.record_exercise(
            task.student,
            result,
            submitted_at=task.submitted_at,
            batch_run=self.config.run_id,
        )
        why = reason((t.status, t.output) for t in result.tests)
        return (
            "done",
            task.key,
            {"score": result.score, "max_score": result.max_score, "reason": why},
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.gradebook.close()
        with contextlib.suppress(Exception):
            self.zygote.close()
