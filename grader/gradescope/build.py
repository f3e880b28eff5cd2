"""`grade gradescope build autograder.zip`: the zip Gradescope's autograder expects.

    summary = build_autograder(Path("autograder.zip"), exercises=["exercise-03"])

Layout (Gradescope unpacks it into /autograder/source and copies run_autograder to
/autograder/run_autograder):

    setup.sh                       installs Python >= 3.11, bubblewrap and the pinned
                                   environment (constraints.txt) into /autograder/venv
    run_autograder                 grades /autograder/submission (grader.gradescope.autograder)
    flowgrade-autograder.json      the exercises required, visibility settings, course file
    torch-index.txt                the extra package index for torch's CPU wheels (optional)
    course.toml                    the course's limits and sandbox mode (optional)
    pyproject.toml, constraints.txt, README.md, grader/, solutions/, exercises/

The hidden tests and the reference solutions are in the zip (Gradescope needs them to
grade); students never see the zip. Both scripts are stored executable.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.exercises import PROJECT_ROOT, get_exercise
from grader.gradescope.autograder import CONFIG_FILE, VISIBILITIES, AutograderConfig

HERE = Path(__file__).resolve().parent
SCRIPTS = ("setup.sh", "run_autograder")
PROJECT_FILES = ("pyproject.toml", "constraints.txt", "README.md")
PROJECT_FOLDERS = ("grader", "solutions", "exercises")
SKIPPED = frozenset({"__pycache__", ".pytest_cache", ".flowgrade"})
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


class BuildError(ValueError):
    """The autograder cannot be built (one-line message)."""


@dataclass
class BuildSummary:
    path: Path
    files: int
    exercises: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


def _project_files(root: Path) -> list[tuple[Path, str]]:
    """(file, name in the zip) for the project's own files, sorted."""
    found = []
    for name in PROJECT_FILES:
        if not (root / name).is_file():
            raise BuildError(f"{root / name} is missing; build from a flowgrade checkout")
        found.append((root / name, name))
    for folder in PROJECT_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if set(relative.parts) & SKIPPED or path.suffix == ".pyc" or path.is_symlink():
                continue
            if path.is_file():
                found.append((path, relative.as_posix()))
    return found


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    entry = zipfile.ZipInfo(name, ZIP_TIME)
    entry.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
    entry.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(entry, data)


def build_autograder(
    out: Path,
    *,
    exercises: list[str] | None = None,
    course: Path | None = None,
    visibility: str = "visible",
    test_visibility: str = "visible",
    torch_index: str = TORCH_CPU_INDEX,
    project_root: Path = PROJECT_ROOT,
) -> BuildSummary:
    """Write the autograder zip to `out` (see the module docstring)."""
    for value in (visibility, test_visibility):
        if value not in VISIBILITIES:
            raise BuildError(f"visibility {value!r}; valid: {', '.join(VISIBILITIES)}")
    chosen = tuple(get_exercise(e).id for e in exercises or ())
    missing = [e for e in chosen if not get_exercise(e).hidden_test_file.is_file()]
    if missing:
        raise BuildError(f"no hidden tests for {', '.join(missing)} here (a student kit?)")
    if course is not None and course.is_dir():
        course = course / "course.toml"
    if course is not None and not course.is_file():
        raise BuildError(f"{course}: no such course file")
    config = AutograderConfig(
        chosen, visibility, test_visibility, "course.toml" if course else None
    )
    files = _project_files(project_root)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(temporary, "w") as archive:
        for script in SCRIPTS:
            _add(archive, script, (HERE / script).read_bytes(), 0o755)
        config_text = json.dumps(config.to_data(), indent=2) + "\n"
        _add(archive, CONFIG_FILE, config_text.encode())
        if torch_index:
            _add(archive, "torch-index.txt", f"{torch_index}\n".encode())
        if course is not None:
            _add(archive, "course.toml", course.read_bytes(), 0o600)
        for path, name in files:
            _add(archive, name, path.read_bytes())
    temporary.replace(out)
    notes = []
    if course is not None:
        from grader.course import CourseError, load_course

        try:
            mode = load_course(course).sandbox_mode
        except CourseError as err:
            raise BuildError(str(err)) from None
        if mode in ("bwrap", "unshare"):
            notes.append(
                f"{course}: [sandbox] mode = {mode!r} insists on a layer Gradescope's container "
                'usually forbids; every submission would fail there. Use mode = "auto"'
            )
    if not chosen:
        notes.append("no --exercise given: every exercise found in a submission is graded")
    return BuildSummary(out, len(files) + len(SCRIPTS) + 1, chosen, notes)
