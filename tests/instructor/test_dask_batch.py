"""`grade batch --executor dask` against real Dask processes: a `LocalCluster` (workers are
separate processes, each with its own fork server), a worker started with the real
`dask worker` command, workers killed mid-batch, the grader killed mid-batch."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from classgen import make_class
from conftest import TIMEOUT_S

from grader.batch.runner import run_batch
from grader.exercises import PROJECT_ROOT
from grader.gradebook import Gradebook, gradebook_exists

distributed = pytest.importorskip("distributed")

# honest and broken submissions, graded in well under a second each
KINDS = ["correct", "wrong_sign", "stub", "syntax_error", "crashing", "correct"]
EXPECTED = {"correct": 10, "stub": 0, "syntax_error": 0}
# a hanging submission (its calls run into the 1 s limit) keeps a worker busy for seconds,
# so that a kill lands mid-batch
BUSY = ["correct", "hanging", "wrong_sign", "hanging", "stub", "correct"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """Two worker processes (one thread each) and their scheduler, for this module."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=40,
    ) as local:  # fmt: skip
        yield local


def _rows(book: str) -> list[tuple[str, str, int]]:
    """(student, exercise, superseded) of every stored submission row."""
    if not gradebook_exists(book):
        return []
    with Gradebook.open(book, create=False) as gradebook:
        rows = gradebook.backend.execute(
            "SELECT student, exercise, superseded FROM submissions ORDER BY id"
        ).fetchall()
    return [tuple(r) for r in rows]


def _batch(root: Path, book: str, **options: object):
    defaults = {"jobs": 2, "call_timeout": TIMEOUT_S, "exercises": ["exercise-03"]}
    return run_batch(root, book, executor="dask", stream=io.StringIO(), **{**defaults, **options})


def test_dask_grades_resumes_and_regrades_like_the_local_pool(
    tmp_path, gradebook_location, cluster
):
    root = tmp_path / "subs"
    roster = make_class(root, KINDS)
    address = cluster.scheduler_address
    log = io.StringIO()
    first = run_batch(root, gradebook_location, executor="dask", scheduler=address,
                      call_timeout=TIMEOUT_S, exercises=["exercise-03"], stream=log)  # fmt: skip
    assert (first.graded, first.lost, first.grader_errors) == (len(KINDS), 0, [])
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("grading 6 submission(s) of 6 student(s) (exercise-03; 0 already")
    assert f"with 2 Dask worker(s) ({address})" in lines[0]
    assert lines[1] == first.layers and lines[1].startswith("sandbox ")  # the workers' layers
    assert f"wall time (call {TIMEOUT_S:g} s, submission 60 s)" in lines[1]
    with Gradebook.open(gradebook_location, create=False) as book:
        current = {s.student: s for s in book.current_submissions()}
        reasons = {s: " ".join(t.message for t in book.test_rows([current[s].id])) for s in current}
    assert sorted(current) == sorted(roster) and len(_rows(gradebook_location)) == len(KINDS)
    for student, kind in roster.items():
        if kind in EXPECTED:
            assert current[student].score == EXPECTED[kind], (student, reasons[student])
        else:
            assert current[student].score < 10, student
    assert "process running your code ended" in reasons["s05_crashing"]
    assert {row.seed for row in current.values()} == {first.seed}

    again = _batch(root, gradebook_location, scheduler=address)
    assert (again.planned, again.up_to_date) == (0, len(KINDS))  # resume: nothing to do
    (root / "s03_stub" / "exercise_03_affine_coupling.py").write_text("x = 1\n")
    regraded = _batch(root, gradebook_location, scheduler=address, regrade=True)
    assert regraded.planned == regraded.graded == len(KINDS)
    rows = _rows(gradebook_location)
    assert len(rows) == 2 * len(KINDS) and sum(r[2] == 0 for r in rows) == len(KINDS)


def test_a_killed_dask_worker_loses_and_duplicates_nothing(tmp_path, cluster):
    root = tmp_path / "subs"
    make_class(root, BUSY + KINDS)
    book = str(tmp_path / "gb.sqlite")
    client = distributed.Client(cluster)
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_one_worker_mid_batch() -> None:
        deadline = time.monotonic() + 120
        while len(_rows_safely(book)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = next(iter(pids.values()))
        os.kill(victim, signal.SIGKILL)  # the worker process itself; its nanny restarts it
        killed.append(victim)

    killer = threading.Thread(target=kill_one_worker_mid_batch, daemon=True)
    killer.start()
    summary = _batch(root, book, scheduler=cluster.scheduler_address)
    killer.join(timeout=10)
    client.close()
    assert killed, "the worker was not killed"
    everyone = len(BUSY + KINDS)
    assert (summary.graded, summary.lost, summary.grader_errors) == (everyone, 0, [])
    rows = _rows(book)
    assert len(rows) == len({(r[0], r[1]) for r in rows}) == everyone  # each exactly once


def _rows_safely(book: str) -> list[tuple[str, str, int]]:
    try:
        return _rows(book)
    except Exception:  # the parent is creating the file
        return []


def test_cuda_without_gpu_workers_is_a_one_line_error(tmp_path, cluster):
    from click.testing import CliRunner

    from grader.instructor_cli import batch

    root = tmp_path / "subs"
    make_class(root, ["correct"])
    book = tmp_path / "gb.sqlite"
    args = [str(root), "--gradebook", str(book), "--executor", "dask", "--device", "cuda",
            "--scheduler", cluster.scheduler_address]  # fmt: skip
    result = CliRunner().invoke(batch, args)
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "--device cuda: no Dask worker" in result.output and "GPU=1" in result.output
    assert _rows(str(book)) == []  # nothing graded, nothing stored
    local = CliRunner().invoke(batch, [str(root), "--scheduler", "tcp://127.0.0.1:9"])
    assert local.exit_code == 1 and "--scheduler needs --executor dask" in local.output


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from grader.batch import dask_executor
    from grader.instructor_cli import batch

    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT_S", 1.0)
    root = tmp_path / "subs"
    make_class(root, ["correct"])
    book = tmp_path / "gb.sqlite"
    args = [str(root), "--gradebook", str(book), "--executor", "dask",
            "--scheduler", "tcp://127.0.0.1:9"]  # fmt: skip
    result = CliRunner().invoke(batch, args)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
    assert _rows(str(book)) == []


def test_a_task_past_its_limit_is_a_zero_and_its_worker_is_restarted(tmp_path, cluster):
    root = tmp_path / "subs"
    make_class(root, ["hanging", "correct"])  # the hanging one needs seconds (1 s per call)
    book = str(tmp_path / "gb.sqlite")
    client = distributed.Client(cluster)
    before = set(client.run(os.getpid).values())
    summary = _batch(root, book, scheduler=cluster.scheduler_address, task_limit_s=1.0)
    assert summary.lost >= 1 and summary.graded == 2 and summary.grader_errors == []
    with Gradebook.open(book, create=False) as gradebook:
        current = {s.student: s for s in gradebook.current_submissions()}
        (why,) = gradebook.test_rows([current["s01_hanging"].id])
    assert current["s01_hanging"].score == 0 and "longer than 1 s in total" in why.message
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != before  # the stuck worker was replaced
    client.close()


def test_a_worker_with_a_gpu_resource_gets_every_cuda_task(tmp_path, cluster):
    """Routing only: this machine has no CUDA, so the GPU worker reports that as a grader
    error for each task (nothing is stored). On a machine with CUDA they are graded."""
    import torch

    command = [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
               "--nthreads", "1", "--resources", "GPU=1", "--name", "gpu-worker",
               "--no-dashboard"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    worker = subprocess.Popen(command, env=env, **quiet)
    try:
        client = distributed.Client(cluster)
        client.wait_for_workers(3, timeout=60)
        (gpu_address,) = [
            address
            for address, info in client.scheduler_info(n_workers=-1)["workers"].items()
            if info.get("resources", {}).get("GPU")
        ]
        client.close()
        root = tmp_path / "subs"
        make_class(root, ["correct", "stub", "wrong_sign"])
        book = str(tmp_path / "gb.sqlite")
        summary = _batch(root, book, scheduler=cluster.scheduler_address, device="cuda")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    if torch.cuda.is_available():  # pragma: no cover - needs a GPU
        assert summary.graded == 3 and summary.grader_errors == []
        return
    assert summary.graded == 0 and len(summary.grader_errors) == 3
    for line in summary.grader_errors:
        assert "no CUDA GPU is available here" in line and f"on {gpu_address}" in line, line
    assert _rows(book) == []


def _start_cli_batch(root: Path, book: str, scheduler: str | None) -> subprocess.Popen:
    code = "from grader.instructor_cli import batch; batch()"
    args = [str(root), "--gradebook", book, "--executor", "dask", "--jobs", "2",
            "--timeout", str(TIMEOUT_S), "--exercise", "exercise-03"]  # fmt: skip
    args += ["--scheduler", scheduler] if scheduler else []
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_killed_grader_resumes_without_lost_or_duplicated_rows(
    tmp_path, gradebook_location, cluster
):
    """`grade batch --executor dask` is SIGKILLed mid-batch (on SQLite with a LocalCluster
    of its own, whose processes must go with it; on PostgreSQL with `--scheduler`); the
    rerun grades exactly what is missing."""
    root = tmp_path / "subs"
    make_class(root, BUSY)
    own_cluster = gradebook_location.endswith(".sqlite")
    scheduler = None if own_cluster else cluster.scheduler_address
    process = _start_cli_batch(root, gradebook_location, scheduler)
    deadline = time.monotonic() + 120
    while len(_rows_safely(gradebook_location)) < 1 and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.05)
    children = _descendants(process.pid)
    process.kill()
    process.wait(timeout=30)
    if own_cluster:  # its scheduler, nannies, workers and fork servers end with it
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in children if _alive(pid)]
    stored = _rows(gradebook_location)
    assert 1 <= len(stored) < len(BUSY), "the batch finished before it could be killed"
    summary = _batch(root, gradebook_location, scheduler=cluster.scheduler_address)
    assert summary.planned == len(BUSY) - len(stored)  # only what was missing
    rows = _rows(gradebook_location)
    assert rows[: len(stored)] == stored  # what was stored stays
    assert len(rows) == len({(r[0], r[1]) for r in rows}) == len(BUSY)
    with Gradebook.open(gradebook_location, create=False) as book:
        assert book.integrity_problems() == []
        assert [r.status for r in book.batch_runs()] == ["running", "finished"]


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` now (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_each_student_is_one_dask_task_and_every_exercise_comes_back(tmp_path, cluster):
    import shutil

    from grader.exercises import EXERCISES

    root = tmp_path / "subs"
    for student in ("ann", "bob"):
        (root / student).mkdir(parents=True)
        for exercise in EXERCISES:
            shutil.copy(PROJECT_ROOT / "solutions" / exercise.filename, root / student)
    book = str(tmp_path / "gb.sqlite")
    summary = _batch(root, book, scheduler=cluster.scheduler_address, exercises=None)
    assert (summary.graded, summary.grader_errors) == (2 * len(EXERCISES), [])
    with Gradebook.open(book, create=False) as gradebook:
        current = gradebook.current_submissions()
    assert len(current) == 2 * len(EXERCISES) and all(r.score == r.max_score for r in current)


def test_a_bundle_that_kills_its_workers_is_retried_one_exercise_at_a_time():
    """The executor's bookkeeping when Dask reports KilledWorker: a bundle of several
    exercises goes back to the queue as single exercises; a single one is a zero."""
    from collections import deque

    from grader.batch.dask_executor import DaskExecutor, _bundles
    from grader.batch.executor import Lost
    from grader.batch.plan import Task

    tasks = [Task("ann", e, "/x", "h", None) for e in ("exercise-01", "exercise-03")]
    tasks.append(Task("bob", "exercise-01", "/x", "h", None))
    assert [len(b) for b in _bundles(tasks)] == [2, 1]

    class KilledWorker(Exception):
        pass

    class Finished:  # what as_completed hands over for a task that killed its workers
        key, status = "k", "error"

    executor = object.__new__(DaskExecutor)  # no cluster needed for the bookkeeping
    executor._started, executor._lock = {}, threading.Lock()
    pending: deque = deque()
    error = (KilledWorker, KilledWorker("gone"), None)
    assert executor._outcome(Finished(), error, tuple(tasks[:2]), set(), pending) == []
    assert list(pending) == [(tasks[0],), (tasks[1],)]
    (lost,) = executor._outcome(Finished(), error, (tasks[1],), set(), pending)
    assert isinstance(lost, Lost) and lost.task == tasks[1] and "died" in lost.why
