"""`grade batch` on a class of hostile students: each earns exactly its honest score.

One small class (exercise-03 only, short limits from its course.toml) is graded once by the
`grade batch` command with two workers. Every student but one is an attack from
`hostile.py`'s building blocks; the honest student earns 10, an attack that keeps an
honest `soft_clamp` earns exactly 1, a pure cheat 0. Afterwards the batch has finished
without grader errors or lost submissions, the gradebook passes SQLite's integrity check
with exactly one current row per student, the files an attack aimed at are unchanged, and
no process the batch started (workers, fork servers, whatever students spawned) is alive.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile import (
    FAST,
    FILE,
    FIND_SOCKET,
    FORK_BOMB,
    REFERENCE,
    ROOT,
    STEAL_FROM_CANDIDATES,
    background_processes,
    source,
    write_submission,
)

from grader.gradebook import Gradebook
from grader.runner import sandbox
from grader.runner.limits import MIB

PLAN = sandbox.plan()
OS_LAYER = PLAN.mode != "basic"  # without one a worker runs as the grader's own user
# Files outside the worker's view (bwrap) or owned by another uid cannot be written; per-worker
# namespaces alone (unshare without a dedicated uid) leave the grader's files writable.
WRITE_GUARD = PLAN.mode == "bwrap" or PLAN.drop_uid
HONEST = "s00_honest"
ZEROS = """
def affine_coupling_inverse(x, conditioner, clamp=None):
    return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)
"""


@dataclass
class GradedClass:
    """What the one batch run left behind."""

    root: Path
    gradebook: Path
    expected: dict[str, float]
    output: str
    exit_code: int
    wall_s: float
    left_behind: list[str]
    watched: tuple[str, str]  # digests of the honest student's folder and course.toml
    marker_file: Path


def _class(root: Path, gradebook: Path, marker: str, marker_file: Path) -> dict[str, str | bytes]:
    """Student id -> exercise file; the honest score of each is in `_expected`."""
    targets = [str(gradebook) + suffix for suffix in ("", "-wal", "-shm", "-journal")]
    targets += [str(root / HONEST / FILE), str(root / HONEST), str(root.parent / "course.toml")]
    students: dict[str, str | bytes] = {
        HONEST: REFERENCE,
        "s01_exit_at_import": REFERENCE + "\nimport sys\nsys.exit(0)\n",
        "s02_exit_in_function": source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                os._exit(0)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                sys.exit(0)
            """
        ),
        "s03_fake_passed": source(
            """
            print("===== 10 passed in 0.01s =====")
            print('{"score": 10, "max_score": 10}')

            def affine_coupling_forward(z, conditioner, clamp=None):
                print("PASSED test_forward_matches_reference\\n10/10")
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)
            """,
            ZEROS,
            honest_clamp=False,
        ),
        "s04_hang": source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                while True:
                    pass

            affine_coupling_inverse = affine_coupling_forward
            """
        ),
        "s05_memory_bomb": source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                hoard = [torch.empty(1 << 28, dtype=torch.float64) for _ in range(64)]
                return hoard[0], hoard[1]

            def affine_coupling_inverse(x, conditioner, clamp=None):
                return bytearray(64 << 30), None
            """
        ),
        "s06_pickle_reply": source(
            FIND_SOCKET,
            f"""
            class Boom:
                def __reduce__(self):
                    return (open, ({str(marker_file)!r}, "w"))

            def affine_coupling_forward(z, conditioner, clamp=None):
                sock = worker_socket()
                payload = pickle.dumps(Boom())
                sock.sendall(frame(payload))
                sock.sendall(frame(json.dumps({{"status": "ok", "buffers": [len(payload)],
                    "value": {{"t": "pickle", "buf": 0}}}}).encode()) + frame(payload))
                os._exit(0)

            affine_coupling_inverse = affine_coupling_forward
            """,
        ),
        "s07_background": background_processes(marker),
    }
    if OS_LAYER:  # basic mode cannot hide files from the grader's own user (SECURITY.md)
        students["s08_read_solutions"] = source(
            f"""
            import types
            from pathlib import Path
            import grader

            def candidates():
                here = Path(grader.__file__).resolve().parents[1]
                yield here / "solutions" / "{FILE}"
                yield Path({str(ROOT / "solutions" / FILE)!r})  # where it is on the host
                yield Path.cwd() / "solutions" / "{FILE}"


            def affine_coupling_forward(z, conditioner, clamp=None):
                stolen = steal()
                if stolen is not None:
                    return stolen.affine_coupling_forward(z, conditioner, clamp)
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)
            """,
            STEAL_FROM_CANDIDATES,
            ZEROS,
        )
    if WRITE_GUARD:
        students["s09_write_gradebook"] = source(
            f"""
            import shutil
            TARGETS = {targets!r}

            def affine_coupling_forward(z, conditioner, clamp=None):
                for target in TARGETS:
                    for attack in (
                        lambda t: open(t, "r+b").write(b"\\0" * 4096),
                        lambda t: open(t, "w").write("garbage"),
                        lambda t: os.unlink(t),
                        lambda t: shutil.rmtree(t),
                        lambda t: os.chmod(t, 0o777),
                    ):
                        try:
                            attack(target)
                        except OSError:
                            pass
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)
            """,
            ZEROS,
        )
    if PLAN.drop_uid:  # RLIMIT_NPROC only binds under a dedicated uid
        students["s10_fork_bomb"] = source(FORK_BOMB)
    return students


def _expected(students: list[str]) -> dict[str, float]:
    """The honest score: 10 for the reference, 0 for a pure cheat, else 1 (soft_clamp)."""
    pure_cheats = {"s01_exit_at_import", "s03_fake_passed"}
    return {s: 10.0 if s == HONEST else 0.0 if s in pure_cheats else 1.0 for s in students}


# hostile.FAST, with more room for wall time: an honest file must finish on a loaded machine
COURSE_TOML = f"""
[limits]
call_seconds = 2
submission_seconds = 4
import_seconds = 4
cpu_seconds = {FAST.cpu_seconds}
address_space_gib = 3
file_mib = {FAST.file_bytes // MIB}
tmp_mib = {FAST.tmp_bytes // MIB}
reply_mib = {FAST.reply_bytes // MIB}
"""


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory: pytest.TempPathFactory) -> GradedClass:
    """The class, graded once by `grade batch --jobs 2` with course.toml's short limits."""
    from click.testing import CliRunner

    from grader.instructor_cli import batch

    base = tmp_path_factory.mktemp("hostile_class")
    root = base / "submissions"
    gradebook = base / "gradebook.sqlite"
    marker = f"31.{uuid.uuid4().int % 10**9:09d}"  # a unique argument for sleep
    marker_file = Path("/tmp") / f"flowgrade-batch-pickle-{uuid.uuid4().hex}"
    students = _class(root, gradebook, marker, marker_file)
    for student, text in students.items():
        write_submission(root / student, text)
    (base / "course.toml").write_text(COURSE_TOML)
    watched = [root / HONEST, base / "course.toml"]
    before_digest = _digest(watched)
    before = set(_batch_processes(marker, set()))
    started = time.monotonic()
    result = CliRunner().invoke(
        batch,
        [str(root), "--gradebook", str(gradebook), "--course", str(base / "course.toml"),
         "--jobs", "2", "--exercise", "exercise-03", "--seed", "3"],
    )  # fmt: skip
    wall_s = time.monotonic() - started
    left = _wait_until_gone(marker, before)
    return GradedClass(
        root,
        gradebook,
        _expected(list(students)),
        result.output,
        result.exit_code,
        wall_s,
        left,
        (before_digest, _digest(watched)),
        marker_file,
    )


def test_every_student_earns_exactly_its_honest_score(hostile_class: GradedClass) -> None:
    assert hostile_class.exit_code == 0, hostile_class.output
    assert "0 could not finish" in hostile_class.output, hostile_class.output
    assert "0 grader error(s)" in hostile_class.output, hostile_class.output
    with Gradebook.open(hostile_class.gradebook, create=False) as book:
        current = {row.student: row for row in book.current_submissions()}
        statuses = {row.status for row in book.test_rows()}
        messages = {
            s: " ".join(t.message for t in book.test_rows([row.id])) for s, row in current.items()
        }
    scores = {student: row.score for student, row in current.items()}
    assert scores == hostile_class.expected
    assert {row.max_score for row in current.values()} == {10.0}
    assert "error" not in statuses  # no check was lost to a grader error
    for student in ("s07_background", "s08_read_solutions", "s09_write_gradebook"):
        if student in current:  # these attacks end quickly: no limit may hide their outcome
            assert "ran for more than" not in messages[student], messages[student]


def test_the_gradebook_is_intact(hostile_class: GradedClass) -> None:
    connection = sqlite3.connect(hostile_class.gradebook)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = connection.execute(
            "SELECT student, exercise, superseded, COUNT(*) FROM submissions "
            "GROUP BY student, exercise, superseded"
        ).fetchall()
        runs = connection.execute("SELECT status, graded FROM batch_runs").fetchall()
    finally:
        connection.close()
    expected = {(student, "exercise-03", 0, 1) for student in hostile_class.expected}
    assert set(rows) == expected  # one current row each, and no history (nothing retried)
    assert runs == [("finished", len(hostile_class.expected))]
    before, after = hostile_class.watched
    assert before == after  # the attacked files are untouched


def test_the_batch_is_fast_and_leaves_nothing_behind(hostile_class: GradedClass) -> None:
    assert not hostile_class.left_behind, hostile_class.left_behind
    assert not hostile_class.marker_file.exists()  # the pickle was never loaded
    assert hostile_class.wall_s < 60, hostile_class.output


def test_the_header_names_the_layers_and_the_course_limits(hostile_class: GradedClass) -> None:
    lines = hostile_class.output.splitlines()
    assert lines[0].startswith(f"grading {len(hostile_class.expected)} submission(s)")
    header = lines[1]
    assert header.startswith(f"sandbox {PLAN.mode}: process split")
    assert "wall time (call 2 s, submission 4 s)" in header
    assert "rlimits (cpu 4 s, memory 3 GiB, files 4 MiB" in header
    if PLAN.mode == "bwrap":
        assert "bubblewrap (read-only view" in header
    if PLAN.drop_uid:
        assert "unprivileged uid per worker" in header
    assert sum(line.startswith("sandbox ") for line in lines) == 1


# ---------------------------------------------------------------- helpers


def _digest(paths: list[Path]) -> str:
    """Names, modes and contents of the files under `paths` (and which are missing)."""
    digest = hashlib.sha256()
    for root in paths:
        if not root.exists():
            digest.update(b"missing " + str(root).encode())
            continue
        for path in [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]:
            digest.update(str(path).encode() + oct(path.stat().st_mode).encode())
            if path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _proc_table() -> dict[int, tuple[int, bytes, bytes]]:
    """pid -> (parent pid, command line, environment) of every live, non-zombie process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            environ = b""
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            table[int(entry)] = (int(ppid), cmdline, environ)
    return table


def _batch_processes(marker: str, before: set[int]) -> dict[int, str]:
    """Processes the batch may have started that are alive and were not there `before`:
    descendants of this process, anything with the fork servers' environment (workers and
    what students started inside them, wherever they were reparented) or the sleep marker."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    ours, stack = set(), [os.getpid()]
    while stack:
        for child in children.get(stack.pop(), []):
            ours.add(child)
            stack.append(child)
    sandboxed = f"PYTHONPATH={ROOT}".encode()
    found = {}
    for pid, (_, cmdline, environ) in table.items():
        if pid in before or pid == os.getpid():
            continue
        if pid in ours or marker.encode() in cmdline or sandboxed in environ.split(b"\0"):
            found[pid] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def _wait_until_gone(marker: str, before: set[int], timeout_s: float = 10.0) -> list[str]:
    """What is still alive of the batch after up to `timeout_s` (empty when all is gone)."""
    deadline = time.monotonic() + timeout_s
    while (left := _batch_processes(marker, before)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [f"{pid}: {command}" for pid, command in left.items()]
