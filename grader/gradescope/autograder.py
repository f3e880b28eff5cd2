"""Inside Gradescope's container: grade one submission and write results.json.

    python -m grader.gradescope.autograder --root /autograder      (what run_autograder runs)

Gradescope's layout (the root is /autograder, or $FLOWGRADE_AUTOGRADER_ROOT in tests):

    ROOT/source/        this project, unpacked from autograder.zip (with the hidden tests)
    ROOT/submission/    the student's files, flat or in folders
    ROOT/results/       results.json goes here

Steps: make the secrets and the results folder private to root (`harden`), find each
exercise file at any depth of the submission (`place_submission`: the exact file name
from exercises/, else one unambiguous `exercise_NN*.py`), copy them into a private
staging folder laid out like exercises/, grade every exercise found (or the ones the
zip was built for) with the same sandbox as `grade exercise-NN`, and write results.json
in one step (a temporary file renamed over it), after the fork server and every worker
are gone. Anything a submission left in results/ is replaced.

Sandbox: the course's mode (default auto). Gradescope's Docker container usually forbids
new namespaces (no CAP_SYS_ADMIN), so bubblewrap and per-worker namespaces fall away;
what stays is the process split, the time and resource limits, an unprivileged uid per
worker (Docker keeps CAP_SETUID) and the file modes set here, which keep that uid out of
the hidden tests, the reference, the submission and results/. The layers in force go to
the instructor's log (stdout), never to the student.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.exercises import EXERCISES, Exercise, exercise_for_file, get_exercise
from grader.results import ExerciseResult

ROOT_ENV = "FLOWGRADE_AUTOGRADER_ROOT"
CONFIG_FILE = "flowgrade-autograder.json"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
SKIPPED_FOLDERS = frozenset({"__MACOSX", "__pycache__"})


class AutograderError(RuntimeError):
    """The autograder is misconfigured (one line, shown to the student as the reason)."""


@dataclass(frozen=True)
class AutograderConfig:
    """What the zip was built for: the exercises it requires (empty: every exercise found),
    the visibility of the result and of each test, the course.toml inside source/."""

    exercises: tuple[str, ...] = ()
    visibility: str = "visible"
    test_visibility: str = "visible"
    course: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "exercises": list(self.exercises),
            "visibility": self.visibility,
            "test_visibility": self.test_visibility,
            "course": self.course,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AutograderConfig:
        config = cls(
            exercises=tuple(get_exercise(e).id for e in data.get("exercises", [])),
            visibility=str(data.get("visibility", "visible")),
            test_visibility=str(data.get("test_visibility", "visible")),
            course=data.get("course"),
        )
        for value in (config.visibility, config.test_visibility):
            if value not in VISIBILITIES:
                raise AutograderError(f"{CONFIG_FILE}: visibility {value!r} is not valid")
        return config


def load_config(source: Path) -> AutograderConfig:
    path = source / CONFIG_FILE
    if not path.is_file():
        return AutograderConfig()
    return AutograderConfig.from_data(json.loads(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------- the submission


@dataclass
class Placement:
    """Which submitted file is graded as which exercise, and what was noticed on the way."""

    files: dict[str, Path] = field(default_factory=dict)  # exercise id -> submitted file
    notes: list[str] = field(default_factory=list)


def _submitted_files(submission: Path) -> list[Path]:
    """Regular .py files at any depth, never through a link, hidden folders left out."""
    found = []
    for folder, dirs, files in os.walk(submission, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith(".py") and stat.S_ISREG(os.lstat(path).st_mode):
                found.append(path)
    return found


def place_submission(submission: Path, exercises: Sequence[Exercise]) -> Placement:
    """Map submitted files to exercises (see the module docstring)."""
    placement = Placement()
    files = _submitted_files(submission) if submission.is_dir() else []

    def shown(path: Path) -> str:
        return str(path.relative_to(submission))

    matches = [(p, exercise_for_file(p.name)) for p in files]
    for exercise in exercises:
        exact = [p for p, m in matches if m is not None and m[0] == exercise and m[1]]
        loose = [p for p, m in matches if m is not None and m[0] == exercise and not m[1]]
        candidates = exact or loose
        if not candidates:
            continue
        if not exact and len(loose) > 1:
            names = ", ".join(shown(p) for p in loose)
            placement.notes.append(
                f"{exercise.id}: several files could be {exercise.filename} ({names}); "
                f"rename yours to {exercise.filename}"
            )
            continue
        chosen = min(candidates, key=lambda p: (len(p.relative_to(submission).parts), str(p)))
        placement.files[exercise.id] = chosen
        if len(candidates) > 1:
            placement.notes.append(
                f"{exercise.id}: {len(candidates)} files named {exercise.filename}; "
                f"graded {shown(chosen)} (the one nearest the top)"
            )
        elif not exact:
            placement.notes.append(f"{exercise.id}: graded {shown(chosen)} as {exercise.filename}")
    return placement


def stage(placement: Placement, staging: Path) -> None:
    """Copy the placed files into `staging`, laid out like exercises/."""
    for exercise_id, path in placement.files.items():
        shutil.copyfile(path, staging / get_exercise(exercise_id).filename, follow_symlinks=False)


def harden(root: Path, source: Path) -> None:
    """Leave the secrets, the submission and results/ to root alone (see the module
    docstring); a no-op where the grader is not root (the workers share its uid then)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    for path in (
        source / "solutions",
        source / "grader" / "hidden",
        root / "submission",
        root / "results",
    ):
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o700)


# ---------------------------------------------------------------- grading


def grade_one(exercise_id: str, folder: Path, *, zygote: Any, limits: Any) -> ExerciseResult:
    """The one call into the grading library (`grader.grading.grade_exercise`), so that
    moving it is a one-line change here."""
    from grader.grading import grade_exercise

    return grade_exercise(exercise_id, folder, device="cpu", zygote=zygote, limits=limits)


def grade_placed(
    staging: Path, exercise_ids: Sequence[str], course_path: Path | None
) -> tuple[list[ExerciseResult], str]:
    """Grade each placed exercise in one fork server; returns the results and the layers."""
    from grader.course import load_course
    from grader.runner.zygote import Zygote

    course = load_course(course_path)
    zygote = Zygote.start(course.sandbox_mode)
    try:
        layers = zygote.describe(course.limits)
        results = [grade_one(e, staging, zygote=zygote, limits=course.limits) for e in exercise_ids]
    finally:
        zygote.close()
    return results, layers


# ---------------------------------------------------------------- results.json


def _test_entry(
    name: str, number: str, score: float, max_score: float, output: str, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "number": number,
        "score": round(score, 6),
        "max_score": round(max_score, 6),
        "output": output,
        **extra,
    }


def results_json(
    config: AutograderConfig,
    placement: Placement,
    results: Sequence[ExerciseResult],
    duration_s: float,
) -> dict[str, Any]:
    """Gradescope's results.json: one test per hidden test (its feedback, never its code),
    one zero per required exercise that was not handed in."""
    tests: list[dict[str, Any]] = []
    lines: list[str] = []
    by_id = {r.exercise: r for r in results}
    wanted = config.exercises or tuple(by_id)
    for number, exercise_id in enumerate(wanted, start=1):
        exercise = get_exercise(exercise_id)
        result = by_id.get(exercise_id)
        if result is None:
            from grader.batch.points import max_points

            worth = max_points(exercise)
            why = f"not handed in: no file named {exercise.filename} in your submission"
            tests.append(
                _test_entry(
                    f"{exercise.id}: {exercise.title}",
                    str(number),
                    0.0,
                    worth,
                    why,
                    status="failed",
                    tags=[exercise.id],
                    visibility=config.test_visibility,
                )
            )
            lines.append(f"{exercise.id}: 0/{worth:g} ({why})")
            continue
        for index, test in enumerate(result.tests, start=1):
            tests.append(
                _test_entry(
                    f"{exercise.id} {test.name}: {test.description}",
                    f"{number}.{index}",
                    test.score,
                    test.max_score,
                    test.output,
                    status="passed" if test.status == "passed" else "failed",
                    tags=[exercise.id],
                    visibility=config.test_visibility,
                )
            )
        lines.append(f"{exercise.id}: {result.score:g}/{result.max_score:g}")
        lines += [f"  {note}" for note in result.notes]
    if not wanted:
        names = ", ".join(e.filename for e in EXERCISES)
        lines.append(f"No exercise file found in your submission; expected one of: {names}")
    lines += placement.notes
    score = round(sum(t["score"] for t in tests), 6)
    max_score = round(sum(t["max_score"] for t in tests), 6)
    return {
        "score": score,
        "max_score": max_score,
        "execution_time": round(duration_s, 3),
        "output": f"flowgrade: {score:g}/{max_score:g}\n" + "\n".join(lines),
        "visibility": config.visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "flowgrade": {r.exercise: {"seed": r.seed, "suite_hash": r.suite_hash} for r in results}
        },
    }


def failure_json(why: str) -> dict[str, Any]:
    """results.json when grading could not happen at all (score 0, the reason)."""
    return {
        "score": 0.0,
        "output": f"The autograder could not grade your submission ({why}). "
        "Please tell your instructor.",
        "stdout_visibility": "hidden",
        "tests": [],
    }


def write_results(path: Path, data: dict[str, Any]) -> None:
    """Write results.json in one step: a temporary file in the same folder, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".results.", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- the whole run


def run(root: Path) -> dict[str, Any]:
    """Grade ROOT/submission; returns the results.json object (not yet written)."""
    started = time.monotonic()
    source = root / "source"
    config = load_config(source)
    harden(root, source)
    (root / "results" / "results.json").unlink(missing_ok=True)
    candidates = [get_exercise(e) for e in config.exercises] if config.exercises else EXERCISES
    placement = place_submission(root / "submission", list(candidates))
    found = [e.id for e in candidates if e.id in placement.files]
    results: list[ExerciseResult] = []
    if found:
        staging = Path(tempfile.mkdtemp(prefix="flowgrade-", dir=root))
        try:
            stage(placement, staging)
            course = source / config.course if config.course else None
            results, layers = grade_placed(staging, found, course)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        print(layers)
    return results_json(config, placement, results, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade a Gradescope submission with flowgrade.")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV, "/autograder")))
    root = parser.parse_args(argv).root.resolve()
    target = root / "results" / "results.json"
    try:
        data = run(root)
    except Exception as err:  # a grader fault: say so in results.json, never leave none
        traceback.print_exc()
        data = failure_json(f"{type(err).__name__}: {err}".splitlines()[0][:300])
    try:
        write_results(target, data)
    except OSError as err:
        print(f"cannot write {target}: {err}", file=sys.stderr)
        return 1
    summary = f"{data['score']:g}/{data.get('max_score', 0):g}"
    print(f"wrote {target}: {summary}, {len(data['tests'])} tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
