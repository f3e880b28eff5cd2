"""Deciding what a batch run grades: everything that is new, changed or never graded.

A (student, exercise) pair is skipped when its current gradebook row was made from the
same file (content hash) by the same test suite (`grader.exercises.suite_hash`). So a
rerun after an interrupt grades only what is missing, and a changed hidden test or
reference regrades everyone for that exercise. `regrade=True` plans every pair again;
the old rows stay in the gradebook as history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.discovery import StudentFolder, submitted_at
from grader.exercises import EXERCISES, PROJECT_ROOT, Exercise, get_exercise, suite_hash
from grader.grading import submission_hash


@dataclass(frozen=True)
class Task:
    """Grade one exercise of one student (plain data: it crosses a process boundary)."""

    student: str
    exercise: str
    directory: str
    content_hash: str
    submitted_at: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.student, self.exercise)


@dataclass
class Plan:
    """The tasks of one run, and how many pairs were already up to date."""

    tasks: list[Task] = field(default_factory=list)
    up_to_date: int = 0


def gradable_exercises(selected: list[str] | None = None) -> list[Exercise]:
    """The exercises a batch grades: the selected ones, else every one with hidden tests.

    An exercise counts as gradable when its hidden test file and its reference exist.
    """
    chosen = [get_exercise(e) for e in selected] if selected else list(EXERCISES)
    gradable = [e for e in chosen if _has_suite(e)]
    missing = [e.id for e in chosen if not _has_suite(e)]
    if selected and missing:
        raise ValueError(f"no hidden tests or reference for {', '.join(missing)}")
    return gradable


def _has_suite(exercise: Exercise) -> bool:
    reference = PROJECT_ROOT / "solutions" / exercise.filename
    return exercise.hidden_test_file.is_file() and reference.is_file()


def make_plan(
    folders: list[StudentFolder],
    exercises: list[Exercise],
    current: dict[tuple[str, str], tuple[str, str]],
    timestamps: dict[tuple[str, str | None], str | None],
    *,
    regrade: bool = False,
) -> Plan:
    """Tasks for every (student, exercise) whose file or suite changed since last graded."""
    suites = {e.id: suite_hash(e) for e in exercises}
    plan = Plan()
    for folder in folders:
        for exercise in exercises:
            content = submission_hash(folder.exercise_file(exercise))
            if not regrade and current.get((folder.student, exercise.id)) == (
                content,
                suites[exercise.id],
            ):
                plan.up_to_date += 1
                continue
            plan.tasks.append(
                Task(
                    folder.student,
                    exercise.id,
                    str(Path(folder.exercise_dir)),
                    content,
                    submitted_at(folder, exercise, timestamps),
                )
            )
    return plan
