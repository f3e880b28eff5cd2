"""Attacks on the machine's time, memory, processes, output and disk.

Limits are short here (`FAST`: 1 s per call, 5 s per submission); each attack must end
within them, tell the student which limit it hit, and leave nothing running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch
from hostile import (
    FAST,
    FILE,
    FORK_BOMB,
    assert_score,
    background_processes,
    messages,
    sandbox_processes,
    source,
    write_submission,
)

from grader.runner import sandbox
from grader.runner.client import StudentModule
from grader.runner.errors import StudentError, StudentLimit
from grader.runner.zygote import Zygote, _own_cpu_seconds, ending

needs_dedicated_uid = pytest.mark.skipif(
    not sandbox.plan().drop_uid,
    reason="a fork bomb is only safe to run where workers get their own uid (root + bwrap)",
)


def test_infinite_loop_is_stopped_by_the_call_limit(grade) -> None:
    started = time.monotonic()
    result = grade(
        source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                while True:
                    pass

            affine_coupling_inverse = affine_coupling_forward
            """
        )
    )
    assert_score(result, 1)
    assert "your function ran for more than 1 s" in messages(result)
    assert time.monotonic() - started < 10


def test_cpu_time_limit(grade) -> None:
    result = grade(
        source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                while True:
                    pass

            affine_coupling_inverse = affine_coupling_forward
            """
        ),
        call_seconds=10.0,
        submission_seconds=3.0,
        cpu_seconds=1,
    )
    assert_score(result, 1)
    assert "your code used more than 1 s of CPU time" in messages(result)


def test_how_a_worker_that_was_pid_1_of_its_namespace_ended() -> None:
    """Such a worker gets SIGKILL, not SIGXCPU, at its CPU limit (Linux ignores SIGXCPU for
    a pid 1); the fork server reports it as the CPU limit only when that much was used."""
    killed, exited = signal.SIGKILL, 3 << 8  # wait statuses: killed by SIGKILL, exit code 3
    assert ending(killed, cpu_used=4.0, cpu_seconds=4) == {"signal": signal.SIGXCPU}
    assert ending(killed, cpu_used=0.2, cpu_seconds=4) == {"signal": signal.SIGKILL}
    assert ending(signal.SIGSEGV, cpu_used=9.0, cpu_seconds=4) == {"signal": signal.SIGSEGV}
    assert ending(exited, cpu_used=9.0, cpu_seconds=4) == {"exit": 3}


def _burn(seconds: float) -> None:
    started = time.process_time()
    while time.process_time() - started < seconds:
        pass


@pytest.mark.skipif(not sandbox.is_linux(), reason="reads /proc")
def test_a_workers_own_cpu_time_leaves_out_what_its_children_used() -> None:
    """What RLIMIT_CPU counts: the process itself, not the children it reaped (the kernel
    reaps everything left in a namespace into its pid 1 before that one is reaped)."""
    child = os.fork()
    if child == 0:  # pragma: no cover - child
        grandchild = os.fork()
        if grandchild == 0:
            _burn(0.4)
            os._exit(0)
        os.waitpid(grandchild, 0)
        _burn(0.1)
        os._exit(0)
    os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)
    own = _own_cpu_seconds(child)
    _, _, usage = os.wait4(child, 0)
    assert 0.05 <= own < 0.3
    assert usage.ru_utime + usage.ru_stime >= 0.45  # what wait4 would have reported


def _processes() -> dict[int, tuple[int, str, bytes]]:
    """pid -> (parent pid, state, command line) of every process /proc shows."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            found[int(entry.name)] = (int(fields[1]), fields[0], command)
    return found


FIND_ENDED_CHILD = """
import os, sys, time
from grader.runner.zygote import _next_ended_child
if sys.argv[1] == "without-waitid":
    del os.waitid  # as on macOS before Python 3.13
child = os.fork()
if child == 0:
    os._exit(5)
while (pid := _next_ended_child()) == 0:
    time.sleep(0.01)
assert pid == child, (pid, child)
try:
    status = os.waitpid(child, 0)[1]  # a zombie still, where waitid can leave it one
    print("unreaped", os.waitstatus_to_exitcode(status))
except ChildProcessError:
    print("reaped")
"""


@pytest.mark.parametrize(
    ("how", "expected"), [("waitid", "unreaped 5"), ("without-waitid", "reaped")]
)
def test_the_fork_server_finds_ended_children_with_or_without_waitid(
    how: str, expected: str
) -> None:
    """In a fresh process (so that no other child of the test run is found)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", FIND_ENDED_CHILD, how],
        cwd=root, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def _fork_server_of(server: Zygote) -> int:
    """The pid of the Python fork server: `server.pid`, or under bwrap a descendant of it."""
    processes = _processes()
    for pid, (_, _, command) in processes.items():
        ancestor = pid
        while ancestor in processes and ancestor != server.pid:
            ancestor = processes[ancestor][0]
        if ancestor == server.pid and command.startswith(sys.executable.encode()):
            return pid
    raise AssertionError("no fork server process found")


def _wait_until_childless(pid: int, seconds: float = 10) -> None:
    """Until `pid` has no child process at all, live or zombie (or `seconds` pass)."""
    deadline = time.monotonic() + seconds
    while any(parent == pid for parent, _, _ in _processes().values()):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _zombie_children(pid: int) -> list[int]:
    return [p for p, (parent, state, _) in _processes().items() if parent == pid and state == "Z"]


@pytest.mark.skipif(not sandbox.is_linux(), reason="reads /proc")
def test_the_fork_server_keeps_no_zombie_or_descriptor_per_worker(tmp_path: Path) -> None:
    """Workers that return, exit, crash or are killed for a timeout: the fork server reaps
    each one and holds no descriptor for it afterwards."""
    folder = write_submission(
        tmp_path,
        source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                os._exit(3)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                while True:
                    pass
            """
        ),
    )
    server = Zygote.start()
    try:
        server.verified()
        forked = _fork_server_of(server)

        def one_round() -> None:
            for call in ("soft_clamp", "affine_coupling_forward", "affine_coupling_inverse"):
                student = StudentModule(folder / FILE, "round", server, limits=FAST)
                try:
                    if call == "soft_clamp":
                        student.soft_clamp(torch.zeros(2), 1.0)
                    else:
                        with pytest.raises(StudentError):
                            getattr(student, call)(torch.zeros(1, 2), None)
                finally:
                    student.close()

        one_round()
        _wait_until_childless(forked)
        descriptors = len(os.listdir(f"/proc/{forked}/fd"))
        for _ in range(4):
            one_round()
        _wait_until_childless(forked)  # the last worker may still be dying
        assert _zombie_children(forked) == []
        assert len(os.listdir(f"/proc/{forked}/fd")) == descriptors
    finally:
        server.close()


def test_sleeping_at_import_is_stopped(grade) -> None:
    result = grade(source("import time\ntime.sleep(60)\n", stubs=True))
    assert_score(result, 0)
    assert f"importing it took more than {FAST.import_seconds:g} s" in messages(result)


def test_sleeping_in_every_call_hits_the_submission_budget(grade) -> None:
    started = time.monotonic()
    result = grade(
        source(
            """
            import time
            def affine_coupling_forward(z, conditioner, clamp=None):
                time.sleep(1.0)
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)

            affine_coupling_inverse = affine_coupling_forward
            """
        ),
        call_seconds=5.0,
    )
    assert_score(result, 1)
    assert f"more than {FAST.submission_seconds:g} s in total" in messages(result)
    assert time.monotonic() - started < 10


def test_blocking_on_stdin(grade) -> None:
    result = grade(
        source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                line = sys.stdin.readline() + input()
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                data = os.read(0, 1024)
                return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)
            """
        )
    )
    assert_score(result, 1)
    assert "EOFError" in messages(result)


def test_memory_bomb(grade) -> None:
    result = grade(
        source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                hoard = [torch.empty(1 << 28, dtype=torch.float64) for _ in range(64)]
                return hoard[0], hoard[1]

            def affine_coupling_inverse(x, conditioner, clamp=None):
                return bytearray(64 << 30), None
            """
        ),
        address_space_bytes=3 << 30,
    )
    assert_score(result, 1)
    assert "your code ran out of memory (limit 3 GiB)" in messages(result)


@needs_dedicated_uid
def test_fork_bomb(grade) -> None:
    result = grade(source(FORK_BOMB))
    assert_score(result, 1)
    assert "more than 1 s" in messages(result) or "in total" in messages(result)


def test_thread_bomb(grade) -> None:
    result = grade(
        source(
            """
            import threading, time
            def affine_coupling_forward(z, conditioner, clamp=None):
                while True:
                    try:
                        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
                    except RuntimeError:
                        time.sleep(0.01)

            affine_coupling_inverse = affine_coupling_forward
            """
        )
    )
    assert_score(result, 1)


def test_gigabytes_of_output(grade) -> None:
    result = grade(
        source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                chunk = "flood " * 100_000
                for _ in range(100_000):
                    print(chunk)
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                print("x" * 100_000)
                return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)
            """
        )
    )
    assert_score(result, 1)
    text = messages(result)
    assert "your code wrote more than 4 MiB (printed output or a file)" in text
    assert len(text) < 100_000  # what the student is shown stays short


def test_after_an_output_flood_the_next_call_starts_afresh(zygote, tmp_path: Path) -> None:
    """The flood ends its call with the file-size limit; the next call (which prints too)
    runs in a fresh worker, so the full output file costs no other check its points."""
    folder = write_submission(
        tmp_path,
        source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                chunk = "flood " * 100_000
                for _ in range(100_000):
                    print(chunk)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                print("inverse ran")
                return x, torch.zeros(x.shape[0], dtype=x.dtype)
            """
        ),
    )
    student = StudentModule(folder / FILE, "flood", zygote, limits=FAST)
    try:
        z = torch.zeros(2, 4)
        with pytest.raises(StudentLimit, match="wrote more than 4 MiB"):
            student.affine_coupling_forward(z, None)
        for _ in range(2):
            x, _log_det = student.affine_coupling_inverse(z, None)
            assert torch.equal(x, z)
            assert student.stdout[-1] == "inverse ran\n"
    finally:
        student.close()


def test_an_output_flood_at_import_is_the_file_size_limit(grade) -> None:
    text = 'chunk = "flood " * 100_000\nfor _ in range(100_000):\n    print(chunk)\n'
    result = grade(source(text, stubs=True))
    assert_score(result, 0)
    assert "your code wrote more than 4 MiB (printed output or a file)" in messages(result)


def test_filling_the_disk(grade) -> None:
    marker = f"flowgrade-fill-{uuid.uuid4().hex}"
    result = grade(
        source(
            f"""
            def affine_coupling_forward(z, conditioner, clamp=None):
                block = b"x" * (1 << 20)
                home = os.path.expanduser("~")
                for folder in ("/tmp", "/var/tmp", "/dev/shm", os.getcwd(), home):
                    for i in range(10_000):
                        try:
                            with open(os.path.join(folder, "{marker}-" + str(i)), "wb") as f:
                                f.write(block)
                        except OSError:
                            break
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)

            affine_coupling_inverse = affine_coupling_forward
            """
        )
    )
    assert_score(result, 1)
    if sandbox.plan().mode != "basic":  # a private /tmp: nothing reaches the machine's disk
        assert not list(Path("/tmp").glob(f"{marker}*"))
        assert not list(Path("/var/tmp").glob(f"{marker}*"))
    for leftover in Path("/tmp").glob(f"{marker}*"):
        leftover.unlink()


@pytest.mark.skipif(
    not sandbox.is_linux(), reason="needs Linux (a pid namespace or a child subreaper)"
)
def test_background_process_does_not_outlive_grading(grade) -> None:
    marker = f"29.{uuid.uuid4().int % 10**9:09d}"  # a unique argument for sleep
    result = grade(background_processes(marker))
    assert_score(result, 1)
    deadline = time.monotonic() + 5
    while sandbox_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sandbox_processes(marker)
