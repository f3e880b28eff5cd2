"""A local pool worker: one long-lived trusted process that grades many submissions.

Forked once from the batch parent (which has torch, pytest and the grader imported), it
starts a `GradingService` (its own zygote in the course's sandbox mode), tells the
parent it is ready with the line naming the layers that zygote applies
(`("ready", None, {"layers": line})`), then repeats: receive a `GradingJob`, grade it,
send the `ExerciseResult` back (`("done", key, result)`, or `("error", key, {"message":
...})`). It never opens the gradebook: the parent stores every result. Student code never
runs here: it runs in workers forked from this process's zygote.

Messages to the parent are pickles between two trusted grader processes (the result was
built here, by trusted code, from the trusted side's own test outcomes).

Ctrl-C is the parent's business: workers ignore SIGINT (a KeyboardInterrupt inside the
in-process pytest run would otherwise end it early with a partial score). The parent
stops a worker with SIGTERM or SIGKILL. After `max_tasks` tasks a worker exits and the
parent starts a fresh one, so memory stays flat however many submissions the class has.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection

from grader.batch.executor import GradingConfig
from grader.batch.service import GradingFailed, GradingService
from grader.runner.sandbox import SandboxUnavailable
from grader.runner.zygote import ZygoteDied

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerConfig:
    """What every local worker of one run shares (sent at fork time)."""

    grading: GradingConfig
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
    grading = config.grading
    try:
        service = GradingService(grading.sandbox_mode, grading.limits)
    except (ZygoteDied, SandboxUnavailable, OSError) as err:
        # the parent counts it as a failed start and says why
        with contextlib.suppress(OSError):
            conn.send(("unavailable", None, {"message": f"{type(err).__name__}: {err}"[:500]}))
        return
    try:
        conn.send(("ready", None, {"layers": service.layers}))
        for _ in range(config.max_tasks):
            job = conn.recv()
            if job is None:
                break
            try:
                conn.send(("done", job.key, service.grade(job, grading)))
            except GradingFailed as err:
                conn.send(("error", job.key, {"message": str(err)}))
    except (EOFError, BrokenPipeError):
        pass  # the parent went away
    finally:
        service.close()
