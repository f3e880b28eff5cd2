"""Operating-system layers around student code: what is available here, and how to use it.

Layers, outermost first (each is optional except the first two):

1. process split — student code runs in a worker process; only JSON + raw numbers come back;
2. rlimits — CPU, memory, file size, open files (and processes under a dedicated uid);
3. bubblewrap (`bwrap`, Linux) — the fork server runs in a fresh mount view that holds only
   the Python installation and the `grader` package (never `solutions/`, the hidden tests,
   submissions or the gradebook), with no network, its own pid/ipc/uts namespaces and a
   private, size-capped /tmp;
4. per-worker namespaces (Linux, as root) — every worker is pid 1 of its own pid namespace
   (killing it kills everything it started), with its own network, ipc and mount namespace
   (a fresh /tmp; `solutions/` and the hidden tests covered by empty tmpfs);
5. unprivileged uid (Linux, as root) — each worker drops to its own uid from a dedicated
   range, so it can write nothing it does not own and the process limit applies.

`plan()` picks the strongest combination available (or the one a course asks for) and
`describe()` says in one line which layers are active.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from grader.runner.limits import Limits, size_text

MODES = ("auto", "bwrap", "unshare", "basic")
UID_BASE = 61000
UID_COUNT = 1000
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
PROJECT_ROOT = PACKAGE_ROOT.parent
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
)


class SandboxUnavailable(RuntimeError):
    """A course asked for a sandbox mode this machine cannot provide."""


@dataclass(frozen=True)
class Plan:
    """How the fork server is started and what each worker does before student code.

    `launcher`: argv prefix that wraps the fork server (bwrap ...) or empty;
    `worker_namespaces`: each worker gets its own pid/net/ipc/mount namespaces;
    `drop_uid`: each worker drops to a uid of its own (root only).
    """

    mode: str
    launcher: tuple[str, ...]
    worker_namespaces: bool
    drop_uid: bool
    hide: tuple[str, ...]


def requested_mode(mode: str | None = None) -> str:
    """The mode asked for: the argument, else $FLOWGRADE_SANDBOX, else `auto`."""
    chosen = (mode or os.environ.get("FLOWGRADE_SANDBOX") or "auto").strip().lower()
    if chosen not in MODES:
        raise SandboxUnavailable(
            f"unknown sandbox mode {chosen!r}; valid modes: {', '.join(MODES)}"
        )
    return chosen


def is_linux() -> bool:
    return sys.platform.startswith("linux")


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@functools.cache
def bwrap_path() -> str | None:
    """The `bwrap` binary if it exists and can create the namespaces we need here."""
    found = shutil.which("bwrap")
    if not found or not is_linux():
        return None
    probe = [found, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--unshare-ipc"]
    probe += ["--die-with-parent", "--", "/bin/sh", "-c", "exit 0"]
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return found if ok else None


def secret_paths() -> tuple[str, ...]:
    """Directories no worker may see: the reference solutions and the hidden tests."""
    paths = {PROJECT_ROOT / "solutions", PACKAGE_ROOT / "hidden"}
    with contextlib.suppress(ImportError, ValueError):
        import importlib.util

        spec = importlib.util.find_spec("solutions")
        if spec is not None and spec.submodule_search_locations:
            paths.update(Path(p) for p in spec.submodule_search_locations)
    return tuple(sorted(str(p.resolve()) for p in paths if p.is_dir()))


def plan(mode: str | None = None, tmp_bytes: int = Limits.tmp_bytes) -> Plan:
    """The strongest sandbox available for `mode` (`auto` picks; others insist).
    `tmp_bytes` caps the fork server's shared /tmp under bubblewrap."""
    chosen = requested_mode(mode)
    hide = secret_paths()
    root_linux = is_linux() and is_root()
    if chosen in ("auto", "bwrap"):
        found = bwrap_path()
        if found:
            return Plan(
                "bwrap", tuple(bwrap_argv(found, hide, tmp_bytes)), root_linux, root_linux, hide
            )
        if chosen == "bwrap":
            raise SandboxUnavailable(
                "sandbox mode bwrap was requested but bubblewrap is not installed or cannot "
                "create namespaces here (Debian: apt-get install bubblewrap)"
            )
    if chosen in ("auto", "unshare"):
        if root_linux:
            return Plan("unshare", (), True, _python_readable_by_others(), hide)
        if chosen == "unshare":
            raise SandboxUnavailable("sandbox mode unshare needs Linux and root")
    return Plan("basic", (), False, False, hide)


def describe(plan: Plan, limits: Limits, verified: dict[str, bool] | None = None) -> str:
    """One line naming the active layers, e.g. for `grade batch`'s header.

    `verified` (from the fork server's hello) downgrades layers that failed at start-up.
    """
    verified = verified or {}
    namespaces = plan.worker_namespaces and verified.get("namespaces", True)
    drop_uid = plan.drop_uid and verified.get("drop_uid", True)
    rlimits = (
        f"cpu {limits.cpu_seconds} s, memory {size_text(limits.address_space_bytes)}, "
        f"files {size_text(limits.file_bytes)}, open files {limits.open_files}"
    )
    if drop_uid:
        rlimits += f", processes {limits.processes}"
    layers = [
        "process split (JSON replies, no pickle)",
        f"wall time (call {limits.call_seconds:g} s, submission {limits.submission_seconds:g} s)",
        f"rlimits ({rlimits})",
    ]
    if plan.mode == "bwrap":
        layers.append(
            "bubblewrap (read-only view of python + grader only, no network, "
            "pid/ipc/uts namespaces, private /tmp)"
        )
    if namespaces:
        layers.append("per-worker namespaces (pid, network, ipc, mount with fresh /tmp)")
    if drop_uid:
        layers.append(f"unprivileged uid per worker ({UID_BASE}-{UID_BASE + UID_COUNT - 1})")
    if plan.mode == "basic":
        layers.append("no OS isolation available (no bwrap, not root on Linux)")
    return f"sandbox {plan.mode}: " + "; ".join(layers)


def zygote_env() -> dict[str, str]:
    """A minimal environment for the fork server: nothing of the grader's own environment
    (tokens, paths) reaches student code."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    for name in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


# ---------------------------------------------------------------- bubblewrap command line


def bwrap_argv(bwrap: str, hide: tuple[str, ...], tmp_bytes: int) -> list[str]:
    """`bwrap ... --` that shows the fork server only Python, its packages and `grader`."""
    argv = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--new-session"]
    if threading.current_thread() is threading.main_thread():
        # bwrap's parent-death signal fires when the *thread* that started it exits.
        argv.append("--die-with-parent")
    binds = _python_dirs()
    argv += _system_binds()
    # The private /tmp comes first, so that a package living under /tmp (a student kit
    # unpacked there, a test's temporary copy) is bound on top of it rather than hidden.
    argv += ["--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    created: set[str] = {"/tmp"}
    for path in binds:
        for parent in reversed(Path(path).parents):
            text = str(parent)
            if text == "/" or text in created or _covered(text, binds + list(SYSTEM_DIRS)):
                continue
            argv += ["--perms", "0755", "--dir", text]
            created.add(text)
        argv += ["--ro-bind", path, path]
    for secret in hide:
        if _covered(secret, binds):
            argv += ["--tmpfs", secret, "--remount-ro", secret]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += _gpu_binds()
    argv += ["--chdir", "/tmp", "--"]
    return argv


def _system_binds() -> list[str]:
    argv: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in ETC_FILES:
        argv += ["--ro-bind-try", path, path]
    return argv


def _gpu_binds() -> list[str]:
    devices = sorted(str(p) for p in Path("/dev").glob("nvidia*"))
    argv: list[str] = []
    for device in devices:
        argv += ["--dev-bind", device, device]
    if devices:
        argv += ["--ro-bind-try", "/sys", "/sys"]
    return argv


def _python_dirs() -> list[str]:
    """Directories Python and its packages live in, plus the `grader` package (the project
    root itself is never shown: it holds solutions, submissions and perhaps a gradebook)."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    candidates.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    library_path = os.environ.get("LD_LIBRARY_PATH", "")  # e.g. the CUDA driver in containers
    candidates.update(p for p in library_path.split(os.pathsep) if p and os.path.isdir(p))
    project = str(PROJECT_ROOT)
    # sys.path entries inside the project (tests/, the root itself) are never shown; a
    # virtual environment inside the project is, through the prefixes above.
    candidates.update(
        p
        for p in sys.path
        if p and os.path.isdir(p) and not _covered(os.path.realpath(p), [project])
    )
    kept = set()
    for candidate in candidates:
        path = os.path.realpath(candidate)
        if path == "/" or _covered(project, [path]):
            continue  # never bind the project root or anything above it
        if not _covered(path, list(SYSTEM_DIRS)):
            kept.add(path)
    kept.add(str(PACKAGE_ROOT))
    ordered = sorted(kept)
    return [p for p in ordered if not _covered(p, [q for q in ordered if q != p])]


def _covered(path: str, roots: list[str]) -> bool:
    """Whether `path` equals or lies under one of `roots`."""
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _python_readable_by_others() -> bool:
    """Whether an unprivileged uid could still import modules after dropping root: every
    directory on the way to Python's files must be world-searchable (pyenv under /root is not)."""
    for path in _python_dirs():
        current = Path(path)
        for part in [*reversed(current.parents), current]:
            try:
                if not os.stat(part).st_mode & 0o001:
                    return False
            except OSError:
                return False
    return True
