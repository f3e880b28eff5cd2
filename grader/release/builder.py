"""`grade release OUT_DIR`: build the student kit.

The kit holds the exercise stubs, the quizzes (practice ones as they are, others with
their answer keys stripped or left out, see `grader.release.quizzes`), the whole grader
package except the hidden tests, and public test vectors recorded from the hidden tests
(`grader.release.vectors`). It never holds `solutions/`, `grader/hidden/*.py`, the
project's own tests, or any gradebook. In the kit, `grade exercise-NN` runs the public
checks (`grader.grading.public`).

With `reveal` (`grade release --reveal-after-due`), the references of those exercises
are added encrypted, one Fernet key each (`grader.student.reveal`); the keys are written to a
file beside the kit, never inside it. The encrypted blobs hold no readable code.

The kit's `grader/quiz/solvers.py` keeps the solvers' names and nothing else
(`KIT_SOLVERS`): solvers compute answer keys (closed forms of graded maps, some by calling
the reference), and in the kit every practice template carries a precomputed table while
exam quizzes carry no key at all, so no solver is ever run there.

Before the kit is declared built, `grader.release.audit` scans every file of it for
reference function bodies and hidden test source; a leak deletes the kit and fails.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.course import Course
from grader.exercises import PROJECT_ROOT
from grader.release.audit import find_leaks
from grader.release.quizzes import QuizReleaseError, release_quizzes

TOP_LEVEL_FILES = ("pyproject.toml", "constraints.txt", "README.md", ".gitignore")
EXCLUDED_NAMES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".flowgrade", ".DS_Store"}
KIT_README = "KIT.md"

KIT_TEXT = """# Student kit

Work in `exercises/`: each file states the maths, shapes, directions and signs, and its
functions raise `NotImplementedError` until you write them.

    pip install -e .              # once
    grade exercise-03             # check your work on exercise 03
    grade watch                   # re-check on every save, move on at full marks
    grade hint exercise-03        # stuck? a nudge, then the key idea, then the formula
    grade list                    # your progress and what to do next

`grade` here runs *public checks*: the instructor's tests replayed on fixed, recorded
inputs, with the same feedback as real grading. Your instructor grades your submission
with hidden tests on fresh random inputs; `grade` tells you which tests have no public
check. Quizzes are in `quizzes/`.
"""


KIT_SOLVERS = '''"""Answer keys of parameterised questions: not part of the student kit.

In the kit every practice template carries a table of precomputed variants (keys included,
see `grader.quiz.tables`) and exam quizzes carry no key, so no solver runs here. The names
stay, so that the quiz files validate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from grader.quiz.errors import QuizError

Params = Mapping[str, float]


@dataclass(frozen=True)
class Solution:
    """The key for one drawn variant: a number or an expression (text), plus mistake values."""

    answer: float | str
    misconceptions: dict[str, float | str] = field(default_factory=dict)


def _not_in_kit(params: Params) -> NoReturn:
    raise QuizError("the student kit holds no answer keys for parameterised questions")


SOLVERS: dict[str, Callable[[Params], Solution]] = dict.fromkeys({names!r}, _not_in_kit)
'''


class ReleaseError(RuntimeError):
    """The kit could not be built (one-line message)."""


@dataclass
class KitSummary:
    """What went into the kit."""

    path: Path
    vectors: dict[str, str] = field(default_factory=dict)
    quizzes: list[str] = field(default_factory=list)
    encrypted: list[str] = field(default_factory=list)
    keys: Path | None = None

    def lines(self) -> list[str]:
        out = [f"kit written to {self.path}"]
        out += [f"{exercise}: {text}" for exercise, text in self.vectors.items()]
        out += self.quizzes
        for exercise in self.encrypted:
            out.append(
                f"{exercise}: reference shipped encrypted (revealed after a pass, with its key)"
            )
        if self.keys is not None:
            out.append(
                f"keys written to {self.keys}: keep it private; publish each key after its due date"
            )
        out.append("leak check: no reference code and no hidden test source in the kit")
        return out


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = {n for n in names if n in EXCLUDED_NAMES or n.endswith(".pyc")}
    where = Path(directory)
    if where.name == "grader":
        ignored.add("hidden")
    if where.name == "release" and where.parent.name == "grader":
        ignored.update({"vectors", "reveal"})  # made for this kit
    return ignored


def build_kit(
    out_dir: Path,
    *,
    force: bool = False,
    project_root: Path = PROJECT_ROOT,
    reveal: tuple[str, ...] = (),
    course: Course | None = None,
    keys_file: Path | None = None,
) -> KitSummary:
    """Build the kit in `out_dir` (which must not exist unless `force`).

    `reveal`: exercises whose reference ships encrypted; their keys go to `keys_file`
    (default `<out_dir>-reveal-keys.toml` beside the kit), which must be outside the kit."""
    out_dir = Path(out_dir).resolve()
    if out_dir.exists():
        if not force:
            raise ReleaseError(f"{out_dir} exists; choose a new folder or pass --force")
        shutil.rmtree(out_dir)
    if out_dir.is_relative_to(project_root) and out_dir.parts[len(project_root.parts)] in (
        "grader",
        "exercises",
        "solutions",
    ):
        raise ReleaseError(f"{out_dir}: the kit cannot be built inside the project's sources")
    keys_file = Path(keys_file or out_dir.parent / f"{out_dir.name}-reveal-keys.toml").resolve()
    if reveal and keys_file.is_relative_to(out_dir):
        raise ReleaseError(f"{keys_file}: the key file must be outside the kit")
    summary = KitSummary(out_dir)
    try:
        _copy_tree(project_root, out_dir)
        summary.vectors = _write_vectors(out_dir)
        summary.quizzes = release_quizzes(project_root / "quizzes", out_dir / "quizzes")
        keys = _encrypt(out_dir, reveal, course or Course(), project_root)
        leaks = find_leaks(out_dir, project_root)
        if leaks:
            raise ReleaseError(f"leak check failed, kit deleted: {leaks[0]}")
    except (ReleaseError, QuizReleaseError, OSError) as err:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise ReleaseError(str(err)) from None
    if keys:
        from grader.student.reveal import write_keys

        write_keys(keys_file, keys, course or Course())
        summary.encrypted, summary.keys = list(keys), keys_file
    return summary


def _encrypt(
    out_dir: Path, reveal: tuple[str, ...], course: Course, project_root: Path
) -> dict[str, str]:
    if not reveal:
        return {}
    from grader.student.reveal import encrypt_references

    target = out_dir / "grader" / "release" / "reveal"
    return encrypt_references(target, reveal, course, project_root)


def _copy_tree(root: Path, out_dir: Path) -> None:
    out_dir.mkdir(parents=True)
    shutil.copytree(root / "grader", out_dir / "grader", ignore=_ignore)
    shutil.copytree(root / "exercises", out_dir / "exercises", ignore=_ignore)
    _write_kit_solvers(out_dir / "grader" / "quiz" / "solvers.py")
    for name in TOP_LEVEL_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, out_dir / name)
    (out_dir / KIT_README).write_text(KIT_TEXT, encoding="utf-8")


def _write_kit_solvers(target: Path) -> None:
    from grader.quiz.solvers import SOLVERS

    target.write_text(KIT_SOLVERS.format(names=tuple(sorted(SOLVERS))), encoding="utf-8")


def _write_vectors(out_dir: Path) -> dict[str, str]:
    """Record public vectors for every exercise that has hidden tests and a reference."""
    from grader.batch.plan import gradable_exercises
    from grader.release.vectors import write_vectors

    written = {}
    for exercise in gradable_exercises():
        target = out_dir / "grader" / "release" / "vectors" / f"{exercise.id}.npz"
        manifest = write_vectors(exercise, target)
        public = [t["name"] for t in manifest["tests"] if t["public"]]
        written[exercise.id] = f"{len(public)} of {len(manifest['tests'])} tests have public checks"
    return written
