"""Device check: grade the reference and known-wrong submissions on CPU and on CUDA.

For every exercise it grades `solutions/` and every folder under `tests/wrong/<exercise>/`
with the same seed on each device, and prints per-submission scores and wall times.
Exit status 1 if any score differs between devices (a test that depends on the device).

    python benchmarks/device_check.py [--devices cpu,cuda] [--seed 0] [--json OUT]

Run it wherever a GPU is available; the README records its figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from grader.exercises import EXERCISES
from grader.runner.zygote import shared_zygote

ROOT = Path(__file__).resolve().parents[1]


def submissions(exercise_id: str) -> list[Path]:
    wrong = ROOT / "tests" / "wrong" / exercise_id.replace("-", "_")
    return [ROOT / "solutions", *sorted(p for p in wrong.glob("*") if p.is_dir())]


def grade_everywhere(devices: list[str], seed: int) -> list[dict[str, object]]:
    zygote = shared_zygote()  # fork the zygote before CUDA is initialised here
    from grader.session import grade_exercise

    rows = []
    for exercise in EXERCISES:
        for folder in submissions(exercise.id):
            row: dict[str, object] = {"exercise": exercise.id, "submission": folder.name}
            for device in devices:
                started = time.perf_counter()
                result = grade_exercise(
                    exercise.id, folder, device=device, seed=seed, zygote=zygote
                )
                row[device] = {
                    "score": result.score,
                    "max": result.max_score,
                    "tests": [t.score for t in result.tests],
                    "seconds": round(time.perf_counter() - started, 3),
                }
            rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    devices = args.devices.split(",")
    if "cuda" in devices and not torch.cuda.is_available():
        print("no CUDA GPU here; run with --devices cpu or on a GPU machine", file=sys.stderr)
        return 2
    rows = grade_everywhere(devices, args.seed)
    mismatches = 0
    for row in rows:
        cells = [
            f"{d}: {row[d]['score']:g}/{row[d]['max']:g} in {row[d]['seconds']:.2f}s"
            for d in devices
        ]
        same = len({tuple(row[d]["tests"]) for d in devices}) == 1
        mismatches += not same
        flag = "" if same else "  MISMATCH"
        print(f"{row['exercise']}  {row['submission']:<28} {'  '.join(cells)}{flag}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
