"""The fork server: a fresh interpreter that imports torch once and forks a worker per request.

It is started with `python -m grader.runner.zygote FD CONFIG` (inside bubblewrap where that
is available, see `sandbox`), never forked from the grader: it has never held a reference
solution, a hidden test or an expected value in memory, and it gets a minimal environment.
Importing torch once here makes each worker cost milliseconds instead of ~2 s.

Grader <-> fork server, over one Unix socket:
    server -> {"namespaces": bool, "drop_uid": bool}          once, when ready (a frame)
    grader -> pickle of a `WorkerSpec` + two fds (SCM_RIGHTS)  per worker
    server -> the forked child's pid (8 bytes; -1 when its namespace could not be made)

The second fd is the status socket: one frame, `{"exit": code}` or `{"signal": number}`,
says how the worker ended. It is written by trusted code only, never by the worker:

* with per-worker namespaces the server forks the worker itself as pid 1 of a fresh pid
  namespace (`_namespace_worker`): it enters the other namespaces, then runs the worker,
  which drops to its own uid before any student code. When it exits, Linux kills whatever
  it left in the namespace. The server reaps it and writes the report (`_Endings`).
* without them the server forks a *supervisor* that becomes a subreaper and forks the
  worker, waits for it, kills anything it left behind and writes the report (`_monitor`).

Every fork copies the server's page tables (~150 MB of torch and Python state) and every
exit tears them down, ~5-20 ms of CPU each: hence one process per worker where namespaces
allow it, and `gc.freeze()` before serving, so that a garbage collection in a worker does
not touch (and copy) every object the server imported.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
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
    """A worker as the grader sees it: the pid of the server's child (the worker itself, or
    its supervisor; in the server's pid namespace), the conversation and status sockets."""

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
    tempfile.gettempdir()  # looked up once (it writes a probe file); workers reuse the answer

    hide = [str(p) for p in config.get("hide", [])]
    own_pidns = _own_pid_namespace() if config.get("namespaces") else None
    namespaces = own_pidns is not None and confine.can_enter_namespaces(hide, 1 << 20, own_pidns)
    grader.runner.worker.forget_reference_modules()
    confine.drop_capability_bounding_set()
    drop_uid = bool(config.get("drop_uid")) and confine.can_drop_privileges(sandbox.UID_BASE)
    protocol.send_frame(sock, json.dumps({"namespaces": namespaces, "drop_uid": drop_uid}).encode())
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


class _Endings:  # pragma: no cover - runs in the fork server
    """The server's children as they end: every one is reaped; for a worker the server
    forked itself (namespace path) it reports how it ended on that worker's status socket.

    SIGCHLD only wakes the serving loop (a byte on `wakeup`); reaping happens there, after
    a child's status socket was recorded, so no ending is missed however early it comes."""

    def __init__(self) -> None:
        self.wakeup, write_end = os.pipe()
        os.set_blocking(self.wakeup, False)
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        # plain descriptors, not socket objects: a forked worker inherits this dict, and a
        # socket object there would still claim a descriptor number the worker closed
        self._reports: dict[int, tuple[int, int]] = {}

    def expect(self, pid: int, status_fd: int, cpu_seconds: int) -> None:
        """Report the ending of child `pid` on `status_fd` (the server's own duplicate)."""
        self._reports[pid] = (status_fd, cpu_seconds)

    def reap(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.wakeup, 4096):
                pass
        while (pid := _next_ended_child()) > 0:
            expected = self._reports.pop(pid, None)
            cpu_used = _own_cpu_seconds(pid) if expected is not None else 0.0
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:  # reaped already (no waitid): nothing more to learn
                status = 0
            if expected is not None:
                status_fd, cpu_seconds = expected
                report = json.dumps(ending(status, cpu_used, cpu_seconds)).encode()
                with contextlib.suppress(OSError):  # the grader may have stopped listening
                    os.write(status_fd, protocol.frame(report))
                os.close(status_fd)


def _next_ended_child() -> int:  # pragma: no cover - runs in the fork server
    """The pid of a child that has ended, left unreaped (a zombie, so that its own CPU time
    can still be read); 0 when there is none. Without `os.waitid` (macOS before Python
    3.13, where no worker is pid 1 of a namespace and no ending is reported by the server)
    the child is reaped here already."""
    try:
        if not hasattr(os, "waitid"):
            return os.waitpid(-1, os.WNOHANG)[0]
        ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return 0
    return ended.si_pid if ended is not None else 0


def _own_cpu_seconds(pid: int) -> float:  # pragma: no cover - runs in the fork server
    """CPU time of process `pid` itself, all its threads, not its children (what
    RLIMIT_CPU counts); 0 when /proc cannot tell."""
    try:
        fields = confine.stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def ending(status: int, cpu_used: float, cpu_seconds: int) -> dict[str, int]:
    """How a worker that was pid 1 of its namespace ended, from its wait status and the
    CPU time it used itself.

    Linux ignores SIGXCPU for a namespace's pid 1, so such a worker gets no grace period
    past its CPU limit: RLIMIT_CPU's hard limit sends SIGKILL at `cpu_seconds`. A SIGKILL
    with that much CPU used is therefore reported as SIGXCPU, what the student should read."""
    report = _wait_report(status)
    if report.get("signal") == signal.SIGKILL and cpu_used >= cpu_seconds - 0.05:
        return {"signal": int(signal.SIGXCPU)}
    return report


def _wait_report(status: int) -> dict[str, int]:
    """`{"signal": number}` or `{"exit": code}` from a wait status."""
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.WEXITSTATUS(status)}


def _serve(sock: socket.socket, config: dict[str, Any]) -> None:  # pragma: no cover
    endings = _Endings()
    next_uid = random.randrange(sandbox.UID_COUNT)
    while True:
        readable, _, _ = select.select([sock, endings.wakeup], [], [])
        if endings.wakeup in readable:
            endings.reap()
        if sock not in readable:
            continue
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
            pid = _fork_reported_worker(sock, fds, spec, worker_config, config["pidns"], endings)
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


def _fork_reported_worker(
    sock: socket.socket,
    fds: list[int],
    spec: WorkerSpec,
    config: dict[str, Any],
    pidns: int,
    endings: _Endings,
) -> int:  # pragma: no cover - runs in the fork server
    """`_fork_namespace_worker`, keeping a duplicate of its status socket (made before the
    fork: if no descriptor is left, the worker is refused rather than left unreported)."""
    try:
        status_fd = os.dup(fds[1])
    except OSError as err:
        _refuse(fds[0], err)
        return -1
    pid = _fork_namespace_worker(sock, fds, spec, config, pidns)
    if pid > 0:
        endings.expect(pid, status_fd, int(spec.kwargs.get("limits", {}).get("cpu_seconds", 60)))
    else:
        os.close(status_fd)
    return pid


def _prebuild(calls: tuple[Any, ...]) -> None:  # pragma: no cover - in the fork server
    for function, args in calls:
        with contextlib.suppress(Exception):  # an optimisation: the worker builds it otherwise
            function(*args)


def _fork_namespace_worker(
    sock: socket.socket, fds: list[int], spec: WorkerSpec, config: dict[str, Any], pidns: int
) -> int:  # pragma: no cover - runs in the fork server
    """Fork the worker as pid 1 of a fresh pid namespace; its pid (-1 when no namespace
    could be made: the worker is told so in place of its greeting).
    PidNamespaceStuck propagates: the server stops rather than fork into a wrong namespace."""
    try:
        pid = confine.fork_in_new_pid_namespace(pidns)
    except confine.PidNamespaceStuck:
        raise
    except (confine.ConfinementFailed, OSError) as err:
        _refuse(fds[0], err)
        return -1
    if pid == 0:
        _namespace_worker(sock, fds[0], spec, config)
    return pid


def _refuse(fd: int, err: BaseException) -> None:  # pragma: no cover - fork server or child
    """Tell the grader, in place of the worker's greeting, that its sandbox failed."""
    refusal = {"status": "sandbox-failed", "message": f"{type(err).__name__}: {err}"[:500]}
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as worker_sock:
        protocol.send_reply(worker_sock, refusal, [])


def _namespace_worker(
    zygote_sock: socket.socket, fd: int, spec: WorkerSpec, config: dict[str, Any]
) -> None:  # pragma: no cover - runs as pid 1 of the worker's fresh pid namespace
    """Enter the other namespaces, mount /proc, then run the worker (`_run_worker`).

    The status socket stays with the server, which reports how this process ended; when it
    exits, every process left in the namespace is killed by the kernel."""
    try:
        _leave_fork_server(zygote_sock, fd)
        tmp_bytes = int(spec.kwargs.get("limits", {}).get("tmp_bytes", 64 << 20))
        confine.enter_namespaces(config["hide"], tmp_bytes, confine.INIT_NAMESPACES)
        confine.mount_proc()
    except BaseException as err:
        _refuse(fd, err)
        os._exit(71)
    _run_worker(fd, spec, config)


def _monitor(
    zygote_sock: socket.socket, fd: int, status_fd: int, spec: WorkerSpec, config: dict[str, Any]
) -> None:  # pragma: no cover - runs in the forked supervisor (no namespaces)
    """Become a subreaper, then supervise the worker (see `_supervise`)."""
    status_sock = socket.socket(fileno=status_fd)
    try:
        _leave_fork_server(zygote_sock, fd, status_fd)
        os.setsid()  # out of the server's process group; the worker makes its own
        reaper = confine.become_subreaper()
    except BaseException as err:
        _report(status_sock, {"sandbox_failed": f"{type(err).__name__}: {err}"[:500]})
    _supervise(fd, status_sock, spec, config, reaper)


def _leave_fork_server(
    zygote_sock: socket.socket, *keep: int
) -> None:  # pragma: no cover - runs in a child of the fork server
    """A child's first steps: keep only the descriptors in `keep`, default SIGCHLD (no
    wake-ups for the server's loop), and death with the fork server."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    zygote_sock.close()
    _close_all_but(*keep)
    confine.die_with_parent()


def _supervise(
    fd: int, status_sock: socket.socket, spec: WorkerSpec, config: dict[str, Any], reaper: bool
) -> None:  # pragma: no cover - runs in the supervisor (no namespaces)
    """Fork the worker, wait for it, kill whatever it left behind, report how it ended."""
    report: dict[str, Any] = {}
    try:
        pid = os.fork()
        if pid == 0:
            status_sock.close()
            _run_worker(fd, spec, config)
        os.close(fd)
        report = _wait_report(os.waitpid(pid, 0)[1])
        if reaper:  # whatever the worker left behind (double forks, setsid) goes too
            confine.kill_descendants()
    except BaseException as err:
        report = {"sandbox_failed": f"{type(err).__name__}: {err}"[:500]}
    _report(status_sock, report)


def _report(status_sock: socket.socket, report: dict[str, Any]) -> None:  # pragma: no cover
    """A supervisor's last act: send `report` on the status socket, then exit."""
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
