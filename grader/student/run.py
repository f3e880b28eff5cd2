"""What `grade exercise-NN` does for a student: grade, render, record; and `grade list`'s data.

Kept out of `grader.cli` so tests can call it directly and the CLI stays a thin shell.
"""

from __future__ import annotations

from pathlib import Path

import click

from grader.course import Course, CourseError, load_course
from grader.exercises import get_exercise
from grader.gradebook import Gradebook, GradebookError, SubmissionRecord, gradebook_exists
from grader.results import ExerciseResult
from grader.student.progress import UnitProgress, load_progress


def run_exercise(
    exercise_id: str,
    submission: Path,
    *,
    fmt: str = "terminal",
    device: str = "auto",
    seed: int | None = None,
    timeout: float | None = None,
    course: Path | None = None,
    gradebook: str | Path | None = None,
    student: str = "student",
) -> int:
    """Grade, print and (optionally) record one exercise. Returns the exit status:
    0 at full marks, 1 otherwise. Usage errors raise `click.UsageError` (exit status 2)."""
    exercise = get_exercise(exercise_id)
    _check_submission(submission, exercise.filename)
    settings = course_settings(course)
    from grader.runner.sandbox import SandboxUnavailable
    from grader.runner.zygote import shared_zygote

    try:  # started first: the fork server imports torch while this process does too
        zygote = shared_zygote(settings.sandbox_mode)
    except SandboxUnavailable as err:
        raise click.UsageError(str(err)) from None
    from grader.grading import DeviceUnavailable, grade_exercise
    from grader.render import render_exercise, terminal_width, use_colour

    try:
        result = grade_exercise(
            exercise.id,
            submission,
            device=device,
            seed=seed,
            zygote=zygote,
            call_timeout=timeout,
            limits=settings.limits,
        )
    except DeviceUnavailable as err:
        raise click.UsageError(str(err)) from None
    shown = submission / exercise.filename
    width = terminal_width() if fmt == "terminal" else None
    text = render_exercise(result, fmt, colour=use_colour(), submission=str(shown), width=width)
    click.echo(text, nl=False)
    if gradebook is not None:
        try:
            with Gradebook.open(gradebook) as book:
                book.record_exercise(student, result)
        except (GradebookError, OSError) as err:
            click.echo(f"warning: result not saved: {err}", err=True)
    if fmt == "terminal" and result.full_marks:
        click.echo("\n" + render_next(result, gradebook, student), nl=False)
    return 0 if result.full_marks else 1


def render_next(
    result: ExerciseResult,
    gradebook: str | Path | None,
    student: str,
    *,
    watching: bool = False,
    progress: UnitProgress | None = None,
) -> str:
    """After full marks: the next unfinished exercise, the quiz on the same topic, the bar.
    `progress` (default: read from `gradebook`) gets `result` added."""
    from grader.render import render_terminal, terminal_width, use_colour
    from grader.student.topics import quiz_for

    exercise = get_exercise(result.exercise)
    progress = (progress or load_progress(gradebook, student)).with_score(
        result.exercise, result.score, result.max_score
    )
    return render_terminal(
        "next.txt.j2",
        colour=use_colour(),
        width=terminal_width(),
        exercise=exercise,
        quiz=quiz_for(exercise),
        next=progress.next_unfinished(exercise.id),
        progress=progress,
        watching=watching,
    )


def course_settings(path: Path | None) -> Course:
    """The course's limits and sandbox mode (defaults without a course.toml)."""
    try:
        return load_course(path)
    except CourseError as err:
        raise click.UsageError(str(err)) from None


def _check_submission(submission: Path, filename: str) -> None:
    if not submission.exists():
        hint = (
            " (run grade from your course folder, or pass --submission)"
            if submission == Path("exercises")
            else ""
        )
        raise click.UsageError(f"submission folder {str(submission)!r} does not exist{hint}")
    if not submission.is_dir():
        raise click.UsageError(f"{str(submission)!r} is not a folder laid out like exercises/")
    if not (submission / filename).exists():
        raise click.UsageError(
            f"{submission / filename} is missing (expected a folder laid out like exercises/)"
        )


def last_results(gradebook: str | Path, student: str) -> dict[str, SubmissionRecord]:
    """The latest recorded result of each exercise for `student` (empty if no gradebook)."""
    if not gradebook_exists(gradebook):
        return {}
    try:
        with Gradebook.open(gradebook, create=False) as book:
            return {r.exercise: r for r in book.current_submissions(student)}
    except GradebookError as err:
        click.echo(f"warning: {err}", err=True)
        return {}


def render_progress(results: dict[str, SubmissionRecord]) -> str:
    """`grade list`: one row per exercise, the progress bar over the unit, what is next."""
    from grader.exercises import EXERCISES
    from grader.render import render_terminal, terminal_width, use_colour

    width = terminal_width()
    progress = UnitProgress.of(results)
    id_width = max(len(e.id) for e in EXERCISES)
    rows = []
    for exercise in EXERCISES:
        last = results.get(exercise.id)
        done = progress.is_done(exercise.id)
        title = exercise.title
        if width is not None and len(title) > width - id_width - 20:
            title = title[: max(10, width - id_width - 21)].rstrip() + "…"
        rows.append(
            {
                "id": f"{exercise.id:<{id_width}}",
                "status": f"{last.score:g}/{last.max_score:g}" if last else "not graded yet",
                "mark": "✓" if done else ("•" if last else " "),
                "kind": "pass" if done else "fail",
                "title": title,
            }
        )
    following = progress.next_unfinished()
    return render_terminal(
        "progress.txt.j2",
        colour=use_colour(),
        width=width,
        rows=rows,
        progress=progress,
        next=following,
        next_record=results.get(following.id) if following else None,
    )
