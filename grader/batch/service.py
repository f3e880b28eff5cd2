"""A trusted grading process's state: its fork server, ready to grade many submissions.

Used by every executor's grading processes (a local pool worker, a Dask worker through
its plugin). It starts its own zygote in the course's sandbox mode with libraries
preloaded and memory in huge pages, waits until the zygote says which layers it could
apply (`layers`), then grades `GradingJob`s one at a time with
`grader.grading.grade_file`. Student code never runs here: it runs in workers forked
from this process's zygote. If student code kills the zygote, a fresh one is started and
the job retried once.
"""

from __future__ import annotations

import contextlib
import gc
import threading

from grader import symbolic
from grader.batch.executor import GradingConfig, GradingJob
from grader.results import ExerciseResult
from grader.runner.limits import Limits
from grader.runner.zygote import Zygote, ZygoteDied

# What each fork server loads and runs once before its first worker (`preload`).
ZYGOTE_PRELOAD = ("sympy", "calls")


class GradingFailed(RuntimeError):
    """An internal grader error while grading one job (one-line message; not stored)."""


def preload_grading_modules() -> None:
    """Import what grading needs (torch, pytest, the hidden-test machinery).

    Nothing here may start a thread pool (no torch ops): a local batch forks its workers
    after calling this, and they fork their zygotes."""
    import pytest  # noqa: F401
    import torch  # noqa: F401

    import grader.grading.hidden
    import grader.testing.checks
    import grader.testing.flows
    import grader.testing.oracles
    import grader.testing.plugin  # noqa: F401


def start_zygote(sandbox_mode: str | None) -> Zygote:
    """A fork server for many submissions: libraries preloaded, memory in huge pages."""
    return Zygote.start(sandbox_mode, preload=ZYGOTE_PRELOAD, huge_pages=True)


class GradingService:
    """One grading process's zygote (restarted if it dies); grades one job at a time."""

    def __init__(self, sandbox_mode: str | None, limits: Limits) -> None:
        self.sandbox_mode = sandbox_mode
        self.zygote = start_zygote(sandbox_mode)
        preload_grading_modules()  # while the zygote imports torch too (a fresh process: ~2 s)
        try:
            self.layers = self.zygote.describe(limits)  # waits for the zygote's hello
        except ZygoteDied:
            self.zygote.close()
            raise
        self._lock = threading.Lock()  # one grading at a time (a Dask worker has threads)
        import torch

        torch.set_num_threads(1)  # one core per grading process: the pool's size decides
        symbolic.keep_checker_process()  # no fork of this large process per sympy check
        # Everything alive now (torch, pytest, the grader) lives as long as the process:
        # keep it out of the garbage collector's scans. pytest runs gc.collect() several
        # times per grading run, and scanning torch's objects each time doubled its cost.
        gc.freeze()
        gc.enable()  # off while the `grade` process imported (`grader.cli.run`); on for grading

    def grade(self, job: GradingJob, config: GradingConfig) -> ExerciseResult:
        """Grade one job under `config`; `GradingFailed` for an internal grader error."""
        with self._lock:
            try:
                return self._grade_once(job, config)
            except ZygoteDied:  # student code can kill its own zygote: a fresh one, once more
                self._restart_zygote()
            try:
                return self._grade_once(job, config)
            except ZygoteDied:
                self._restart_zygote()
                raise GradingFailed("the fork server died twice") from None

    def _grade_once(self, job: GradingJob, config: GradingConfig) -> ExerciseResult:
        from grader.grading import grade_file

        try:
            return grade_file(
                job.exercise, job.file, device=config.device, seed=config.seed,
                zygote=self.zygote, limits=config.limits,
            )  # fmt: skip
        except ZygoteDied:
            raise
        except Exception as err:  # an internal grader error: the parent reports it
            raise GradingFailed(f"{type(err).__name__}: {err}"[:500]) from None

    def _restart_zygote(self) -> None:
        self.zygote.close()
        self.zygote = start_zygote(self.sandbox_mode)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.zygote.close()
