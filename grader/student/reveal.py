"""The reference solution of an exercise, shown to a student who has passed it (if the
course allows it): `grade reveal exercise-03 [--key KEY]`.

The instructor decides per exercise in course.toml (`[solutions] reveal_after_pass`).

- In the project (instructor side, or a lab where students work in the project itself)
  the reference is a plain read of `solutions/`, allowed once the student's last result
  has full marks.
- A student kit never holds `solutions/`. Built with `grade release --reveal-after-due`,
  it holds each allowed reference encrypted with its own Fernet key (AES-128-CBC with an
  HMAC-SHA256 tag, from the `cryptography` package): `grader/release/reveal/<id>.fernet`.
  The keys go to a file beside the kit, never into it; the instructor publishes each key
  after the exercise's due date, and `grade reveal exercise-03 --key KEY` decrypts.

What this protects, honestly (SECURITY.md): the ciphertext is safe only until its key
is published; the "once passed" check in a kit runs on the student's machine and is a
courtesy, not a control (anyone with the key can decrypt the blob with any Fernet tool).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from grader.course import Course
from grader.exercises import PACKAGE_ROOT, PROJECT_ROOT, Exercise, get_exercise
from grader.student.progress import load_progress

REVEAL_DIR = PACKAGE_ROOT / "release" / "reveal"
MANIFEST = "manifest.json"
SUFFIX = ".fernet"


class RevealError(Exception):
    """The reference cannot be shown (one line saying why and what to do)."""


def reveal_reference(
    exercise_id: str,
    *,
    key: str | None,
    gradebook: str | Path | None,
    student: str,
    course: Course,
    project_root: Path = PROJECT_ROOT,
    reveal_dir: Path = REVEAL_DIR,
) -> str:
    """The reference source of `exercise_id`, if the course and the student's result allow."""
    exercise = get_exercise(exercise_id)
    reference = project_root / "solutions" / exercise.filename
    if reference.is_file():
        if exercise.id not in course.reveal_after_pass:
            raise RevealError(
                f"your course does not reveal the reference of {exercise.id} "
                "(course.toml: [solutions] reveal_after_pass)"
            )
        _require_pass(exercise, gradebook, student)
        return reference.read_text(encoding="utf-8")
    blob = reveal_dir / f"{exercise.id}{SUFFIX}"
    if not blob.is_file():
        raise RevealError(
            f"this kit does not include the reference of {exercise.id} (your instructor's choice)"
        )
    _require_pass(exercise, gradebook, student)
    if not key:
        due = _manifest(reveal_dir).get(exercise.id, {}).get("due")
        when = f" after the due date ({due})" if due else ""
        raise RevealError(
            f"the reference of {exercise.id} is encrypted in this kit; your instructor "
            f"publishes its key{when}: then run `grade reveal {exercise.id} --key KEY`"
        )
    return _decrypt(blob, key, exercise)


def _require_pass(exercise: Exercise, gradebook: str | Path | None, student: str) -> None:
    progress = load_progress(gradebook, student)
    if progress.is_done(exercise.id):
        return
    score = progress.scores.get(exercise.id)
    last = f"your last result: {score[0]:g}/{score[1]:g}" if score else "no result recorded yet"
    raise RevealError(f"pass {exercise.id} first (full marks; {last}): `grade {exercise.id}`")


def _decrypt(blob: Path, key: str, exercise: Exercise) -> str:
    from cryptography.fernet import Fernet, InvalidToken

    try:
        return Fernet(key.strip().encode()).decrypt(blob.read_bytes()).decode("utf-8")
    except (InvalidToken, ValueError, UnicodeDecodeError):
        raise RevealError(f"that key does not open the reference of {exercise.id}") from None


def _manifest(reveal_dir: Path) -> dict[str, dict[str, str | None]]:
    try:
        return json.loads((reveal_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def encrypt_references(
    kit_reveal_dir: Path, exercise_ids: tuple[str, ...], course: Course, project_root: Path
) -> dict[str, str]:
    """Write one encrypted reference per exercise into a kit; returns id -> key (base64).

    Every exercise gets its own fresh key, so publishing one key opens one reference."""
    from cryptography.fernet import Fernet

    kit_reveal_dir.mkdir(parents=True, exist_ok=True)
    keys, manifest = {}, {}
    for exercise_id in exercise_ids:
        exercise = get_exercise(exercise_id)
        key = Fernet.generate_key()
        plain = (project_root / "solutions" / exercise.filename).read_bytes()
        (kit_reveal_dir / f"{exercise.id}{SUFFIX}").write_bytes(Fernet(key).encrypt(plain))
        due = course.due.get(exercise.id)
        manifest[exercise.id] = {"file": exercise.filename, "due": due.isoformat() if due else None}
        keys[exercise.id] = key.decode()
    (kit_reveal_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return keys


def write_keys(path: Path, keys: dict[str, str], course: Course) -> None:
    """The instructor's key file (TOML, readable by its owner only)."""
    lines = [
        "# Keys of the encrypted references in a flowgrade student kit.",
        "# Keep this file private. Publish a key only after that exercise's due date;",
        "# students then run: grade reveal EXERCISE --key KEY",
        "[keys]",
    ]
    for exercise_id, key in keys.items():
        due = course.due.get(exercise_id)
        lines.append(f'"{exercise_id}" = "{key}"' + (f"  # due {due.isoformat()}" if due else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
