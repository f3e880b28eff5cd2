"""Latency benchmark: `grade exercise-NN` and the cheap commands against `import torch`.

Measures, side by side in one run and interleaved (so background load hits all alike):
  * python -c "import torch"                          the floor
  * grade exercise-03 --submission solutions          target: <= 1.5x the floor
  * grade exercise-06, -07, -08 (the same)           target: <= 1.5x the floor
  * grade --help, grade list                           target: <= 0.25x the floor

    python benchmarks/latency.py [--repeat 7] [--json OUT] [--exercises exercise-08]

`--exercises` times only the floor and `grade` on the exercises named (comma-separated),
any id of the registry: `--exercises exercise-09` times a grading that includes the
reference's training (bounded by its own 30 s limit, not by the 1.5x target).

Warm file cache: one untimed round runs first. Reports medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.exercises import EXERCISE_IDS  # noqa: E402

GRADED = ("exercise-03", "exercise-06", "exercise-07", "exercise-08")  # the default set


def commands(gradebook: Path, graded: tuple[str, ...] = GRADED) -> dict[str, list[str]]:
    """The commands to time; with a subset of `GRADED`, only the floor and those."""
    grade = [sys.executable, "-m", "grader"]
    exercises = {
        f"grade {exercise}": [
            *grade, exercise, "--submission", str(ROOT / "solutions"), "--gradebook",
            str(gradebook), "--device", "cpu",
        ]
        for exercise in graded
    }  # fmt: skip
    floor = {"import torch": [sys.executable, "-c", "import torch"]}
    if graded != GRADED:
        return {**floor, **exercises}
    return {
        **floor,
        **exercises,
        "grade --help": [*grade, "--help"],
        "grade list": [*grade, "list", "--gradebook", str(gradebook)],
    }


def wall_time(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return time.perf_counter() - started


def measure(repeat: int, graded: tuple[str, ...] = GRADED) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        argvs = commands(Path(tmp) / "gradebook.sqlite", graded)
        for argv in argvs.values():  # warm the file cache
            wall_time(argv)
        samples: dict[str, list[float]] = {name: [] for name in argvs}
        for _ in range(repeat):
            for name, argv in argvs.items():
                samples[name].append(wall_time(argv))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument(
        "--exercises",
        default=",".join(GRADED),
        help="comma-separated ids to grade (default: %(default)s)",
    )
    args = parser.parse_args()
    graded = tuple(e.strip() for e in args.exercises.split(",") if e.strip())
    unknown = sorted(set(graded) - set(EXERCISE_IDS))
    if unknown:
        choices = ", ".join(EXERCISE_IDS)
        parser.error(f"unknown exercise(s) {', '.join(unknown)}; choose from {choices}")
    medians = measure(args.repeat, graded)
    floor = medians["import torch"]
    print(f"{'command':<20} {'median s':>9} {'x import torch':>15}")
    for name, seconds in medians.items():
        print(f"{name:<20} {seconds:>9.3f} {seconds / floor:>15.2f}")
    if args.json:
        args.json.write_text(json.dumps({"median_s": medians, "repeat": args.repeat}, indent=2))


if __name__ == "__main__":
    main()
