"""The Dask executor's overhead on one machine: the same class, local pool vs LocalCluster.

Generates one class of N submissions covering every exercise (as `throughput.py` does),
then runs, alternately and `--repeat` times each (so that a change in the shared
machine's load weighs on both sides):

  * local   `grade batch DIR --jobs J`                    (forked worker processes)
  * dask    `grade batch DIR --jobs J --executor dask`    (a LocalCluster of J worker
            processes, one thread each, started and stopped by the batch)

Each run grades the whole class into a fresh gradebook. Reported per executor: every
run's wall time, the median, the dask path's overhead over the local pool (median over
median), the grading throughput per worker (submissions per second per worker, from the
batch's own "graded N submission(s) in M:SS" line, so without start-up), the peak
resident memory of the batch's process tree and, where a cgroup can count it (root on
Linux), the CPU seconds of the whole process tree: on a shared machine wall time swings
with the other tenants' load, the CPU a run needs much less.

    python benchmarks/dask_overhead.py [--size 200] [--jobs 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import make_class, run_measured  # noqa: E402
from grader.exercises import EXERCISES  # noqa: E402

GRADED = re.compile(r"graded (\d+) submission\(s\) in (?:(\d+):)?(\d+):(\d+)")


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, float | None]:
    """(wall seconds, grading seconds from the batch's own line, peak tree RSS, CPU
    seconds of the whole process tree or None)."""
    wall, peak, err, cpu = run_measured(argv, env)
    found = GRADED.search(err)
    if not found:
        raise SystemExit(f"no 'graded N submission(s)' line in: {err[-800:]}")
    hours, minutes, seconds = (int(found.group(i) or 0) for i in (2, 3, 4))
    return wall, float(hours * 3600 + minutes * 60 + seconds), peak, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    executors = {"local": [], "dask": ["--executor", "dask"]}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in executors}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "class"
        make_class(root, args.size)
        for attempt in range(args.repeat):
            for name, extra in executors.items():
                book = Path(tmp) / f"{name}-{attempt}.sqlite"
                argv = [sys.executable, "-m", "grader", "batch", str(root), "--jobs",
                        str(args.jobs), "--gradebook", str(book), *extra]  # fmt: skip
                wall, grading, peak, cpu = run(argv, env)
                runs[name].append({"seconds": wall, "grading_seconds": grading,
                                   "peak_rss_mib": peak / 2**20, "cpu_seconds": cpu})  # fmt: skip
                cpu_text = f", {cpu:.1f} CPU-s" if cpu is not None else ""
                print(f"{name:5s} run {attempt + 1}: {wall:6.1f} s  (grading {grading:.0f} s"
                      f"{cpu_text}, peak RSS {peak / 2**20:.0f} MiB)", flush=True)  # fmt: skip
    summary: dict[str, object] = {"size": args.size, "jobs": args.jobs,
                                  "exercises": len(EXERCISES), "runs": runs}  # fmt: skip
    medians = {n: statistics.median(r["seconds"] for r in rs) for n, rs in runs.items()}
    for name, rs in runs.items():
        grading = statistics.median(r["grading_seconds"] for r in rs)
        per_worker = args.size / grading / args.jobs
        summary[name] = {"median_seconds": medians[name], "per_worker_per_s": per_worker}
        print(f"{name:5s} median {medians[name]:6.1f} s; grading throughput "
              f"{per_worker:.2f} submissions/s per worker "
              f"({per_worker * len(EXERCISES):.1f} exercises/s)")  # fmt: skip
    overhead = medians["dask"] / medians["local"] - 1.0
    summary["dask_overhead"] = overhead
    print(f"dask overhead over the local pool: {overhead:+.1%} wall (target <= +15%)")
    cpu = {n: [r["cpu_seconds"] for r in rs] for n, rs in runs.items()}
    if all(v is not None for values in cpu.values() for v in values):
        cpu_medians = {n: statistics.median(v) for n, v in cpu.items()}
        summary["dask_cpu_overhead"] = cpu_medians["dask"] / cpu_medians["local"] - 1.0
        print(f"CPU of the whole process tree: local {cpu_medians['local']:.1f} s, dask "
              f"{cpu_medians['dask']:.1f} s: {summary['dask_cpu_overhead']:+.1%}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
