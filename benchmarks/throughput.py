"""Throughput benchmark: `grade batch` against a fresh pytest process per submission.

Generates a class of N submissions covering every exercise (the reference, or one of the
known-wrong submissions in `tests/wrong/mutants.py`, in turn), then measures side by side:

  * fast path      `grade batch DIR --jobs J` (long-lived workers, zygotes, one gradebook)
  * straightforward one fresh Python process per submission, one after another (what
                   nbgrader-style graders do), running pytest on the hidden test file of
                   every exercise of it (`grade_exercise(..., use_pytest=True)`), with the
                   same isolated runner

Fast-path sizes default to 50, 100 and 200 (time should grow linearly: the script also
prints the seconds each added submission cost between two sizes, which stay the same when
it does, whatever the fixed start-up cost); the
straightforward path is measured on a sample of submissions and scaled linearly to N,
which the output says. Half of that sample runs before the fast path and half after it,
so that a change in the shared machine's load during the run weighs on both sides. Peak
memory is the largest resident set of the batch's whole process tree, sampled every 0.1 s.

    python benchmarks/throughput.py [--sizes 50,100,200] [--jobs 2] [--baseline-sample 20]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.exercises import EXERCISES  # noqa: E402
from tests.wrong.mutants import variant_sources  # noqa: E402

STRAIGHTFORWARD = """
import sys
from pathlib import Path
from grader.grading import grade_exercise
folder = Path(sys.argv[1])
for exercise in sys.argv[2:]:
    grade_exercise(exercise, folder, seed=0, use_pytest=True)
"""


def make_class(root: Path, size: int) -> None:
    """`size` student folders; student i gets variant i of every exercise."""
    for i in range(size):
        student = root / f"s{i:04d}"
        student.mkdir(parents=True)
        for exercise in EXERCISES:
            variants = variant_sources(exercise.id)  # the reference, then each mutant
            (student / exercise.filename).write_text(variants[i % len(variants)])


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack += children.get(current, [])
    return total


class CpuAccount:
    """CPU seconds used by a command and every process it starts (a cgroup of its own).

    Wall time on a shared machine swings with the other tenants' load (the same batch took
    51 s and 107 s ten minutes apart here); the CPU time a run needs barely does. Uses
    cgroup v1 `cpuacct` or cgroup v2 `cpu.stat` where this process may create a group
    (root on Linux); elsewhere `seconds()` is None."""

    def __init__(self) -> None:
        self.path: Path | None = None
        name = f"flowgrade-bench-{os.getpid()}-{time.monotonic_ns()}"
        for root, probe in ((Path("/sys/fs/cgroup/cpuacct"), "cpuacct.usage"),
                            (Path("/sys/fs/cgroup"), "cpu.stat")):  # fmt: skip
            if (root / probe).exists() or (root / "cgroup.controllers").exists():
                try:
                    (root / name).mkdir()
                except OSError:
                    continue
                self.path = root / name
                return

    def enter(self) -> None:
        """Move the calling process into the group (a `preexec_fn`)."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float | None:
        if self.path is None:
            return None
        usage = self.path / "cpuacct.usage"
        if usage.exists():
            return int(usage.read_text()) / 1e9
        for line in (self.path / "cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec"):
                return int(line.split()[1]) / 1e6
        return None

    def close(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.rmdir()


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, int, str, float | None]:
    """Wall time, peak process-tree RSS, standard error and CPU seconds (None where they
    cannot be counted) of one command."""
    account = CpuAccount()
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=account.enter)  # fmt: skip
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    time.sleep(0.5)  # processes that outlived the command (none should) end first
    cpu = account.seconds()
    account.close()
    if process.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv[:4])} failed with exit status {process.returncode}")
    return wall, peak, err, cpu


def fast_path(root: Path, jobs: int, env: dict[str, str]) -> tuple[float, int, float | None]:
    gradebook = root.parent / f"{root.name}.sqlite"
    argv = [sys.executable, "-m", "grader", "batch", str(root), "--jobs", str(jobs),
            "--gradebook", str(gradebook)]  # fmt: skip
    seconds, peak, _, cpu = run_measured(argv, env)
    return seconds, peak, cpu


def straightforward(folders: list[Path], env: dict[str, str]) -> float:
    """Total seconds of a fresh process per submission for each of `folders`."""
    ids = [e.id for e in EXERCISES]
    started = time.perf_counter()
    for folder in folders:
        subprocess.run([sys.executable, "-c", STRAIGHTFORWARD, str(folder), *ids], cwd=ROOT,
                       env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,100,200")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--baseline-sample", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results: dict[str, object] = {"jobs": args.jobs, "exercises": len(EXERCISES), "fast": {}}
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample"
        make_class(sample, args.baseline_sample)
        folders = sorted(sample.iterdir())
        half = len(folders) // 2
        baseline_seconds = straightforward(folders[:half], env)
        for size in sizes:
            root = Path(tmp) / f"class{size}"
            make_class(root, size)
            seconds, peak, cpu = fast_path(root, args.jobs, env)
            results["fast"][size] = {"seconds": seconds, "peak_rss_mib": peak / 2**20,
                                     "cpu_seconds": cpu}  # fmt: skip
            cpu_text = f", {cpu:.1f} CPU-s" if cpu is not None else ""
            print(f"grade batch   {size:4d} submissions x {len(EXERCISES)} exercises: "
                  f"{seconds:7.1f} s  ({seconds / size:.3f} s/submission{cpu_text}), "
                  f"peak RSS {peak / 2**20:.0f} MiB")  # fmt: skip
        baseline_seconds += straightforward(folders[half:], env)
        per_submission = baseline_seconds / len(folders)
    largest = sizes[-1]
    baseline = per_submission * largest
    speedup = baseline / results["fast"][largest]["seconds"]
    results["straightforward"] = {
        "seconds_per_submission": per_submission,
        "sample": args.baseline_sample,
        "scaled_seconds": baseline,
    }
    results["speedup"] = speedup
    sample = f"measured on {args.baseline_sample}, half before and half after, scaled"
    print(f"fresh process {largest:4d} submissions: {baseline:7.1f} s  "
          f"({per_submission:.3f} s/submission, {sample})")  # fmt: skip
    print(f"speed-up at {largest}: {speedup:.1f}x")
    for small, large in itertools.pairwise(sizes):  # linear: the same cost per added one
        added = results["fast"][large]["seconds"] - results["fast"][small]["seconds"]
        results["fast"][large]["added_seconds_per_submission"] = added / (large - small)
        print(
            f"grade batch {small} -> {large}: {added / (large - small):.3f} s per added submission"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
