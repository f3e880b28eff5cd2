"""A fork server: a process forked right after `import torch`, which forks workers on demand.

Forking from a process that already has torch loaded makes a worker cost milliseconds
instead of a second and a half. The zygote is forked before the trusted process starts any
thread pool or CUDA context, so its children may safely use both.

Parent <-> zygote: requests are (pickle of a `WorkerSpec`, one socket fd via SCM_RIGHTS);
the zygote answers with the worker's pid. Each worker runs in its own session (process
group), so a timeout can kill it and everything it started.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_PID = struct.Struct("!q")
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerSpec:
    """What a forked worker runs: `module.function(sock, **kwargs)`, in trusted code."""

    module: str
    function: str
    kwargs: dict[str, Any] = field(default_factory=dict)


class ZygoteDied(RuntimeError):
    """The fork server is gone; no worker can be started."""


class Zygote:
    """Handle on a running fork server (use `start`)."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self._sock = sock
        self._lock = threading.Lock()

    @classmethod
    def start(cls, preload: Callable[[], None] | None = None) -> Zygote:
        """Fork the zygote from the current process (which should have torch imported)."""
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked child
            parent_end.close()
            try:
                if preload is not None:
                    preload()
                _serve(child_end)
            finally:
                os._exit(0)
        child_end.close()
        return cls(pid, parent_end)

    def spawn(self, spec: WorkerSpec) -> tuple[int, socket.socket]:
        """Fork a worker running `spec`; return its pid and our end of its socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self._lock:
                socket.send_fds(self._sock, [pickle.dumps(spec)], [theirs.fileno()])
                reply = self._sock.recv(_PID.size)
        except OSError as err:
            ours.close()
            raise ZygoteDied(f"the fork server is gone: {err}") from None
        finally:
            theirs.close()
        if len(reply) != _PID.size:
            ours.close()
            raise ZygoteDied("the fork server is gone")
        (pid,) = _PID.unpack(reply)
        return pid, ours

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)


def _serve(sock: socket.socket) -> None:  # pragma: no cover - runs in the zygote
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    _die_with_parent()
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 1)
        except OSError:
            return
        if not message or not fds:
            return
        spec: WorkerSpec = pickle.loads(message)
        pid = os.fork()
        if pid == 0:
            _run_worker(sock, fds[0], spec)
        os.close(fds[0])
        try:
            sock.sendall(_PID.pack(pid))
        except OSError:
            return


def _run_worker(zygote_sock: socket.socket, fd: int, spec: WorkerSpec) -> None:  # pragma: no cover
    code = 0
    try:
        zygote_sock.close()
        os.closerange(3, fd)
        os.closerange(fd + 1, 1 << 16)
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _die_with_parent()
        worker_sock = socket.socket(fileno=fd)
        module = __import__(spec.module, fromlist=[spec.function])
        getattr(module, spec.function)(worker_sock, **spec.kwargs)
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


_shared: Zygote | None = None
_shared_lock = threading.Lock()


def shared_zygote() -> Zygote:
    """The process-wide zygote, started on first use (after importing torch)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            import torch  # noqa: F401  - load before forking so workers inherit it

            _shared = Zygote.start()
        return _shared
