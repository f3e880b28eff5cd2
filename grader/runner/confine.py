"""Steps a forked process takes on itself before any student code runs (Linux system calls).

Used by the fork server (`fork_in_new_pid_namespace`, `drop_capability_bounding_set`), by
the pid 1 of each worker's namespaces (`enter_namespaces`, `mount_proc`) and by the worker
(`drop_privileges`, `no_new_privileges`, `die_with_parent`). Every function
raises `ConfinementFailed` when a step that was asked for does not happen, so a worker
never runs student code with fewer layers than were reported.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
WORKER_NAMESPACES = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
# What the pid 1 of a fresh pid namespace unshares for itself (see `fork_in_new_pid_namespace`).
INIT_NAMESPACES = WORKER_NAMESPACES & ~CLONE_NEWPID

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


class ConfinementFailed(RuntimeError):
    """A sandbox step that was promised could not be taken."""


class PidNamespaceStuck(ConfinementFailed):
    """This process could not return to its own pid namespace after an unshare: every later
    child would be created in the wrong one, so the process must stop forking."""


@functools.cache
def _libc() -> ctypes.CDLL:
    """libc with the functions used here resolved, once per fork server rather than in
    every forked child (each lookup builds Python objects the child would copy in)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for name in ("prctl", "unshare", "setns", "mount"):
        getattr(libc, name, None)
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise ConfinementFailed(f"{what}: {os.strerror(err)}")


def _prctl(option: int, arg: int) -> int:
    return _libc().prctl(option, ctypes.c_ulong(arg), 0, 0, 0)


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def become_subreaper() -> bool:
    """Orphaned descendants (double forks, setsid) are re-parented to this process instead
    of init, so `kill_descendants` can find them. Linux only; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    return _prctl(PR_SET_CHILD_SUBREAPER, 1) == 0


def kill_descendants(rounds: int = 50) -> None:
    """SIGKILL and reap every child of this process, round after round, until none is left
    (each round's victims hand their own children to us, the subreaper)."""
    me = os.getpid()
    for _ in range(rounds):
        children = _children_of(me)
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        if not children:
            return
        for pid in children:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)


def _children_of(parent: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = stat_fields(int(entry))
        except OSError:
            continue
        if len(fields) > 1 and int(fields[1]) == parent:
            children.append(int(entry))
    return children


def stat_fields(pid: int) -> list[bytes]:
    """The fields of /proc/PID/stat after the command name: [0] is field 3 (state), [1]
    the parent pid, [11] and [12] user and system CPU time in clock ticks. Raises OSError."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        stat = handle.read()
    return stat[stat.rfind(b")") + 2 :].split()


def own_pid_namespace() -> int:
    """A descriptor of this process's pid namespace, to come back to after an unshare."""
    return os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)


def fork_in_new_pid_namespace(own_pid_namespace: int) -> int:
    """`os.fork()` a child that is pid 1 of a fresh pid namespace; this process stays where it
    is and its later children are created as before.

    unshare(CLONE_NEWPID) changes only where this process's *next* children are created;
    setns() to our own pid namespace right after the fork undoes that. If it cannot be
    undone PidNamespaceStuck is raised and the caller must stop forking."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWPID), "unshare pid")

    def back() -> None:
        if libc.setns(own_pid_namespace, CLONE_NEWPID) != 0:
            raise PidNamespaceStuck(f"setns back: {os.strerror(ctypes.get_errno())}")

    try:
        pid = os.fork()
    except BaseException:
        back()
        raise
    if pid != 0:
        back()
    return pid


def enter_namespaces(hide: list[str], tmp_bytes: int, namespaces: int = WORKER_NAMESPACES) -> None:
    """New `namespaces` (default pid/net/ipc/uts/mount; pid applies to this process's
    children), a fresh size-capped /tmp, and empty read-only tmpfs over each directory in
    `hide`."""
    libc = _libc()
    _check(libc.unshare(namespaces), "unshare")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    options = f"size={tmp_bytes},mode=1777".encode()
    for path in TMP_DIRS:
        if os.path.isdir(path):
            kept = [(d, os.open(d, os.O_PATH | os.O_DIRECTORY)) for d in code_dirs_under(path)]
            flags = MS_NOSUID | MS_NODEV
            _check(libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, options), f"tmpfs {path}")
            for directory, fd in kept:
                _bind_back_read_only(libc, directory, fd)
    for path in hide:
        if os.path.isdir(path):
            flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY
            _check(
                libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, b"size=4k,mode=0555"),
                f"hide {path}",
            )


def code_dirs_under(tmp: str) -> list[str]:
    """Directories code is imported from (Python, its packages, `grader`) that lie under
    `tmp`, e.g. a checkout or a student kit in /tmp: a fresh /tmp must not hide them.
    The project root itself is left out (it holds `solutions/`); `grader/` is kept."""
    package = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
    candidates = {sys.prefix, sys.exec_prefix, sys.base_prefix, package, *sys.path}
    found = {os.path.realpath(p) for p in candidates if p and os.path.isdir(p)}
    found.discard(os.path.dirname(package))
    prefix = tmp.rstrip("/") + "/"
    under = sorted(p for p in found if p.startswith(prefix))
    return [p for p in under if not any(p.startswith(q + "/") for q in under if q != p)]


def _bind_back_read_only(libc: ctypes.CDLL, directory: str, fd: int) -> None:
    """Show `directory` (held open as `fd` from before a tmpfs covered it) again, read-only."""
    try:
        os.makedirs(directory, exist_ok=True)
        source = f"/proc/self/fd/{fd}".encode()
        _check(libc.mount(source, directory.encode(), None, MS_BIND | MS_REC, None), "bind")
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
        _check(libc.mount(None, directory.encode(), None, flags, None), "read-only")
    finally:
        os.close(fd)


def mount_proc() -> None:
    """Mount a /proc that shows only this pid namespace (call as its pid 1)."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _check(_libc().mount(b"proc", b"/proc", b"proc", flags, None), "mount /proc")


def drop_capability_bounding_set() -> None:
    """Empty the capability bounding set (what any later exec could gain), best effort.

    The fork server does this once: children inherit the set, and this process keeps its
    effective capabilities (a namespace worker still mounts before it drops its uid).
    Dropping it in every worker cost ~2 ms of the ~40 prctl calls each."""
    for cap in range(64):
        if _prctl(PR_CAPBSET_DROP, cap) != 0:
            break  # past the last capability this kernel knows, or not allowed


def drop_privileges(uid: int) -> None:
    """Become `uid` (and gid `uid`) with no supplementary groups and no capabilities left,
    not even in the bounding set (emptied here unless the fork server already did)."""
    if not _bounding_set_empty():
        drop_capability_bounding_set()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getegid() != uid:
        raise ConfinementFailed("the worker is still privileged after dropping its uid")
    with contextlib.suppress(OSError):
        os.setuid(0)
        raise ConfinementFailed("the worker could become root again")


def _bounding_set_empty() -> bool:
    """Whether /proc/self/status shows an empty capability bounding set (False if unknown)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16) == 0
    except (OSError, ValueError, IndexError):
        pass
    return False


def no_new_privileges() -> None:
    """No setuid binary can raise privileges again; no other uid can inspect this process."""
    if sys.platform.startswith("linux"):
        _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
        _check(_prctl(PR_SET_DUMPABLE, 0), "dumpable")


def can_enter_namespaces(hide: list[str], tmp_bytes: int, own_pid_namespace: int) -> bool:
    """Try what a worker's pid 1 does (`fork_in_new_pid_namespace`, then `enter_namespaces`
    with `INIT_NAMESPACES` and `mount_proc`) in a throw-away child.

    Raises PidNamespaceStuck if this process could not return to its own pid namespace."""
    try:
        pid = fork_in_new_pid_namespace(own_pid_namespace)
    except PidNamespaceStuck:
        raise
    except ConfinementFailed:
        return False
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            enter_namespaces(hide, tmp_bytes, INIT_NAMESPACES)
            mount_proc()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def can_drop_privileges(uid: int) -> bool:
    """Try `drop_privileges` in a throw-away child."""
    return _in_child(lambda: drop_privileges(uid))


def _in_child(step: object) -> bool:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            step()  # type: ignore[operator]
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0
