"""Helpers for the hostile-submission tests: build a submission for exercise-03 from an
honest part and a hostile part, grade it with short limits, and check the grader is unharmed.

Score arithmetic for exercise-03 (10 points): soft_clamp is worth 1; every other test needs
a working forward/inverse. A hostile file that keeps an honest soft_clamp therefore earns
exactly 1 point, a pure cheat 0.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

from grader.results import ExerciseResult
from grader.runner.limits import MIB, Limits
from grader.runner.zygote import Zygote

ROOT = Path(__file__).resolve().parents[2]
FILE = "exercise_03_affine_coupling.py"
REFERENCE = (ROOT / "solutions" / FILE).read_text()

# Short limits keep the folder fast (an attack that hangs costs up to 5 s) while leaving an
# honest submission room on a loaded machine.
FAST = Limits(
    call_seconds=1.0,
    submission_seconds=5.0,
    import_seconds=4.0,
    cpu_seconds=4,
    file_bytes=4 * MIB,
    tmp_bytes=16 * MIB,
    reply_bytes=16 * MIB,
)

HEADER = """\
from __future__ import annotations
import os, sys, math
import torch
"""

HONEST_SOFT_CLAMP = """
def soft_clamp(raw, bound):
    return bound * torch.tanh(raw / bound)
"""

STUB_SOFT_CLAMP = """
def soft_clamp(raw, bound):
    raise NotImplementedError
"""

FORWARD_STUBS = """
def affine_coupling_forward(z, conditioner, clamp=None):
    raise NotImplementedError

def affine_coupling_inverse(x, conditioner, clamp=None):
    raise NotImplementedError
"""


def source(*bodies: str, honest_clamp: bool = True, stubs: bool = False) -> str:
    """A full exercise file: header, soft_clamp (honest or stub), then the hostile bodies
    (each dedented on its own)."""
    clamp = HONEST_SOFT_CLAMP if honest_clamp else STUB_SOFT_CLAMP
    rest = FORWARD_STUBS if stubs else ""
    return HEADER + clamp + rest + "\n" + "\n".join(textwrap.dedent(b) for b in bodies)


def write_submission(folder: Path, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / FILE
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)
    return folder


def assert_unharmed(zygote: Zygote) -> None:
    """The fork server still serves, and no process of a sandbox uid is left behind."""
    assert zygote.alive(), "the fork server died"
    deadline = time.monotonic() + 5
    while (left := sandbox_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes outlived grading: {left}"


def sandbox_processes(marker: str = "") -> list[int]:
    """Pids running under a worker uid (61000-61999), or whose command line has `marker`."""
    from grader.runner.sandbox import UID_BASE, UID_COUNT

    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state = next((ln for ln in status.splitlines() if ln.startswith("State:")), "")
        if "Z" in state.split()[1:2]:
            continue  # a zombie holds nothing and runs nothing
        uid_line = next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
        uid = int(uid_line.split()[1])
        if UID_BASE <= uid < UID_BASE + UID_COUNT or (marker and marker in cmdline):
            found.append(int(entry))
    return found


def messages(result: ExerciseResult) -> str:
    """Everything the student reads, in one string."""
    parts = [t.output for t in result.tests] + list(result.notes)
    return "\n".join(parts)


def assert_score(result: ExerciseResult, expected: float) -> None:
    """The exact score, with no test reported as a grader error."""
    errors = [t.name for t in result.tests if t.status == "error"]
    assert not errors, f"grader errors in {errors}: {messages(result)}"
    assert result.score == expected, messages(result)


# Attack building blocks shared by the single-submission and the batch attack tests.

FORK_BOMB = """
def affine_coupling_forward(z, conditioner, clamp=None):
    while True:
        try:
            os.fork()
        except OSError:
            pass

affine_coupling_inverse = affine_coupling_forward
"""

FIND_SOCKET = """
import gc, socket, struct, json, pickle

def worker_socket():
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.fileno() >= 0:
            return obj
    raise SystemExit("no socket found")

def frame(payload):
    return struct.pack("!Q", len(payload)) + payload
"""

STEAL_FROM_CANDIDATES = """
def steal():
    for path in candidates():
        try:
            text = path.read_text()
        except OSError:
            continue
        if "torch.exp(log_scale)" in text and "NotImplementedError" not in text:
            module = types.ModuleType("stolen")
            exec(compile(text, "stolen", "exec"), module.__dict__)
            return module
    return None
"""


def background_processes(marker: str) -> str:
    """A submission that starts `sleep MARKER` twice: double-forked and in a new session."""
    return source(
        f"""
        import subprocess
        def affine_coupling_forward(z, conditioner, clamp=None):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "{marker}"])
                os._exit(0)
            subprocess.Popen(["/bin/sleep", "{marker}"], start_new_session=True)
            return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)

        affine_coupling_inverse = affine_coupling_forward
        """
    )
