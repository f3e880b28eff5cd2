"""The trusted side of a worker: call student functions by name, with time limits.

`StudentModule` looks like the student's module to a hidden test
(`student.affine_coupling_forward(z, conditioner)`), but every call crosses a process
boundary: arguments go out as a pickle, results come back as plain decoded data.
A worker that times out or crashes is killed with its whole process group and replaced.
"""

from __future__ import annotations

import contextlib
import copy
import os
import pickle
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.runner import errors, protocol
from grader.runner.zygote import WorkerSpec, Zygote

DEFAULT_CALL_TIMEOUT_S = 10.0
IMPORT_TIMEOUT_S = 20.0
TRANSFER_TIMEOUT_S = 60.0


@dataclass
class _Worker:
    pid: int
    sock: socket.socket

    def kill(self) -> None:
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, 9)):
            with contextlib.suppress(OSError):
                target()
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass(frozen=True)
class CallResult:
    """A decoded return value, the student's printed output, and (if asked) the inputs
    as they were after the call."""

    value: Any
    stdout: str
    inputs_after: list[Any] | None


class StudentModule:
    """Proxy for one student file, executed in isolated worker processes."""

    def __init__(
        self,
        submission_file: Path,
        module_name: str,
        zygote: Zygote,
        device: str = "cpu",
        call_timeout: float = DEFAULT_CALL_TIMEOUT_S,
        functions: tuple[str, ...] = (),
    ) -> None:
        self._file = submission_file
        self._module_name = module_name
        self._zygote = zygote
        self._device = device
        self._call_timeout = call_timeout
        self._functions = functions
        self._worker: _Worker | None = None
        self._broken: errors.SubmissionBroken | None = None
        self.stdout: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or (self._functions and name not in self._functions):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        """Call `function(*args, **kwargs)` in the worker and return its decoded value."""
        return self.call_full(function, args, kwargs).value

    def call_full(
        self,
        function: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        return_inputs: bool = False,
    ) -> CallResult:
        worker = self._ready_worker(function)
        request = {
            "function": function,
            "args": _to_cpu(args),
            "kwargs": _to_cpu(kwargs or {}),
            "device": self._device,
            "return_inputs": return_inputs,
        }
        limit = self._call_timeout if timeout is None else timeout
        try:
            protocol.send_frame(worker.sock, pickle.dumps(request, protocol=5))
            self._expect(worker, function, TRANSFER_TIMEOUT_S, "started")
            header, buffers = self._receive(worker, function, limit)
        except errors.StudentError:
            self._discard_worker()
            raise
        return self._interpret(function, header, buffers)

    def close(self) -> None:
        self._discard_worker()

    # ------------------------------------------------------------------ internals

    def _ready_worker(self, function: str) -> _Worker:
        if self._broken is not None:
            raise errors.SubmissionBroken(function, self._broken.detail)
        if self._worker is not None:
            return self._worker
        spec = WorkerSpec(
            "grader.runner.worker",
            "serve",
            {"submission_file": str(self._file), "module_name": self._module_name},
        )
        pid, sock = self._zygote.spawn(spec)
        worker = _Worker(pid, sock)
        try:
            header, _ = self._receive(worker, function, IMPORT_TIMEOUT_S)
        except errors.StudentError as err:
            worker.kill()
            self._broken = errors.SubmissionBroken(function, err.detail)
            raise self._broken from None
        if header.get("status") != "ready":
            worker.kill()
            message = str(header.get("message", "the file could not be imported"))[:2000]
            self._broken = errors.SubmissionBroken(function, message)
            raise self._broken
        self._worker = worker
        return worker

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
        worker.sock.settimeout(timeout)
        try:
            return protocol.recv_reply(worker.sock)
        except TimeoutError:
            worker.kill()
            raise errors.StudentTimeout(function, timeout) from None
        except protocol.PeerClosed:
            worker.kill()
            raise errors.StudentCrashed(function, "the process exited") from None
        except (protocol.ProtocolError, OSError) as err:
            worker.kill()
            raise errors.StudentCrashed(function, f"unreadable reply: {err}") from None

    def _interpret(self, function: str, header: dict[str, Any], buffers: list[bytes]) -> CallResult:
        stdout = str(header.get("stdout", ""))
        if stdout:
            self.stdout.append(stdout)
        status = header.get("status")
        if status == "not-implemented":
            raise errors.NotImplementedYet(function)
        if status == "missing":
            raise errors.FunctionMissing(function)
        if status == "raised":
            raise errors.StudentRaised(
                function, str(header.get("error", ""))[:2000], str(header.get("traceback", ""))
            )
        if status != "ok":
            self._discard_worker()
            raise errors.StudentCrashed(function, "unexpected reply from the worker")
        try:
            value = self._place(protocol.decode_value(header.get("value"), buffers))
            inputs = header.get("inputs")
            inputs_after = (
                None if inputs is None else self._place(protocol.decode_value(inputs, buffers))
            )
        except protocol.ProtocolError as err:
            self._discard_worker()
            raise errors.StudentCrashed(function, f"unreadable reply: {err}") from None
        return CallResult(value, stdout, inputs_after)

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


def _to_cpu(value: Any) -> Any:
    """Arguments travel on the CPU; the worker moves them to the grading device."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, torch.nn.Module):
        return copy.deepcopy(value).cpu()
    if isinstance(value, tuple | list):
        return type(value)(_to_cpu(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    return value
