"""Where a kit's public vectors live and how one vector file is laid out.

One `.npz` per exercise in `grader/release/vectors/`: the arrays of every recorded call
plus `MANIFEST_KEY`, the JSON manifest (tests, points, calls as `encoding` nodes) stored
as a byte array. Written by `grader.release.vectors` at release time, read by
`grader.grading.public` in the kit, always with `allow_pickle=False`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
MANIFEST_KEY = "__manifest__"


class NoPublicChecks(LookupError):
    """This kit has no public vectors for the exercise."""


@dataclass(frozen=True)
class VectorFile:
    """One exercise's recorded tests (manifest) and the arrays they refer to."""

    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray]
    digest: str


def vector_path(exercise_id: str) -> Path:
    return VECTORS_DIR / f"{exercise_id}.npz"


def load_vectors(exercise_id: str) -> VectorFile:
    path = vector_path(exercise_id)
    if not path.is_file():
        raise NoPublicChecks(f"no public checks for {exercise_id} in this kit")
    raw = path.read_bytes()
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    manifest = json.loads(arrays.pop(MANIFEST_KEY).tobytes().decode())
    return VectorFile(manifest, arrays, hashlib.sha256(raw).hexdigest()[:12])
