"""Watch-mode latency: from saving the exercise file to the re-graded result on screen.

Runs `grade watch exercise-03` under a pseudo-terminal (pexpect), waits for its first
screen, then saves the file N times, alternating two submissions that both stay below
full marks (so the watch does not move on), and times each save until the screen shows
the new result's footer. Compared with a cold `grade exercise-03` of the same file,
which pays for the interpreter, torch, the hidden tests and a fresh fork server.

    python benchmarks/watch_latency.py [--saves 15]

Needs the dev extra (pexpect). Reports median, 90th percentile and maximum.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parents[1]
FILENAME = "exercise_03_affine_coupling.py"
FOOTER = r"Ctrl-C\s+to\s+stop\."


def submissions() -> tuple[str, str]:
    """Two wrong submissions (a wrong inverse, a wrong log-det sign): neither passes."""
    reference = (ROOT / "solutions" / FILENAME).read_text()
    return (
        reference.replace("(x_b - shift)", "(x_b + shift)"),
        reference.replace("-log_scale.sum(dim=-1)", "log_scale.sum(dim=-1)"),
    )


def measure(saves: int) -> tuple[list[float], float]:
    wrong = submissions()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / FILENAME).write_text(wrong[0])
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
        cold = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "grader", "exercise-03", "--submission", str(work),
             "--no-save", "--device", "cpu"],
            env=env, capture_output=True, check=False,
        )  # fmt: skip
        cold = time.perf_counter() - cold
        child = pexpect.spawn(
            sys.executable,
            ["-m", "grader", "watch", "exercise-03", "--submission", str(work), "--no-save",
             "--device", "cpu"],
            env=env, dimensions=(24, 80), encoding="utf-8", timeout=120,
        )  # fmt: skip
        child.expect(FOOTER)
        times = []
        for i in range(saves):
            started = time.perf_counter()
            (work / FILENAME).write_text(wrong[(i + 1) % 2])
            child.expect(FOOTER)
            times.append(time.perf_counter() - started)
        child.sendintr()
        child.expect(pexpect.EOF)
    return times, cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=15)
    args = parser.parse_args()
    times, cold = measure(args.saves)
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    print(f"re-grade after a save ({len(times)} saves): median {statistics.median(times):.3f} s, "
          f"90th percentile {p90:.3f} s, max {max(times):.3f} s")  # fmt: skip
    print(f"cold `grade exercise-03` of the same file: {cold:.2f} s")


if __name__ == "__main__":
    main()
