"""Device check: grade the reference and known-wrong submissions on CPU and on CUDA.

For every exercise it grades `solutions/` and every known-wrong submission in the mutation
table tests/wrong/mutants.py (written into a temporary folder) with the same seed on each
device, and prints per-submission scores and wall times.
Exit status 1 if any score differs between devices (a test that depends on the device),
except for the mutants of kind "device": a tensor made on the wrong device costs the
structure point on the CPU (the virtual-device check) and fails every call it reaches on a
GPU (the device refuses it), so their scores are expected to differ.

    python benchmarks/device_check.py [--devices cpu,cuda] [--seed 0] [--json OUT]

Run it wherever a GPU is available; the README records its figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tests.wrong.mutants` lives in the checkout, not the package

import torch  # noqa: E402

from grader.exercises import EXERCISES  # noqa: E402
from grader.runner.zygote import Zygote, shared_zygote  # noqa: E402
from tests.wrong.mutants import MUTANTS, materialize  # noqa: E402

DEVICE_SLIPS = {m.name for table in MUTANTS.values() for m in table if m.kind == "device"}


def submissions(exercise_id: str, scratch: Path) -> list[Path]:
    """`solutions/`, then one folder per mutant of this exercise, written under `scratch`."""
    wrong = [materialize(exercise_id, m.name, scratch / m.name) for m in MUTANTS[exercise_id]]
    return [ROOT / "solutions", *wrong]


def grade_row(
    exercise_id: str, folder: Path, devices: list[str], seed: int, zygote: Zygote
) -> dict[str, object]:
    """Score, per-test scores and wall time of one submission on each device."""
    from grader.grading import grade_exercise

    row: dict[str, object] = {"exercise": exercise_id, "submission": folder.name}
    for device in devices:
        started = time.perf_counter()
        result = grade_exercise(exercise_id, folder, device=device, seed=seed, zygote=zygote)
        row[device] = {
            "score": result.score,
            "max": result.max_score,
            "tests": [t.score for t in result.tests],
            "seconds": round(time.perf_counter() - started, 3),
        }
    return row


def grade_everywhere(devices: list[str], seed: int) -> list[dict[str, object]]:
    zygote = shared_zygote()  # fork the zygote before CUDA is initialised here
    rows = []
    with tempfile.TemporaryDirectory(prefix="device_check_") as scratch:
        for exercise in EXERCISES:
            for folder in submissions(exercise.id, Path(scratch) / exercise.id):
                rows.append(grade_row(exercise.id, folder, devices, seed, zygote))
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
        expected = row["submission"] in DEVICE_SLIPS
        mismatches += not same and not expected
        flag = "" if same else "  differs (a device slip: expected)" if expected else "  MISMATCH"
        print(f"{row['exercise']}  {row['submission']:<28} {'  '.join(cells)}{flag}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
