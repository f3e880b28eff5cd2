"""The trusted side of a worker: call student functions by name, with time and size limits.

`StudentModule` looks like the student's module to a hidden test
(`student.affine_coupling_forward(z, conditioner)`), but every call crosses a process
boundary: arguments go out as a pickle (`tensor_pickle`), results come back as plain decoded data.
A worker that times out, crashes or misbehaves is killed (its whole process group, or its
pid namespace) and replaced; the student reads why, in plain words.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.runner import errors, protocol, tensor_pickle
from grader.runner.limits import Limits, size_text
from grader.runner.preload import ARGUMENT_MODULES
from grader.runner.source import BadSubmission, SubmittedFile, read_submission
from grader.runner.zygote import Spawned, WorkerSpec, Zygote

DEFAULT_CALL_TIMEOUT_S = Limits.call_seconds
HELLO_TIMEOUT_S = 120.0  # the first worker waits for the fork server to import torch
TRANSFER_TIMEOUT_S = 60.0
STATUS_TIMEOUT_S = 2.0


class Budget:
    """Wall time left for one submission, shared by all its `StudentModule`s."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline: float | None = None

    def remaining(self) -> float:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.seconds
        return self._deadline - time.monotonic()


@dataclass
class _Worker:
    pid: int
    sock: socket.socket
    status: socket.socket
    pidns: bool
    pidfd: int | None = None

    def kill(self) -> None:
        """SIGKILL the worker and everything it started. In its own pid namespace killing it
        is enough; otherwise its process group goes too."""
        if not self.pidns:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = None
        elif self.pid > 0:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        for sock in (self.sock, self.status):
            with contextlib.suppress(OSError):
                sock.close()

    def ending(self) -> dict[str, Any]:
        """How the worker ended, as the fork server or its supervisor reported it ({} if
        unknown)."""
        self.status.settimeout(STATUS_TIMEOUT_S)
        try:
            report = json.loads(protocol.recv_frame(self.status, 4096))
        except (OSError, ValueError, protocol.ProtocolError):
            return {}
        finally:
            with contextlib.suppress(OSError):
                self.status.close()
        return report if isinstance(report, dict) else {}


@dataclass(frozen=True)
class GradientResult:
    """What back-propagating one output gave (see `grader.runner.gradients` for `state`):
    `wrt` maps an input's path (`args[0]`, `args[1].w1`) to its gradient, or None where
    the output does not depend on that input; `detail` is the type, shape or error text."""

    output: str
    state: str
    wrt: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class CallResult:
    """A decoded return value, the student's printed output, and (if asked) the inputs
    as they were after the call.

    From the worker's watch (`grader.runner.watch`): `calls` counts the calls of each
    trusted method by path (`{"args[1].forward": 2}`), `writes` lists the tensors written
    in place: `writes["inputs"]` argument tensors, `writes["returned"]` tensors returned
    by trusted methods. `device_problems` (only for `check_device` calls on the CPU) says
    what a GPU would have refused; `gradients` (only in the gradient call mode) holds one
    `GradientResult` per output asked for."""

    value: Any
    stdout: str
    inputs_after: list[Any] | None
    calls: dict[str, int] = field(default_factory=dict)
    writes: dict[str, list[str]] = field(default_factory=dict)
    device_problems: tuple[str, ...] = ()
    gradients: tuple[GradientResult, ...] | None = None


class FunctionProxy:
    """Looks like a student's module to a hidden test: `proxy.name(*args)` is
    `proxy.call_full("name", args).value`. Subclasses implement `call_full`; only the
    names in `_functions` resolve (all names when it is empty)."""

    _functions: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or (self._functions and name not in self._functions):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        """Call `function(*args, **kwargs)` and return its decoded value."""
        return self.call_full(function, args, kwargs).value

    def call_full(
        self,
        function: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        return_inputs: bool = False,
        check_device: bool = False,
        gradients: Any = None,
    ) -> CallResult:
        """`check_device`: run under the virtual-device check (CPU grading only);
        `gradients`: a `grader.runner.gradients.GradientSpec` for the gradient call mode."""
        raise NotImplementedError


class StudentModule(FunctionProxy):
    """Proxy for one student file, executed in isolated worker processes.

    `submission` is the file's path (read when the first worker starts) or a
    `SubmittedFile` already read (what a batch sends to its grading processes)."""

    def __init__(
        self,
        submission: Path | SubmittedFile,
        module_name: str,
        zygote: Zygote,
        device: str = "cpu",
        call_timeout: float | None = None,
        functions: tuple[str, ...] = (),
        *,
        limits: Limits | None = None,
        budget: Budget | None = None,
        trusted: tuple[str, ...] = ARGUMENT_MODULES,
    ) -> None:
        """`trusted`: modules whose objects, passed as arguments, the worker watches (their
        methods' calls are counted, writes into what they return are reported)."""
        self._submission = submission if isinstance(submission, SubmittedFile) else Path(submission)
        self._trusted = tuple(trusted)
        self._module_name = module_name
        self._zygote = zygote
        self._device = device
        self._limits = limits or Limits()
        self._call_timeout = self._limits.call_seconds if call_timeout is None else call_timeout
        self._budget = budget or Budget(self._limits.submission_seconds)
        self._functions = functions
        self._worker: _Worker | None = None
        self._broken: errors.StudentError | None = None
        self.stdout: list[str] = []

    @property
    def broken(self) -> str | None:
        """Why the file cannot be graded at all (import failed, bad file), or None."""
        return self._broken.detail if self._broken is not None else None

    def call_full(
        self,
        function: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        return_inputs: bool = False,
        check_device: bool = False,
        gradients: Any = None,
    ) -> CallResult:
        """Run the call in the worker (see `FunctionProxy`)."""
        worker = self._ready_worker(function)
        kwargs = kwargs or {}
        built = tuple(v for v in (*args, *kwargs.values()) if getattr(v, "BUILT_IN_WORKER", False))
        if built:
            prebuild = tuple(v.prebuild_call() for v in built if hasattr(v, "prebuild_call"))
            self._zygote.remember_built(self._module_name, prebuild)
        request = {
            "function": function,
            "args": args,  # tensors travel as CPU bytes, detached (`tensor_pickle`)
            "kwargs": kwargs,
            "device": self._device,
            "return_inputs": return_inputs,
            "ack": bool(built),
            "trusted": self._trusted,
            "check_device": check_device,
            "gradients": gradients,
        }
        limit = self._call_timeout if timeout is None else timeout
        try:
            protocol.send_frame(worker.sock, tensor_pickle.dumps(request))
            if built:  # the limit starts once the worker has built the argument
                self._expect(worker, function, min(TRANSFER_TIMEOUT_S, limit * 6), "started")
            header, buffers = self._receive(worker, function, limit)
        except (errors.StudentError, OSError) as err:
            self._discard_worker()
            if isinstance(err, OSError):
                raise errors.StudentCrashed(function, "the process exited") from None
            raise
        return self._interpret(function, header, buffers)

    def close(self) -> None:
        self._discard_worker()

    # ------------------------------------------------------------------ internals

    def _ready_worker(self, function: str) -> _Worker:
        if self._broken is not None:
            raise self._broken
        if self._worker is not None:
            return self._worker
        if self._budget.remaining() <= 0:
            raise self._out_of_time(function)
        try:
            source = self._source()
        except BadSubmission as err:
            self._broken = errors.SubmissionBroken(function, str(err))
            raise self._broken from None
        worker = self._spawn(function)
        try:
            protocol.send_frame(worker.sock, pickle.dumps({"source": source}))
            header, _ = self._receive(worker, function, self._limits.import_seconds)
        except (errors.StudentError, OSError) as err:
            worker.kill()
            if isinstance(err, errors.StudentLimit):
                raise  # the submission's total time ran out; not a fault of the file
            if isinstance(err, errors.StudentTimeout):
                detail = (
                    f"importing it took more than {self._limits.import_seconds:g} s "
                    "(code at the top level of the file runs on import)"
                )
            else:
                detail = "importing it failed: " + getattr(err, "detail", "the process exited")
            self._broken = errors.SubmissionBroken(function, detail)
            raise self._broken from None
        status = header.get("status")
        if status == "sandbox-failed":
            worker.kill()
            raise errors.SandboxFailure(str(header.get("message", ""))[:500])
        if status != "ready":
            worker.kill()
            message = str(header.get("message", "the file could not be imported"))[:2000]
            if _file_too_large(message):  # a flood of output at import: the limit, as in a call
                self._broken = self._ended(function, {"signal": getattr(signal, "SIGXFSZ", -1)})
                raise self._broken
            self._broken = errors.SubmissionBroken(function, message)
            raise self._broken
        self._worker = worker
        return worker

    def _source(self) -> bytes:
        if isinstance(self._submission, SubmittedFile):
            return self._submission.source()
        return read_submission(self._submission, self._limits.source_bytes)

    def _spawn(self, function: str) -> _Worker:
        spec = WorkerSpec(
            "grader.runner.worker",
            "serve",
            {
                "module_name": self._module_name,
                "display_name": self._submission.name,
                "device": self._device,
                "limits": dataclasses.asdict(self._limits),
            },
            prebuild=self._zygote.built_for(self._module_name),
        )
        spawned: Spawned = self._zygote.spawn(spec)
        spawned.sock.settimeout(HELLO_TIMEOUT_S)
        try:
            hello, pid = protocol.recv_hello(spawned.sock)
        except (OSError, protocol.ProtocolError) as err:
            spawned.sock.close()
            spawned.status.close()
            raise errors.SandboxFailure(f"a worker did not start: {err}") from None
        if hello.get("status") == "sandbox-failed":
            spawned.sock.close()
            spawned.status.close()
            raise errors.SandboxFailure(str(hello.get("message", ""))[:500])
        if pid is None:  # no SCM_CREDENTIALS (macOS): same pid namespace, trust the greeting
            pid = int(hello.get("pid", -1))
        pidns = bool(hello.get("pidns"))
        return _Worker(pid, spawned.sock, spawned.status, pidns, _open_pidfd(pid))

    def _discard_worker(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def _expect(self, worker: _Worker, function: str, timeout: float, status: str) -> None:
        header, _ = self._receive(worker, function, timeout)
        if header.get("status") != status:
            raise errors.StudentCrashed(function, "unexpected reply from the worker")

    def _receive(
        self, worker: _Worker, function: str, timeout: float
    ) -> tuple[dict[str, Any], list[bytes]]:
        remaining = self._budget.remaining()
        budget_bound = remaining < timeout
        worker.sock.settimeout(max(0.0, min(timeout, remaining)) or 1e-3)
        try:
            return protocol.recv_reply(worker.sock, self._limits.reply_bytes)
        except TimeoutError:
            worker.kill()
            if budget_bound:
                raise self._out_of_time(function) from None
            raise errors.StudentTimeout(function, timeout) from None
        except protocol.PeerClosed:
            report = worker.ending()
            worker.kill()
            raise self._ended(function, report) from None
        except (protocol.ProtocolError, OSError) as err:
            worker.kill()
            raise errors.StudentCrashed(function, f"unreadable reply: {err}") from None

    def _out_of_time(self, function: str) -> errors.StudentError:
        total = self._budget.seconds
        return errors.StudentLimit(
            function,
            f"your submission ran for more than {total:g} s in total (all calls together)",
            "each check calls your functions on small inputs; look for an endless loop or a "
            "blocking wait",
        )

    def _ended(self, function: str, report: dict[str, Any]) -> errors.StudentError:
        """Explain how a worker ended on its own, from the report on its status socket."""
        limits = self._limits
        sig = report.get("signal")
        if sig == getattr(signal, "SIGXCPU", None):
            return errors.StudentLimit(
                function,
                f"your code used more than {limits.cpu_seconds} s of CPU time",
                "look for an endless loop or work that grows faster than the input",
            )
        if sig == getattr(signal, "SIGXFSZ", None):
            return errors.StudentLimit(
                function,
                f"your code wrote more than {size_text(limits.file_bytes)} "
                "(printed output or a file)",
                "remove large or endless print() calls; do not write files",
            )
        if isinstance(sig, int):
            name = _signal_name(sig)
            return errors.StudentCrashed(function, f"it was killed by {name}")
        if "exit" in report:
            code = report["exit"]
            return errors.StudentCrashed(
                function,
                f"your code ended the process with exit code {code}; do not call sys.exit(), "
                "exit() or os._exit() in an exercise file",
            )
        return errors.StudentCrashed(function, "the process exited")

    def _interpret(self, function: str, header: dict[str, Any], buffers: list[bytes]) -> CallResult:
        stdout = str(header.get("stdout", ""))[: self._limits.output_bytes + 100]
        if stdout:
            self.stdout.append(stdout)
        status = header.get("status")
        if status == "not-implemented":
            raise errors.NotImplementedYet(function)
        if status == "missing":
            raise errors.FunctionMissing(function)
        if status == "signature":
            raise errors.SignatureMismatch(function, str(header.get("error", ""))[:500])
        if status == "raised":
            error = str(header.get("error", ""))[:2000]
            if error.startswith("MemoryError") or "can't allocate memory" in error:
                raise errors.StudentLimit(
                    function,
                    "your code ran out of memory (limit "
                    f"{size_text(self._limits.address_space_bytes)})",
                    "avoid building large intermediate tensors (for example a dense d x d "
                    "Jacobian when only its diagonal is needed)",
                )
            if _file_too_large(error):  # EFBIG: SIGXFSZ ignored (by the student, or pid 1)
                self._discard_worker()  # its output file is full: the next call starts afresh
                raise self._ended(function, {"signal": getattr(signal, "SIGXFSZ", -1)})
            raise errors.StudentRaised(function, error, str(header.get("traceback", ""))[:4000])
        if status != "ok":
            self._discard_worker()
            raise errors.StudentCrashed(function, "unexpected reply from the worker")
        try:
            value = self._place(protocol.decode_value(header.get("value"), buffers))
            inputs = header.get("inputs")
            inputs_after = (
                None if inputs is None else self._place(protocol.decode_value(inputs, buffers))
            )
            calls, writes = _decode_watch(header.get("watch"))
            grads = header.get("gradients")
            gradients = None if grads is None else _decode_gradients(grads, buffers)
            problems = _texts(header.get("device_problems", []), 8)
        except (protocol.ProtocolError, ValueError, RecursionError, TypeError) as err:
            self._discard_worker()
            raise errors.StudentCrashed(function, f"unreadable reply: {err}") from None
        return CallResult(value, stdout, inputs_after, calls, writes, problems, gradients)

    def _place(self, value: Any) -> Any:
        """Move returned tensors to the grading device when the worker reported that device."""
        import torch

        if isinstance(value, torch.Tensor):
            reported = getattr(value, "reported_device", "cpu")
            if self._device != "cpu" and reported.split(":")[0] == self._device.split(":")[0]:
                moved = value.to(self._device)
                moved.reported_device = reported
                return moved
            return value
        if isinstance(value, tuple):
            return tuple(self._place(v) for v in value)
        if isinstance(value, list):
            return [self._place(v) for v in value]
        return value


def _texts(value: Any, limit: int, length: int = 600) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise protocol.ProtocolError("malformed list of texts")
    return tuple(str(item)[:length] for item in value[:limit])


def _decode_watch(node: Any) -> tuple[dict[str, int], dict[str, list[str]]]:
    """The watch report: call counts by path and the paths written in place."""
    if node is None:
        return {}, {}
    if not isinstance(node, dict):
        raise protocol.ProtocolError("malformed watch report")
    raw_calls = node.get("calls", {})
    raw_writes = node.get("writes", {})
    if not isinstance(raw_calls, dict) or not isinstance(raw_writes, dict):
        raise protocol.ProtocolError("malformed watch report")
    calls = {str(k)[:200]: int(v) for k, v in list(raw_calls.items())[:256] if type(v) is int}
    writes = {key: list(_texts(raw_writes.get(key, []), 16, 200)) for key in ("inputs", "returned")}
    return calls, writes


def _decode_gradients(nodes: Any, buffers: list[bytes]) -> tuple[GradientResult, ...]:
    """One `GradientResult` per reported output; every gradient rebuilt as plain data."""
    if not isinstance(nodes, list) or len(nodes) > 64:
        raise protocol.ProtocolError("malformed gradient report")
    results = []
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("wrt", {}), dict):
            raise protocol.ProtocolError("malformed gradient report")
        wrt = {
            str(name)[:200]: None if grad is None else protocol.decode_value(grad, buffers)
            for name, grad in list(node.get("wrt", {}).items())[:256]
        }
        detail = node.get("type") or node.get("error") or node.get("shape") or ""
        output, state = str(node.get("output", ""))[:100], str(node.get("state", ""))[:20]
        results.append(GradientResult(output, state, wrt, str(detail)[:600]))
    return tuple(results)


def _file_too_large(error: str) -> bool:
    """Whether a worker's error is EFBIG: a write past RLIMIT_FSIZE that did not end it (a
    namespace's pid 1 never gets SIGXFSZ; elsewhere the student may have ignored it)."""
    return "[Errno 27]" in error


def _open_pidfd(pid: int) -> int | None:
    """A pidfd pins the exact process, so a kill can never hit a recycled pid."""
    if pid <= 0 or not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
