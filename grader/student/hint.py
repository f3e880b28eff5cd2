"""What `grade hint exercise-NN [--function NAME]` does: pick a function, show one more step.

    code = show_hint("exercise-03", None, gradebook=Path(".flowgrade/gradebook.sqlite"),
                     student="alice")

Without `--function` the hint is for the first function not yet passing in the student's
last recorded result (`grader.student.function_status`), else the first with hints left; the
output says which and why. Every new step is recorded in the gradebook with a time stamp
before it is shown (a hint that could not be recorded is not shown: reports count them).
Steps already seen are shown again with the new one, and never counted twice.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from grader.course import CourseError, load_course
from grader.exercises import Exercise, get_exercise
from grader.gradebook import Gradebook, GradebookError
from grader.hints import STEP_TITLES, STEPS, ExerciseHints, HintError, load_hints


@dataclass(frozen=True)
class Choice:
    """The function a hint is for, and the sentence that says why."""

    function: str
    reason: str


def show_hint(
    exercise_id: str,
    function: str | None,
    *,
    gradebook: str | Path,
    student: str,
    course: Path | None = None,
) -> int:
    """Record and print the next hint step. Returns the exit status (0; usage errors raise
    `click.UsageError`, unusable files `click.ClickException`)."""
    exercise = get_exercise(exercise_id)
    try:
        hints = load_hints(exercise.id)
        cost = load_course(course).points_per_hint
    except (HintError, CourseError) as err:
        raise click.ClickException(str(err)) from None
    if function is not None and function not in exercise.functions:
        raise click.UsageError(
            f"{exercise.id} has no function {function!r}; its functions: "
            f"{', '.join(exercise.functions)}"
        )
    try:
        with Gradebook.open(gradebook) as book:
            seen = _seen(book, student, exercise)
            choice = (
                Choice(function, f"{function}: you asked for it (--function)")
                if function is not None
                else _choose(book, student, exercise, hints, seen)
            )
            step = book.record_hint(student, exercise.id, choice.function, len(STEPS))
            used = len(book.hints_shown(student, exercise.id))
    except (GradebookError, OSError) as err:
        message = f"the hint could not be recorded, so it is not shown: {err}"
        raise click.ClickException(message) from None
    shown = step if step is not None else seen.get(choice.function, 0)
    _print(exercise, hints, choice, shown, step is not None, function is not None, seen, cost, used)
    return 0


def _seen(book: Gradebook, student: str, exercise: Exercise) -> dict[str, int]:
    """Function -> how many of its steps the student has seen."""
    counts: dict[str, int] = {}
    for record in book.hints_shown(student, exercise.id):
        counts[record.function] = max(counts.get(record.function, 0), record.step)
    return counts


def _choose(
    book: Gradebook, student: str, exercise: Exercise, hints: ExerciseHints, seen: dict[str, int]
) -> Choice:
    """The first function not yet passing that has hints left, else the first with hints
    left, else the first not yet passing (everything seen: shown again)."""
    from grader.student.function_status import unfinished_functions

    left = [f for f in exercise.functions if seen.get(f, 0) < len(hints.steps(f))]
    records = [r for r in book.current_submissions(student) if r.exercise == exercise.id]
    if not records:
        first = (left or list(exercise.functions))[0]
        return Choice(first, f"{first}: no result of {exercise.id} recorded yet")
    record = records[0]
    score = f"{record.score:g}/{record.max_score:g}"
    unfinished = unfinished_functions(exercise, json.loads(record.result_json))
    for candidate in unfinished:
        if candidate in left:
            return Choice(candidate, f"{candidate}: not passing yet in your last result ({score})")
    if left:
        state = "every function passes" if not unfinished else "you have seen every hint"
        why = f"{state} of the failing functions" if unfinished else state
        return Choice(left[0], f"{left[0]}: the first with hints left ({why}, {score})")
    first = (unfinished or list(exercise.functions))[0]
    return Choice(first, f"{first}: every hint of {exercise.id} seen already ({score})")


def _print(
    exercise: Exercise,
    hints: ExerciseHints,
    choice: Choice,
    shown: int,
    new: bool,
    explicit: bool,
    seen: dict[str, int],
    cost: float,
    used: int,
) -> None:
    from grader.render import render_terminal, terminal_width, use_colour

    steps = list(zip(STEPS, hints.steps(choice.function), strict=True))
    others = [f for f in exercise.functions if f != choice.function and seen.get(f, 0) < 3]
    text = render_terminal(
        "hint.txt.j2",
        colour=use_colour(),
        width=terminal_width(sys.stdout),
        exercise=exercise,
        function=choice.function,
        reason=choice.reason,
        steps=steps,
        shown=shown,
        new=new,
        explicit=explicit,
        next_title=STEP_TITLES[STEPS[min(shown, len(STEPS) - 1)]],
        others=others,
        cost=cost,
        used=used,
    )
    click.echo(text, nl=False)
