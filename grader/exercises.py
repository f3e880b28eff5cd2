"""Registry of the graded exercises: ids, titles, files and the functions students write.

Importing this module is cheap (no torch), so `grade list` and `grade --help` stay fast.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_ROOT.parent
HIDDEN_TESTS = PACKAGE_ROOT / "hidden"


@dataclass(frozen=True)
class Exercise:
    """One graded exercise.

    `filename` is the same in `exercises/` (the stub a student edits), in `solutions/`
    (the reference) and in any submission folder. `objectives` are the unit's learning
    objectives it practises (numbers of `grader.quiz.syllabus.OBJECTIVES`); the quiz that
    covers the same topic is derived from them and the objectives its questions are
    tagged with (`grader.student.topics`), so a new exercise links to a quiz by data alone.
    """

    id: str
    title: str
    filename: str
    functions: tuple[str, ...]
    objectives: tuple[int, ...] = ()

    @property
    def module_name(self) -> str:
        return self.filename.removesuffix(".py")

    @property
    def hidden_test_file(self) -> Path:
        return HIDDEN_TESTS / f"test_{self.id.replace('-', '_')}.py"


EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        "exercise-01",
        "Change of variables: log p_X(x) from a base density and an inverse map",
        "exercise_01_change_of_variables.py",
        (
            "standard_normal_log_prob",
            "change_of_variables_log_prob",
            "affine_flow_log_prob",
            "affine_flow_density",
        ),
        objectives=(1,),
    ),
    Exercise(
        "exercise-02",
        "Triangular Jacobians: log|det J| in O(d) for autoregressive flows",
        "exercise_02_triangular_logdet.py",
        (
            "triangular_log_abs_det",
            "autoregressive_affine_forward",
            "autoregressive_affine_inverse",
        ),
        objectives=(2,),
    ),
    Exercise(
        "exercise-03",
        "RealNVP affine coupling: forward, inverse and log-det",
        "exercise_03_affine_coupling.py",
        ("soft_clamp", "affine_coupling_forward", "affine_coupling_inverse"),
        objectives=(2, 3),
    ),
    Exercise(
        "exercise-04",
        "Glow invertible 1x1 convolution with an LU-factored weight",
        "exercise_04_invertible_1x1_conv.py",
        ("lu_weight", "invertible_conv_forward", "invertible_conv_inverse"),
        objectives=(2, 4),
    ),
    Exercise(
        "exercise-05",
        "Composing flows: a deep flow from simple layers, in both directions",
        "exercise_05_composition.py",
        ("compose_forward", "compose_inverse", "flow_log_prob"),
        objectives=(1,),
    ),
    Exercise(
        "exercise-06",
        "Planar flows: a log-det in O(d), invertibility, densities at samples",
        "exercise_06_planar_flow.py",
        ("planar_forward", "planar_is_invertible", "planar_u_hat", "planar_flow_sample"),
        objectives=(2, 4),
    ),
    Exercise(
        "exercise-07",
        "Multi-scale flows: squeeze, factor-out, two-level log-likelihood, bits per dimension",
        "exercise_07_multiscale.py",
        (
            "squeeze",
            "unsqueeze",
            "factor_out",
            "multiscale_log_prob",
            "dequantize",
            "bits_per_dim",
        ),
        objectives=(1, 4),
    ),
    Exercise(
        "exercise-08",
        "MAF vs IAF: one masked affine transform, which direction is parallel",
        "exercise_08_maf_iaf.py",
        ("maf_inverse", "maf_forward", "iaf_forward", "iaf_inverse"),
        objectives=(2, 4),
    ),
    Exercise(
        "exercise-09",
        "Train a flow: a RealNVP fitted to two moons, and the ELBO of a flow posterior",
        "exercise_09_train_flow.py",
        ("coupling_masks", "realnvp_log_prob", "train_flow", "flow_vae_elbo"),
        objectives=(3, 4, 5),
    ),
)

EXERCISE_IDS: tuple[str, ...] = tuple(e.id for e in EXERCISES)


class UnknownExercise(LookupError):
    """Raised for an exercise id that is not in the registry."""

    def __init__(self, exercise_id: str) -> None:
        super().__init__(f"unknown exercise {exercise_id!r}; valid ids: {', '.join(EXERCISE_IDS)}")


def get_exercise(exercise_id: str) -> Exercise:
    """Return the exercise with this id; `3`, `03` and `exercise-03` all name exercise-03."""
    wanted = exercise_id.strip().lower()
    if wanted.isdigit():
        wanted = f"exercise-{int(wanted):02d}"
    for exercise in EXERCISES:
        if exercise.id == wanted:
            return exercise
    raise UnknownExercise(exercise_id)


def suite_hash(exercise: Exercise) -> str:
    """Hash of everything that decides a score for this exercise: hidden tests, reference, runner.

    A score is only comparable with another score of the same suite hash.
    """
    digest = hashlib.sha256()
    files = [exercise.hidden_test_file, PROJECT_ROOT / "solutions" / exercise.filename]
    files += sorted((PACKAGE_ROOT / "testing").glob("*.py"))
    for path in files:
        if path.exists():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_LOOSE_NAME = re.compile(r"exercise_?(\d{1,2})\w*\.py", re.IGNORECASE)


def exercise_for_file(name: str) -> tuple[Exercise, bool] | None:
    """The exercise a submitted file name stands for, and whether the name is exact.

    Exact: the name of the file in exercises/ (`exercise_03_affine_coupling.py`). Loose:
    `exercise_03.py`, `Exercise3_mine.py`, ... (`exercise`, an optional `_`, the number).
    None for any other name. Used where files arrive renamed (Gradescope, LMS downloads).
    """
    for exercise in EXERCISES:
        if name == exercise.filename:
            return exercise, True
    match = _LOOSE_NAME.fullmatch(name)
    if match:
        for exercise in EXERCISES:
            if int(exercise.id.rsplit("-", 1)[1]) == int(match.group(1)):
                return exercise, False
    return None
