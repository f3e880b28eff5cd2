"""The fork server: a fresh interpreter that imports torch once and forks a worker per request.

It is started with `python -m grader.runner.zygote FD CONFIG` (inside bubblewrap where that
is available, see `sandbox`), never forked from the grader: it has never held a reference
solution, a hidden test or an expected value in memory, and it gets a minimal environment.
Importing torch once here makes each worker cost milliseconds instead of ~2 s.

Grader <-> fork server, over one Unix socket:
    server -> {"namespaces": bool, "drop_uid": bool}          once, when ready (a frame)
    grader -> pickle of a `WorkerSpec` + two fds (SCM_RIGHTS)  per worker
    server -> the supervisor's pid (8 bytes; -1 when its namespace could not be made)

Per worker the server forks a *supervisor* (trusted code): with per-worker namespaces the
supervisor is created as pid 1 of a fresh pid namespace and enters the other namespaces
itself; without them it is a plain child that becomes a subreaper. The supervisor forks
the *worker* (which drops to its own uid and runs student code), waits for it, kills
anything it left behind and reports how it ended on the second fd, the status socket.

Every fork copies the server's page tables (~150 MB of torch and Python state) and every
exit tears them down, ~10-20 ms of CPU each: hence two processes per worker, not three,
and `gc.freeze()` before serving, so that a garbage collection in a worker does not touch
(and copy) every object the server imported.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from grader.runner import confine, hugepages, protocol, sandbox
from grader.runner.preload import PRELOADABLE, import_argument_modules, load_and_warm

_PID = struct.Struct("!q")
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class WorkerSpec:
    """What a forked worker runs: `module.function(sock, **kwargs)`, in trusted code.

    `prebuild`: `(function, args)` calls the server runs before forking, so that the
    worker finds an argument already built (`grader.testing.flows_02`'s cost matrix)."""

    module: str
    function: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    prebuild: tuple[Any, ...] = ()


@dataclass
class Spawned:
    """A worker as the grader sees it: its supervisor's pid (in the server's pid namespace),
    the conversation socket and the status socket."""

    monitor_pid: int
    sock: socket.socket
    status: socket.socket


class ZygoteDied(RuntimeError):
    """The fork server is gone; no worker can be started."""


class Zygote:
    """Handle on a running fork server (use `start`)."""

    def __init__(self, process: subprocess.Popen[bytes], sock: socket.socket, plan: Any) -> None:
        self.process = process
        self.pid = process.pid
        self.plan: sandbox.Plan = plan
        self._sock = sock
        self._lock = threading.Lock()
        self._verified: dict[str, bool] | None = None
        self._built: dict[str, tuple[Any, ...]] = {}

    def remember_built(self, module_name: str, calls: tuple[Any, ...]) -> None:
        """How to prebuild the arguments that workers for `module_name` built themselves;
        the next such worker gets them built by the server (see `WorkerSpec.prebuild`)."""
        self._built[module_name] = calls

    def built_for(self, module_name: str) -> tuple[Any, ...]:
        return self._built.get(module_name, ())

    @classmethod
    def start(
        cls, mode: str | None = None, preload: tuple[str, ...] = (), *, huge_pages: bool = False
    ) -> Zygote:
        """Start a fork server with the strongest sandbox `mode` allows (see `sandbox.plan`).

        `preload` names libraries from `PRELOADABLE` the server imports before its first
        worker, and `huge_pages` moves its memory to 2 MiB pages so that each fork costs
        less (`hugepages`). Both are worth it for a long-lived server only: a one-off
        grading would wait for them."""
        unknown = sorted(set(preload) - set(PRELOADABLE))
        if unknown:
            raise ValueError(f"cannot preload {', '.join(unknown)}; valid: {PRELOADABLE}")
        plan = sandbox.plan(mode)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config = {
            "namespaces": plan.worker_namespaces,
            "drop_uid": plan.drop_uid,
            "hide": list(plan.hide),
            "preload": list(preload),
            "huge_pages": huge_pages,
        }
        argv = [*plan.launcher, sys.executable, "-m", "grader.runner.zygote"]
        argv += [str(theirs.fileno()), json.dumps(config)]
        try:
            process = subprocess.Popen(
                argv,
                pass_fds=(theirs.fileno(),),
                env=sandbox.zygote_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                start_new_session=True,
            )
        finally:
            theirs.close()
        return cls(process, ours, plan)

    def describe(self, limits: Any = None) -> str:
        """One line naming the active layers (for `grade batch`'s header)."""
        from grader.runner.limits import Limits

        return sandbox.describe(self.plan, limits or Limits(), self.verified())

    def alive(self) -> bool:
        return self.process.poll() is None

    def verified(self) -> dict[str, bool]:
        """The layers the fork server confirmed it can apply (waits until it is ready)."""
        with self._lock:
            return self._wait_ready()

    def _wait_ready(self) -> dict[str, bool]:
        if self._verified is None:
            self._sock.settimeout(READY_TIMEOUT_S)
            try:
                hello = json.loads(protocol.recv_frame(self._sock, 4096))
            except (OSError, ValueError, protocol.ProtocolError) as err:
                raise ZygoteDied(f"the fork server did not start: {err}") from None
            finally:
                self._sock.settimeout(None)
            if not isinstance(hello, dict):
                raise ZygoteDied("the fork server sent a malformed greeting")
            self._verified = {k: bool(v) for k, v in hello.items()}
        return self._verified

    def spawn(self, spec: WorkerSpec) -> Spawned:
        """Fork a worker running `spec`; return our ends of its sockets."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        status_ours, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if hasattr(socket, "SO_PASSCRED"):  # the worker's pid, as this pid namespace sees it
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        try:
            with self._lock:
                self._wait_ready()
                fds = [theirs.fileno(), status_theirs.fileno()]
                socket.send_fds(self._sock, [pickle.dumps(spec)], fds)
                self._sock.settimeout(READY_TIMEOUT_S)
                reply = self._sock.recv(_PID.size)
                self._sock.settimeout(None)
        except (OSError, ZygoteDied) as err:
            ours.close()
            status_ours.close()
            raise ZygoteDied(f"the fork server is gone: {err}") from None
        finally:
            theirs.close()
            status_theirs.close()
        if len(reply) != _PID.size:
            ours.close()
            status_ours.close()
            raise ZygoteDied("the fork server is gone")
        (pid,) = _PID.unpack(reply)
        return Spawned(pid, ours, status_ours)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------- inside the fork server


def main(argv: list[str]) -> None:  # pragma: no cover - runs in the fork server
    """`python -m grader.runner.zygote FD CONFIG`."""
    sock = socket.socket(fileno=int(argv[1]))
    config = json.loads(argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader decides when we stop
    gc.disable()  # no collections over torch's objects while importing (~0.3 s)
    import numpy  # noqa: F401 - load before forking so workers inherit it
    import torch

    torch.set_num_threads(1)  # whatever runs here (prebuilt arguments) starts no thread pool

    import grader.runner.worker

    import_argument_modules()
    load_and_warm(list(config.get("preload", [])))

    hide = [str(p) for p in config.get("hide", [])]
    own_pidns = _own_pid_namespace() if config.get("namespaces") else None
    namespaces = own_pidns is not None and confine.can_enter_namespaces(hide, 1 << 20, own_pidns)
    grader.runner.worker.forget_reference_modules()
    confine.drop_capability_bounding_set()
    drop_uid = bool(config.get("drop_uid")) and confine.can_drop_privileges(sandbox.UID_BASE)
    protocol.send_frame(sock, json.dumps({"namespaces": namespaces, "drop_uid": drop_uid}).encode())
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped automatically
    gc.freeze()  # what is alive now is shared with every worker: keep collections off it
    gc.enable()  # workers collect their own garbage
    if config.get("huge_pages"):
        hugepages.collapse_anonymous_memory()
    settings = {"namespaces": namespaces, "drop_uid": drop_uid, "hide": hide, "pidns": own_pidns}
    _serve(sock, settings)
    os._exit(0)  # nothing to flush; tearing down torch's modules would only delay the grader


def _own_pid_namespace() -> int | None:  # pragma: no cover - runs in the fork server
    try:
        return confine.own_pid_namespace()
    except OSError:
        return None


def _serve(sock: socket.socket, config: dict[str, Any]) -> None:  # pragma: no cover
    next_uid = random.randrange(sandbox.UID_COUNT)
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 2)
        except OSError:
            return
        if not message or len(fds) != 2:
            return  # the grader is gone: leaving takes every worker down with us
        spec: WorkerSpec = pickle.loads(message)
        _prebuild(spec.prebuild)
        uid = sandbox.UID_BASE + next_uid % sandbox.UID_COUNT
        next_uid += 1
        worker_config = {k: v for k, v in config.items() if k != "pidns"} | {"uid": uid}
        if config["namespaces"]:
            pid = _fork_namespace_init(sock, fds, spec, worker_config, config["pidns"])
        else:
            pid = os.fork()
            if pid == 0:
                _monitor(sock, fds[0], fds[1], spec, worker_config)
        for fd in fds:
            os.close(fd)
        try:
            sock.sendall(_PID.pack(pid))
        except OSError:
            return


def _prebuild(calls: tuple[Any, ...]) -> None:  # pragma: no cover - in the fork server
    for function, args in calls:
        with contextlib.suppress(Exception):  # an optimisation: the worker builds it otherwise
            function(*args)


def _fork_namespace_init(
    sock: socket.socket, fds: list[int], spec: WorkerSpec, config: dict[str, Any], pidns: int
) -> int:  # pragma: no cover - runs in the fork server
    """Fork the worker's supervisor as pid 1 of a fresh pid namespace; its pid (-1 when no
    namespace could be made: the worker is told so in place of its greeting).
    PidNamespaceStuck propagates: the server stops rather than fork into a wrong namespace."""
    try:
        pid = confine.fork_in_new_pid_namespace(pidns)
    except confine.PidNamespaceStuck:
        raise
    except (confine.ConfinementFailed, OSError) as err:
        refusal = {"status": "sandbox-failed", "message": f"{type(err).__name__}: {err}"[:500]}
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fds[0])) as worker_sock:
            protocol.send_reply(worker_sock, refusal, [])
        return -1
    if pid == 0:
        _namespace_init(sock, fds[0], fds[1], spec, config)
    return pid


def _namespace_init(
    zygote_sock: socket.socket, fd: int, status_fd: int, spec: WorkerSpec, config: dict[str, Any]
) -> None:  # pragma: no cover - runs as pid 1 of the worker's fresh pid namespace
    """Enter the other namespaces, mount /proc, then supervise the worker (`_supervise`).

    The supervisor is pid 1, so the worker is pid 2: Linux ignores default-action signals
    such as SIGXCPU for a namespace's pid 1, and the worker must die of them. When the
    supervisor exits, every process left in the namespace is killed by the kernel."""
    status_sock = socket.socket(fileno=status_fd)
    try:
        _leave_fork_server(zygote_sock, fd, status_fd)
        tmp_bytes = int(spec.kwargs.get("limits", {}).get("tmp_bytes", 64 << 20))
        confine.enter_namespaces(config["hide"], tmp_bytes, confine.INIT_NAMESPACES)
        confine.mount_proc()
    except BaseException as err:
        _report(status_sock, {"sandbox_failed": f"{type(err).__name__}: {err}"[:500]})
    _supervise(fd, status_sock, spec, config, False)  # leaving kills the namespace


def _monitor(
    zygote_sock: socket.socket, fd: int, status_fd: int, spec: WorkerSpec, config: dict[str, Any]
) -> None:  # pragma: no cover - runs in the forked supervisor (no namespaces)
    """Become a subreaper, then supervise the worker (see `_supervise`)."""
    status_sock = socket.socket(fileno=status_fd)
    try:
        _leave_fork_server(zygote_sock, fd, status_fd)
        reaper = confine.become_subreaper()
    except BaseException as err:
        _report(status_sock, {"sandbox_failed": f"{type(err).__name__}: {err}"[:500]})
    _supervise(fd, status_sock, spec, config, reaper)


def _leave_fork_server(
    zygote_sock: socket.socket, fd: int, status_fd: int
) -> None:  # pragma: no cover - runs in the forked supervisor
    """A supervisor's first steps: keep only the worker's two sockets, its own session,
    default SIGCHLD (it waits for its worker), and death with the fork server."""
    zygote_sock.close()
    _close_all_but(fd, status_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    confine.die_with_parent()


def _supervise(
    fd: int, status_sock: socket.socket, spec: WorkerSpec, config: dict[str, Any], reaper: bool
) -> None:  # pragma: no cover - runs in the supervisor (namespace init or plain child)
    """Fork the worker, wait for it, kill whatever it left behind, report how it ended."""
    report: dict[str, Any] = {}
    try:
        pid = os.fork()
        if pid == 0:
            status_sock.close()
            _run_worker(fd, spec, config)
        os.close(fd)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            report = {"signal": os.WTERMSIG(status)}
        else:
            report = {"exit": os.WEXITSTATUS(status)}
        if reaper:  # whatever the worker left behind (double forks, setsid) goes too
            confine.kill_descendants()
    except BaseException as err:
        report = {"sandbox_failed": f"{type(err).__name__}: {err}"[:500]}
    _report(status_sock, report)


def _report(status_sock: socket.socket, report: dict[str, Any]) -> None:  # pragma: no cover
    with contextlib.suppress(OSError):
        protocol.send_frame(status_sock, json.dumps(report).encode())
    os._exit(0)


def _run_worker(fd: int, spec: WorkerSpec, config: dict[str, Any]) -> None:  # pragma: no cover
    code = 70
    try:
        module = sys.modules[spec.module]
        worker_sock = socket.socket(fileno=fd)
        getattr(module, spec.function)(worker_sock, sandbox=config, **spec.kwargs)
        code = 0
    finally:
        os._exit(code)


def _close_all_but(*keep: int) -> None:
    """Close every inherited descriptor except `keep` (and 0-2, which the worker replaces)."""
    highest = 3
    for fd in sorted(keep):
        os.closerange(highest, fd)
        highest = fd + 1
    os.closerange(highest, 1 << 16)


_shared: Zygote | None = None
_shared_lock = threading.Lock()


def shared_zygote(mode: str | None = None) -> Zygote:
    """The process-wide fork server, started on first use and restarted if it died."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive():
            _shared = Zygote.start(mode)
        return _shared


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv)
