"""One long-lived helper process that decides symbolic equivalence for a long-lived grader.

`grader.symbolic.first_equivalent` forks the calling process for every decision, so that
a runaway sympy evaluation is killed, never waited for. In a batch worker that fork was
the expensive part: after each one, every page the ~500 MB grader wrote faulted again
(copy-on-write bookkeeping, ~3200 faults per submission on this machine's VM) for <1 ms of
actual sympy work. A `SymbolicChecker` instead starts `python -m grader.symbolic_checker`
once (a fresh interpreter, not a fork: it shares no pages with the grader), and sends it
each decision:

    grader -> checker   8-byte length + pickle of (expr, candidates, seed)   (trusted data:
                        expressions the safe reader in `grader.symbolic` built)
    checker -> grader   8-byte length + JSON {"match": index | null} | {"error": "..."}

The same limits hold: the grader waits at most `timeout_s` for the answer and otherwise
kills the helper (the next decision starts a fresh one) and raises `SymbolicTimeout`; the
helper caps its address space at its size after importing sympy plus
`MEMORY_HEADROOM_BYTES`, and reports a failure (out of memory, ...) as `SymbolicInputError`.
A decision the helper crashed on is not retried. One student's expression must not change
the next one's verdict: the helper empties sympy's cache after every decision and is
replaced after any failure. It starts (and says it is ready) before a decision's time
limit begins, from `/` with the fork server's minimal environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from grader.runner.sandbox import zygote_env
from grader.symbolic import (
    MAX_CANDIDATES,
    SymbolicInputError,
    SymbolicTimeout,
    _cap_memory,
    _first_match,
)

_LENGTH = struct.Struct("!Q")
MAX_REPLY_BYTES = 1 << 16
READY_TIMEOUT_S = 120.0
READY = {"ready": True}


class SymbolicChecker:
    """Decides `first_equivalent` questions in one helper process, started on first use."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    def first_equivalent(
        self, expr: Any, candidates: Sequence[Any], timeout_s: float, seed: int
    ) -> int | None:
        """Same contract as `grader.symbolic.first_equivalent`."""
        if not 1 <= len(candidates) <= MAX_CANDIDATES:
            raise ValueError(f"between 1 and {MAX_CANDIDATES} candidates are needed")
        try:
            process = self._running()
        except (OSError, EOFError, ValueError, TimeoutError):
            self.close()
            raise SymbolicInputError("the expression could not be checked") from None
        payload = pickle.dumps((expr, list(candidates), seed))
        try:
            _write_frame(process.stdin, payload)
            reply = _read_frame(process.stdout, time.monotonic() + timeout_s)
        except TimeoutError:
            self.close()
            raise SymbolicTimeout(
                f"checking the expression took longer than {timeout_s:g} s"
            ) from None
        except (OSError, EOFError, ValueError):
            self.close()
            raise SymbolicInputError("the expression could not be checked") from None
        if "error" in reply:
            self.close()  # whatever it left behind (a grown heap) goes with it
            raise SymbolicInputError(f"the expression could not be checked ({reply['error']})")
        match = reply.get("match")
        return match if isinstance(match, int) else None

    def close(self) -> None:
        """Stop the helper (a later decision starts a fresh one)."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]

    def _running(self) -> subprocess.Popen[bytes]:
        """The helper, started and ready (its start-up is not part of any time limit)."""
        if self._process is None or self._process.poll() is not None:
            self.close()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "grader.symbolic_checker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,  # raw pipes: `select` sees every byte that arrived
                cwd="/",
                env=zygote_env(),
            )
            if _read_frame(self._process.stdout, time.monotonic() + READY_TIMEOUT_S) != READY:
                raise ValueError("the helper did not start")
        return self._process


def _write_frame(stream: IO[bytes] | None, payload: bytes) -> None:
    if stream is None:
        raise OSError("no pipe")
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    while view:
        view = view[os.write(stream.fileno(), view) :]


def _read_frame(stream: IO[bytes] | None, deadline: float) -> dict[str, Any]:
    """Read one JSON reply before `deadline` (TimeoutError) from the helper's stdout."""
    if stream is None:
        raise OSError("no pipe")
    header = _read_exactly(stream, _LENGTH.size, deadline)
    (size,) = _LENGTH.unpack(header)
    if size > MAX_REPLY_BYTES:
        raise ValueError("reply too large")
    reply = json.loads(_read_exactly(stream, size, deadline))
    if not isinstance(reply, dict):
        raise ValueError("malformed reply")
    return reply


def _read_exactly(stream: IO[bytes], size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
            raise TimeoutError
        chunk = os.read(stream.fileno(), size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


# ---------------------------------------------------------------- inside the helper


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:  # pragma: no cover - helper
    """Answer decisions until the grader closes the pipe."""
    import gc
    import signal

    gc.disable()  # importing sympy with collections on costs ~20% more
    import sympy  # noqa: F401 - imported before the memory cap is measured

    gc.enable()

    from sympy.core.cache import clear_cache

    from grader.runner.confine import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader decides when we stop
    die_with_parent()
    _cap_memory()
    _write_frame(replies, json.dumps(READY).encode())
    while True:
        header = requests.read(_LENGTH.size)
        if len(header) < _LENGTH.size:
            return
        (size,) = _LENGTH.unpack(header)
        expr, candidates, seed = pickle.loads(requests.read(size))
        try:
            reply: dict[str, Any] = {"match": _first_match(expr, candidates, seed)}
        except Exception as err:  # MemoryError included: report it (the grader replaces us)
            reply = {"error": f"{type(err).__name__}: {err}".splitlines()[0][:300]}
        clear_cache()  # nothing of this decision may shape the next one
        _write_frame(replies, json.dumps(reply).encode())


if __name__ == "__main__":  # pragma: no cover
    serve(sys.stdin.buffer, sys.stdout.buffer)
