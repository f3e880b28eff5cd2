"""The layers themselves: limits from a course config, which OS layers are active and what a
worker can observe inside them, and the process split alone (the macOS-laptop case)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch
from hostile import FAST, FILE, REFERENCE, assert_unharmed, messages, source, write_submission

from grader.grading import grade_exercise
from grader.runner import sandbox
from grader.runner.client import StudentModule
from grader.runner.limits import GIB, MIB, Limits, LimitsError
from grader.runner.zygote import Zygote

PROBE = """
import socket
from pathlib import Path

def affine_coupling_forward(z, conditioner, clamp=None):
    import grader
    project = Path(grader.__file__).resolve().parents[1]
    visible_pids = [p for p in os.listdir("/proc") if p.isdigit()]
    return torch.tensor([
        os.getuid(),
        os.getpid(),
        len(visible_pids),
        len(socket.if_nameindex()),
        len(os.listdir(project / "solutions")) if (project / "solutions").exists() else -1,
        (project / "grader" / "hidden" / "test_exercise_03.py").exists(),
        len(os.listdir("/tmp")),
        int(os.environ.get("HOME") == "/tmp"),
        *_capabilities(),
        sum(name.split(".")[0] == "solutions" for name in sys.modules),
        "grader.testing.layers" in sys.modules,  # argument classes come preloaded
    ], dtype=torch.int64)

def _capabilities():
    status = Path("/proc/self/status").read_text().splitlines()
    caps = [line.split() for line in status if line.startswith("Cap")]
    sets = {name.rstrip(":"): int(value, 16) for name, value in caps}
    return [sets["CapEff"], sets["CapPrm"], sets["CapBnd"]]
"""


def test_limits_from_a_course_config() -> None:
    limits = Limits.from_mapping({"call_seconds": 20, "address_space_gib": 6, "file_mib": 8})
    assert limits.call_seconds == 20.0
    assert limits.address_space_bytes == 6 * GIB
    assert limits.file_bytes == 8 * MIB
    assert limits.submission_seconds == Limits().submission_seconds
    assert Limits.from_mapping(None) == Limits()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"wall_seconds": 3}, "unknown limit 'wall_seconds'; valid limits: address_space_gib"),
        ({"call_seconds": -1}, "call_seconds must be a positive number, got -1"),
        ({"processes": 2.5}, "processes must be a whole number, got 2.5"),
        ({"cpu_seconds": True}, "cpu_seconds must be a positive number, got True"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_bad_limits_config_is_one_clear_line(config: object, message: str) -> None:
    with pytest.raises(LimitsError) as caught:
        Limits.from_mapping(config)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_active_layers_are_described_in_one_line(zygote: Zygote) -> None:
    line = sandbox.describe(zygote.plan, Limits(), zygote.verified())
    assert "\n" not in line
    assert line.startswith(f"sandbox {zygote.plan.mode}: process split")
    assert "cpu 60 s, memory 4 GiB" in line
    if zygote.plan.mode == "bwrap":
        assert "bubblewrap (read-only view" in line
    if zygote.verified().get("drop_uid"):
        assert "unprivileged uid per worker" in line


def test_requiring_an_unavailable_layer_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        sandbox.plan("bwrap")
    with pytest.raises(sandbox.SandboxUnavailable, match="valid modes: auto, bwrap"):
        sandbox.plan("docker")


ROOT = Path(__file__).resolve().parents[2]

# A worker's fresh /tmp is empty except where the code it imports lives under /tmp (a
# checkout or kit there is bound back read-only): one top-level entry per such place.
CODE_UNDER_TMP = len(
    {Path(p).relative_to("/tmp").parts[0] for p in (str(ROOT), sys.prefix) if p.startswith("/tmp/")}
)


@pytest.mark.skipif(sandbox.plan().mode == "basic", reason="no OS layer on this machine")
def test_what_a_worker_can_see(zygote: Zygote, tmp_path: Path) -> None:
    """Inside the layers: its own uid and pid namespace, no network but loopback, no
    solutions or hidden tests, an empty private /tmp, a minimal environment."""
    write_submission(tmp_path, source(PROBE))
    student = StudentModule(tmp_path / FILE, "probe", zygote, limits=FAST)
    try:
        seen = student.affine_coupling_forward(torch.zeros(1, 2), None).tolist()
    finally:
        student.close()
    uid, pid, pids, interfaces, solutions, hidden, tmp_entries, home, *caps, loaded, layers = seen
    assert solutions <= 0 and hidden == 0  # absent, or an empty tmpfs
    assert loaded == 0  # no reference module in memory either
    assert layers == 1
    assert interfaces <= 1  # at most `lo`, and it is down
    assert home == 1
    verified = zygote.verified()
    if verified.get("drop_uid"):
        assert sandbox.UID_BASE <= uid < sandbox.UID_BASE + sandbox.UID_COUNT
        assert caps == [0, 0, 0]  # effective, permitted and bounding sets all empty
    if verified.get("namespaces"):
        assert pid == 1 and pids == 1  # pid 1 of its own namespace; nothing else is visible
        assert tmp_entries == CODE_UNDER_TMP  # the worker's own, fresh /tmp


def test_process_split_alone_still_defeats_attacks(tmp_path: Path) -> None:
    """Without any OS layer (a student's macOS laptop), exits, endless loops, output floods
    and forged replies still earn nothing, and honest work still earns everything."""
    server = Zygote.start("basic")
    try:
        assert server.plan.mode == "basic"
        limits = FAST

        def run(text: str, name: str) -> float:
            folder = write_submission(tmp_path / name, text)
            result = grade_exercise("exercise-03", folder, seed=1, zygote=server, limits=limits)
            assert not [t for t in result.tests if t.status == "error"], messages(result)
            return result.score

        assert run(REFERENCE, "honest") == 10
        exit_body = "def affine_coupling_forward(z, conditioner, clamp=None):\n    os._exit(0)\n"
        assert run(source(exit_body, "affine_coupling_inverse = affine_coupling_forward"), "e") == 1
        loop = "def affine_coupling_forward(z, c, clamp=None):\n    while True: pass\n"
        assert run(source(loop, "affine_coupling_inverse = affine_coupling_forward"), "l") == 1
        flood = (
            "def affine_coupling_forward(z, c, clamp=None):\n    while True: print('x' * 9999)\n"
        )
        assert run(source(flood, "affine_coupling_inverse = affine_coupling_forward"), "f") == 1
        assert server.alive()
        assert_unharmed(server)
    finally:
        server.close()


@pytest.mark.skipif(
    not (sandbox.is_linux() and sandbox.is_root()), reason="namespaces without bwrap need root"
)
def test_namespaces_without_bubblewrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback where bwrap is missing: per-worker namespaces hide `solutions/` and the
    hidden tests under empty tmpfs, and each worker has its own uid.

    `auto` only picks it when an unprivileged uid can read the Python installation (lazy
    imports); here that check is bypassed because every module the reference needs is
    already imported by the fork server."""
    monkeypatch.setattr(sandbox, "_python_readable_by_others", lambda: True)
    server = Zygote.start("unshare")
    try:
        assert server.verified() == {"namespaces": True, "drop_uid": True}
        assert "per-worker namespaces" in server.describe()
        honest = write_submission(tmp_path / "honest", REFERENCE)
        result = grade_exercise("exercise-03", honest, seed=2, zygote=server, limits=FAST)
        assert result.score == 10, messages(result)
        write_submission(tmp_path / "probe", source(PROBE))
        student = StudentModule(tmp_path / "probe" / FILE, "probe", server, limits=FAST)
        try:
            seen = student.affine_coupling_forward(torch.zeros(1, 2), None).tolist()
        finally:
            student.close()
        uid, pid, pids, interfaces, solutions, hidden, tmp_entries, _home, *caps, loaded, _ = seen
        assert sandbox.UID_BASE <= uid < sandbox.UID_BASE + sandbox.UID_COUNT
        assert caps == [0, 0, 0] and loaded == 0
        assert (pid, pids, tmp_entries) == (1, 1, CODE_UNDER_TMP)
        assert interfaces <= 1 and hidden == 0
        assert solutions <= 0  # empty (a tmpfs over it), or absent (a checkout under /tmp)
        assert_unharmed(server)
    finally:
        server.close()


def _alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


@pytest.mark.skipif(
    not (sandbox.is_linux() and sandbox.is_root()), reason="namespaces without bwrap need root"
)
def test_a_worker_with_its_own_uid_dies_with_its_fork_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping to its own uid makes Linux forget a process's parent-death signal; the
    worker, pid 1 of its namespace, must ask for it again, or it would outlive a fork
    server that died (without bubblewrap nothing else would end it)."""
    monkeypatch.setattr(sandbox, "_python_readable_by_others", lambda: True)
    server = Zygote.start("unshare")
    write_submission(tmp_path, REFERENCE)
    student = StudentModule(tmp_path / FILE, "idle", server, limits=FAST)
    try:
        assert server.verified() == {"namespaces": True, "drop_uid": True}
        student.soft_clamp(torch.zeros(2), 1.0)  # the worker now waits for the next call
        worker = student._worker.pid
        assert _alive(worker)
        server.process.kill()
        server.process.wait()
        deadline = time.monotonic() + 5
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker)
    finally:
        student.close()
        server.close()
