"""The worker: runs inside a forked child, imports one student file, answers calls.

Everything here may be tampered with by the student code it imports, which is why the
trusted side believes nothing but the plain data it decodes (`protocol.decode_value`).

Conversation (trusted side first):
    worker -> {"status": "ready"} | {"status": "broken", "message": ...}
    then per call:
    trusted -> pickle {"function", "args", "kwargs", "device", "return_inputs"}
    worker  -> {"status": "started"}
    worker  -> {"status": "ok", "value": node[, "inputs": node]} | {"status": "raised", ...}
               | {"status": "missing"}
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import pickle
import sys
import tempfile
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.runner import protocol

FORBIDDEN_MODULES = ("solutions", "grader.hidden")
STDOUT_LIMIT = 4000


class _Forbidden(importlib.abc.MetaPathFinder):
    """Refuses to import the reference solutions or the hidden tests from student code."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if any(fullname == m or fullname.startswith(m + ".") for m in FORBIDDEN_MODULES):
            raise ImportError(f"{fullname} is not available to submissions")
        return None


def serve(
    sock: Any, submission_file: str, module_name: str, threads: int = 1
) -> None:  # pragma: no cover - runs in a forked child
    """Entry point called by the zygote in the forked worker."""
    _forget_reference_modules()
    output = _capture_output()
    _limit_threads(threads)
    module, broken = _import_student(Path(submission_file), module_name)
    if broken is not None:
        protocol.send_reply(sock, {"status": "broken", "message": broken}, [])
        return
    protocol.send_reply(sock, {"status": "ready"}, [])
    while True:
        try:
            request = pickle.loads(protocol.recv_frame(sock, 1 << 34))
        except protocol.PeerClosed:
            return
        protocol.send_reply(sock, {"status": "started"}, [])
        header, buffers = _call(module, request, Path(submission_file))
        header["stdout"] = _read_new_output(output)
        protocol.send_reply(sock, header, buffers)


def _forget_reference_modules() -> None:
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES):
            del sys.modules[name]
    sys.meta_path.insert(0, _Forbidden())


class _Output:
    """The worker's captured stdout/stderr and how much of it was already reported."""

    def __init__(self) -> None:
        handle, name = tempfile.mkstemp(prefix="flowgrade-out-")
        os.unlink(name)
        self.fd = handle
        self.reported = 0


def _capture_output() -> _Output:
    """Send fd 1 and 2 to an unlinked temp file, so prints reach the student, not the grader."""
    sys.stdout.flush()
    sys.stderr.flush()
    output = _Output()
    os.dup2(output.fd, 1)
    os.dup2(output.fd, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    return output


def _read_new_output(output: _Output) -> str:
    sys.stdout.flush()
    sys.stderr.flush()
    end = os.lseek(output.fd, 0, os.SEEK_END)
    start = output.reported
    output.reported = end
    if end <= start:
        return ""
    data = os.pread(output.fd, min(end - start, STDOUT_LIMIT), start)
    text = data.decode("utf-8", "replace")
    if end - start > STDOUT_LIMIT:
        text += f"\n[... {end - start - STDOUT_LIMIT} more bytes of output not shown]"
    return text


def _limit_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _import_student(path: Path, module_name: str) -> tuple[ModuleType | None, str | None]:
    """Import the student's file; on failure return a one-line reason with the line number."""
    if not path.is_file():
        return None, f"{path.name} is missing from the submission"
    try:
        source = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"{path.name} is not valid UTF-8 text (byte {err.start})"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"student_{module_name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        code = compile(source, str(path), "exec")
        exec(code, module.__dict__)
    except SyntaxError as err:
        return None, f"{path.name}, line {err.lineno}: syntax error: {err.msg}"
    except BaseException as err:
        line = _student_line(err, path)
        return None, f"{path.name}{line}: importing it raised {type(err).__name__}: {err}"
    return module, None


def _student_line(err: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == str(path)]
    return f", line {frames[-1].lineno}" if frames else ""


def _call(module: ModuleType, request: dict[str, Any], path: Path) -> tuple[dict, list[bytes]]:
    name = request["function"]
    function = getattr(module, name, None)
    if not callable(function):
        return {"status": "missing"}, []
    device = request.get("device", "cpu")
    args = _to_device(request.get("args", ()), device)
    kwargs = _to_device(request.get("kwargs", {}), device)
    try:
        value = function(*args, **kwargs)
    except NotImplementedError:
        return {"status": "not-implemented"}, []
    except BaseException as err:
        return {
            "status": "raised",
            "error": f"{type(err).__name__}: {err}"[:2000],
            "traceback": _student_traceback(err, path),
        }, []
    buffers: list[bytes] = []
    header: dict[str, Any] = {"status": "ok", "value": protocol.encode_value(value, buffers)}
    if request.get("return_inputs"):
        header["inputs"] = protocol.encode_value(list(args), buffers)
    return header, buffers


def _student_traceback(err: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == str(path)]
    lines = [f"  {path.name}, line {f.lineno}, in {f.name}: {f.line or ''}" for f in frames]
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
