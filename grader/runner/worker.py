"""The worker: runs inside a forked child, confines itself, imports one student file, answers calls.

Everything here may be tampered with by the student code it imports, which is why the
trusted side believes nothing but the plain data it decodes (`protocol.decode_value`), and
why every confinement step happens *before* the student's file is executed.

Conversation (trusted side first):
    worker  -> {"status": "hello", "pid", "pidns"}      before any confinement or student code
    trusted -> pickle {"source": bytes}
    worker  -> {"status": "ready"} | {"status": "broken", "message"}
               | {"status": "sandbox-failed", "message"}
    then per call:
    trusted -> pickle {"function", "args", "kwargs", "device", "return_inputs", "ack",
                       "trusted", "check_device", "gradients"}
    worker  -> {"status": "started"}                   only when "ack" asks for it
    worker  -> {"status": "ok", "value": node, "watch": {...}[, "inputs": node]
                [, "device_problems": [...]][, "gradients": [...]]}
               | {"status": "raised", ...} | {"status": "missing"}
               | {"status": "signature", "error"} | {"status": "not-implemented"}

Every call is watched (`watch.CallWatch`: calls of the trusted objects named by the module
prefixes in "trusted", in-place writes into tensors the student did not create). With
"check_device" on a CPU worker the call runs under `device_check.VirtualDevice`; with
"gradients" (a `gradients.GradientSpec`) it runs in the gradient call mode and every
gradient comes back as a plain array.
"""

from __future__ import annotations

import importlib.abc
import inspect
import linecache
import os
import pickle
import signal
import sys
import tempfile
import traceback
import types
from typing import Any

from grader.runner import confine, gradients, protocol, tensor_pickle  # noqa: F401 - unpickled
from grader.runner.device_check import VirtualDevice
from grader.runner.limits import Limits, apply_rlimits
from grader.runner.watch import CallWatch

FORBIDDEN_MODULES = ("solutions", "grader.hidden")


class _Forbidden(importlib.abc.MetaPathFinder):
    """Refuses to import the reference solutions or the hidden tests from student code."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if any(fullname == m or fullname.startswith(m + ".") for m in FORBIDDEN_MODULES):
            raise ImportError(f"{fullname} is not available to submissions")
        return None


def serve(
    sock: Any,
    *,
    sandbox: dict[str, Any],
    module_name: str,
    display_name: str,
    device: str,
    limits: dict[str, Any],
) -> None:  # pragma: no cover - runs in a forked child
    """Entry point of the forked worker (pid 1 of its namespace, or a supervisor's child)."""
    limit = Limits(**limits)
    try:
        output = _confine(sock, sandbox, device, limit)
    except BaseException as err:
        message = f"sandbox setup failed: {type(err).__name__}: {err}"[:500]
        protocol.send_reply(sock, {"status": "sandbox-failed", "message": message}, [])
        return
    request = pickle.loads(protocol.recv_frame(sock, 1 << 30))
    module, broken = _import_student(request["source"], display_name, module_name)
    if broken is not None:
        protocol.send_reply(sock, {"status": "broken", "message": broken}, [])
        return
    protocol.send_reply(sock, {"status": "ready"}, [])
    while True:
        try:
            request = pickle.loads(protocol.recv_frame(sock, 1 << 34))
        except protocol.PeerClosed:
            return
        if request.get("ack"):
            protocol.send_reply(sock, {"status": "started"}, [])
        header, buffers = _call(module, request, display_name)
        header["stdout"] = _read_new_output(output, limit.output_bytes)
        protocol.send_reply(sock, header, buffers)


def _confine(sock: Any, sandbox: dict[str, Any], device: str, limit: Limits) -> _Output:
    """Every layer, in order, before the student's file is even decoded."""
    os.setsid()
    confine.die_with_parent()
    pidns = bool(sandbox.get("namespaces"))
    hello = {"status": "hello", "pid": os.getpid(), "pidns": pidns}
    protocol.send_reply(sock, hello, [])
    output = _capture_output()
    if hasattr(signal, "SIGXFSZ"):  # Python ignores it; a write past the limit must end us
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    _limit_threads(limit.threads)
    drop = bool(sandbox.get("drop_uid"))
    grace = 0 if os.getpid() == 1 else 2  # pid 1 of its namespace: SIGXCPU would be ignored
    failed = apply_rlimits(limit, memory=device == "cpu", processes=drop, cpu_grace_seconds=grace)
    if drop and failed:
        raise confine.ConfinementFailed(f"could not set rlimits: {', '.join(failed)}")
    if drop:
        confine.drop_privileges(int(sandbox["uid"]))
        # Linux forgets the parent-death signal when the uid changes: ask again, so that a
        # worker that is pid 1 of its namespace still dies (and takes the namespace with
        # it) when the fork server does. Until here no student code has run.
        confine.die_with_parent()
    confine.no_new_privileges()
    os.chdir(tempfile.gettempdir())
    if any(name in sys.modules for name in FORBIDDEN_MODULES):  # the fork server dropped them
        raise confine.ConfinementFailed("a reference module is loaded in the worker")
    sys.meta_path.insert(0, _Forbidden())
    return output


def forget_reference_modules() -> None:
    """Drop any reference or hidden-test module from `sys.modules` (the fork server calls
    this once before serving: in every worker, walking `sys.modules` touched ~3000 shared
    objects and cost ~5 ms of copy-on-write faults). Workers then refuse to import them."""
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES):
            del sys.modules[name]


class _Output:
    """The worker's captured stdout/stderr and how much of it was already reported."""

    def __init__(self) -> None:
        directory = tempfile.gettempdir()  # the fork server looked it up (`zygote.main`)
        try:  # a nameless file: nothing to unlink, no random name to draw
            self.fd = os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
        except (AttributeError, OSError):  # not Linux, or a filesystem without O_TMPFILE
            handle, name = tempfile.mkstemp(prefix="flowgrade-out-", dir=directory)
            os.unlink(name)
            self.fd = handle
        self.reported = 0


def _capture_output() -> _Output:
    """Send fd 1 and 2 to an unlinked temp file, so prints reach the student, not the grader.
    Its size is capped by RLIMIT_FSIZE; stdin is /dev/null, so reading it never blocks."""
    sys.stdout.flush()
    sys.stderr.flush()
    output = _Output()
    os.dup2(output.fd, 1)
    os.dup2(output.fd, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return output


def _read_new_output(output: _Output, limit: int) -> str:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # the student closed or broke them; what reached the file is still there
    end = os.lseek(output.fd, 0, os.SEEK_END)
    start = output.reported
    output.reported = end
    if end <= start:
        return ""
    data = os.pread(output.fd, min(end - start, limit), start)
    text = data.decode("utf-8", "replace")
    if end - start > limit:
        text += f"\n[... {end - start - limit} more bytes of output not shown]"
    return text


def _limit_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _import_student(
    source: bytes, display: str, module_name: str
) -> tuple[types.ModuleType | None, str | None]:
    """Execute the student's file; on failure return a one-line reason with the line number."""
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"{display} is not valid UTF-8 text (byte {err.start})"
    linecache.cache[display] = (len(text), None, text.splitlines(True), display)
    module = types.ModuleType(f"student_{module_name}")
    module.__file__ = display
    sys.modules[module.__name__] = module
    try:
        code = compile(text, display, "exec")
        exec(code, module.__dict__)
    except SyntaxError as err:
        return None, f"{display}, line {err.lineno}: syntax error: {err.msg}"
    except BaseException as err:
        line = _student_line(err, display)
        what = f"{type(err).__name__}: {err}"[:500]
        return None, f"{display}{line}: importing it raised {what}"
    return module, None


def _student_line(err: BaseException, display: str) -> str:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == display]
    return f", line {frames[-1].lineno}" if frames else ""


def _call(module: types.ModuleType, request: dict[str, Any], display: str) -> tuple[dict, list]:
    name = request["function"]
    function = getattr(module, name, None)
    if not callable(function):
        return {"status": "missing"}, []
    device = request.get("device", "cpu")
    args = _to_device(request.get("args", ()), device)
    kwargs = _to_device(request.get("kwargs", {}), device)
    mismatch = _signature_mismatch(function, args, kwargs)
    if mismatch is not None:
        return {"status": "signature", "error": mismatch}, []
    watch = CallWatch(args, kwargs, tuple(request.get("trusted", ())))
    spec = request.get("gradients")
    virtual = VirtualDevice(args, kwargs, display) if _checks_device(request, device) else None
    grads: list[dict[str, Any]] | None = None
    try:
        with watch:
            if spec is not None:
                value, grads = gradients.gradient_call(function, args, kwargs, spec)
            elif virtual is not None:
                with virtual:
                    value = function(*args, **kwargs)
                virtual.check_outputs(value)
            else:
                value = function(*args, **kwargs)
    except NotImplementedError:
        return {"status": "not-implemented"}, []
    except BaseException as err:
        return {
            "status": "raised",
            "error": f"{type(err).__name__}: {err}"[:2000],
            "traceback": _student_traceback(err, display),
        }, []
    buffers: list[bytes] = []
    header: dict[str, Any] = {"status": "ok", "value": protocol.encode_value(value, buffers)}
    header["watch"] = watch.report()
    if request.get("return_inputs"):
        header["inputs"] = protocol.encode_value(list(args), buffers)
    if virtual is not None:
        header["device_problems"] = virtual.problems
    if grads is not None:
        header["gradients"] = _encode_gradients(grads, buffers)
    return header, buffers


def _checks_device(request: dict[str, Any], device: str) -> bool:
    """The virtual-device check runs where the device cannot catch the slips itself."""
    return bool(request.get("check_device")) and device == "cpu"


def _encode_gradients(report: list[dict[str, Any]], buffers: list[bytes]) -> list[dict[str, Any]]:
    """Gradients as plain array nodes (None stays None: the output does not use that input)."""
    encoded = []
    for entry in report:
        entry = dict(entry)
        if "wrt" in entry:
            entry["wrt"] = {
                name: None if grad is None else protocol.encode_value(grad, buffers)
                for name, grad in entry["wrt"].items()
            }
        encoded.append(entry)
    return encoded


def _signature_mismatch(function: Any, args: Any, kwargs: dict[str, Any]) -> str | None:
    """Why `function(*args, **kwargs)` cannot bind, e.g. 'missing argument clamp', or None."""
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError as err:
        name = getattr(function, "__name__", "the function")
        return f"{name}{_shown_signature(function)}: {err}"[:500]
    except (ValueError, RecursionError):
        return None  # no signature to check (a builtin); let the call decide
    return None


def _shown_signature(function: Any) -> str:
    try:
        return str(inspect.signature(function))
    except (TypeError, ValueError):
        return "(...)"


def _student_traceback(err: BaseException, display: str) -> str:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == display]
    lines = [f"  {display}, line {f.lineno}, in {f.name}: {f.line or ''}" for f in frames]
    return "\n".join(lines[-5:])


def _to_device(value: Any, device: str) -> Any:
    import torch

    if device == "cpu":
        return value
    if isinstance(value, torch.Tensor | torch.nn.Module):
        return value.to(device)
    if isinstance(value, tuple | list):
        return type(value)(_to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    return value
