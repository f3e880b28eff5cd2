"""Finding what a class handed in: one folder per student under SUBMISSIONS_DIR.

    SUBMISSIONS_DIR/
        alice/exercise_03_affine_coupling.py      files laid out like `exercises/`
        alice/exercises/exercise_01_...py         (an `exercises/` subfolder also works)
        alice/quiz-01.attempt.json                quiz attempt files, any depth
        timestamps.csv                            optional: when each file was handed in

The folder name is the student id. Hidden folders and archive debris (`__MACOSX`) are
ignored. `timestamps.csv` has the columns `student,submitted_at` and optionally
`exercise` (ISO 8601 times, e.g. exported from the LMS; an empty `submitted_at` means
"not known", as an LMS import writes when the download has no time: no late penalty);
without a row the file's modification time is used.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from grader.exercises import Exercise

TIMESTAMPS_FILE = "timestamps.csv"
IGNORED_FOLDERS = frozenset({"__MACOSX", "__pycache__"})
ATTEMPT_SUFFIX = ".attempt.json"


class DiscoveryError(ValueError):
    """The submissions folder cannot be read as a class (one-line message)."""


@dataclass(frozen=True)
class StudentFolder:
    """One student's submission folder and where their exercise files live."""

    student: str
    path: Path

    @property
    def exercise_dir(self) -> Path:
        nested = self.path / "exercises"
        return nested if nested.is_dir() else self.path

    def exercise_file(self, exercise: Exercise) -> Path:
        return self.exercise_dir / exercise.filename


def find_students(submissions_dir: Path) -> list[StudentFolder]:
    """Every student folder, sorted by student id."""
    if not submissions_dir.is_dir():
        raise DiscoveryError(f"{submissions_dir}: not a folder of student submissions")
    folders = [
        StudentFolder(p.name, p)
        for p in sorted(submissions_dir.iterdir())
        if p.is_dir() and not p.name.startswith(".") and p.name not in IGNORED_FOLDERS
    ]
    if not folders:
        raise DiscoveryError(f"{submissions_dir}: no student folders found (one per student)")
    return folders


def find_quiz_attempt_files(student_folder: Path) -> list[Path]:
    """Quiz attempt files (`*.attempt.json`, any depth) in one student's folder, sorted.

    The hook for quiz scoring in `grade batch`: see `grader.batch.quiz_hook`.
    """
    return sorted(p for p in student_folder.rglob(f"*{ATTEMPT_SUFFIX}") if p.is_file())


def load_timestamps(submissions_dir: Path) -> dict[tuple[str, str | None], str | None]:
    """(student, exercise or None) -> ISO time (None: not known), from `timestamps.csv`."""
    path = submissions_dir / TIMESTAMPS_FILE
    if not path.is_file():
        return {}
    times: dict[tuple[str, str | None], str | None] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"student", "submitted_at"} <= set(reader.fieldnames):
            raise DiscoveryError(f"{path}: needs the columns student,submitted_at[,exercise]")
        for line, row in enumerate(reader, start=2):
            when = (row.get("submitted_at") or "").strip()
            exercise = (row.get("exercise") or "").strip() or None
            if not when:
                times[(row["student"].strip(), exercise)] = None
                continue
            try:
                parsed = datetime.fromisoformat(when)
            except ValueError:
                raise DiscoveryError(
                    f"{path}, line {line}: submitted_at {when!r} is not an ISO 8601 time"
                ) from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            times[(row["student"].strip(), exercise)] = parsed.isoformat(timespec="seconds")
    return times


def submitted_at(
    folder: StudentFolder,
    exercise: Exercise,
    timestamps: dict[tuple[str, str | None], str | None],
) -> str | None:
    """When this exercise was handed in: timestamps.csv first, else the file's mtime."""
    for key in ((folder.student, exercise.id), (folder.student, None)):
        if key in timestamps:
            return timestamps[key]
    path = folder.exercise_file(exercise)
    if not path.is_file():
        return None
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return mtime.isoformat(timespec="seconds")
