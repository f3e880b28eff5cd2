"""The instructor's commands: `grade batch`, `grade report`, `grade release`.

    grade batch SUBMISSIONS_DIR [--gradebook PATH] [--jobs N] [--timeout S] [--regrade]
    grade report --format csv|json|md|html|gradescope|canvas [--gradebook PATH] [--out FILE]
    grade release OUT_DIR

Bad input ends with a one-line error and a non-zero exit, never a traceback. Heavy
imports (torch) happen inside the commands, so `grade --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.gradebook import DEFAULT_GRADEBOOK, GradebookError

GRADEBOOK_OPTION = click.option(
    "--gradebook",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_GRADEBOOK,
    show_default=True,
    help="The SQLite gradebook file.",
)


@click.command()
@click.argument("submissions_dir", type=click.Path(path_type=Path))
@GRADEBOOK_OPTION
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes [cores].")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds one call into student code may take.",
)
@click.option("--regrade", is_flag=True, help="Grade everything again (old rows stay as history).")
@click.option(
    "--exercise",
    "exercises",
    multiple=True,
    help="Grade only this exercise (repeatable); default: every exercise with hidden tests.",
)
@click.option("--seed", type=int, default=None, help="Fix the run's seed (default: a fresh one).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu")
def batch(
    submissions_dir: Path,
    gradebook: Path,
    jobs: int | None,
    timeout: float,
    regrade: bool,
    exercises: tuple[str, ...],
    seed: int | None,
    device: str,
) -> None:
    """Grade every exercise of every student folder in SUBMISSIONS_DIR.

    Each subfolder is one student (named by the folder) holding exercise files laid out
    like exercises/. Interrupted and rerun, it grades only what is missing or changed.
    """
    from grader.batch.discovery import DiscoveryError
    from grader.batch.pool import PoolError
    from grader.batch.runner import BatchError, BatchInterrupted, run_batch
    from grader.exercises import UnknownExercise

    try:
        summary = run_batch(
            submissions_dir,
            gradebook,
            jobs=jobs,
            call_timeout=timeout,
            regrade=regrade,
            exercises=list(exercises) or None,
            seed=seed,
            device=device,
        )
    except BatchInterrupted as stop:
        click.echo(
            f"interrupted: {stop.graded} of {stop.planned} graded and stored; "
            "run the same command again to grade the rest",
            err=True,
        )
        sys.exit(130)
    except (DiscoveryError, BatchError, PoolError, GradebookError, UnknownExercise) as err:
        raise click.ClickException(str(err).strip("'\"")) from None
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        f"batch run {summary.run_id}: {summary.graded} graded, {summary.up_to_date} already up "
        f"to date, {summary.lost} could not finish (stored as 0), "
        f"{len(summary.grader_errors)} grader error(s); seed {summary.seed}; "
        f"{summary.wall_s:.1f} s",
        err=True,
    )
    if summary.grader_errors:
        for line in summary.grader_errors:
            click.echo(f"grader error: {line}", err=True)
        sys.exit(1)


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "md", "html", "gradescope", "canvas"]),
    default="csv",
    show_default=True,
)
@GRADEBOOK_OPTION
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file (a folder for gradescope); default: standard output.",
)
@click.option("--detailed", is_flag=True, help="CSV: one column per hidden test.")
@click.option(
    "--course",
    type=click.Path(path_type=Path),
    default=None,
    help="course.toml (due dates, late penalty); default: ./course.toml if present.",
)
def report(
    fmt: str, gradebook: Path, out: Path | None, detailed: bool, course: Path | None
) -> None:
    """Scores, class statistics and exports from the gradebook."""
    from grader.course import CourseError, load_course
    from grader.gradebook import Gradebook
    from grader.report.canvas import RosterError
    from grader.report.model import build_report
    from grader.report.render import write_report

    try:
        config = load_course(course)
        with Gradebook.open(gradebook, create=False) as book:
            data = build_report(book, config)
        text, written = write_report(data, fmt, out, detailed=detailed)
    except (CourseError, GradebookError, RosterError) as err:
        raise click.ClickException(str(err)) from None
    if text is not None:
        click.echo(text, nl=False)
    for path in written:
        if fmt != "gradescope" or len(written) <= 3:
            click.echo(f"wrote {path}", err=True)
    if fmt == "gradescope":
        click.echo(f"wrote {len(written)} results.json file(s)", err=True)


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT_DIR if it exists.")
def release(out_dir: Path, force: bool) -> None:
    """Build the student kit in OUT_DIR: stubs, quizzes and the grader, no answers."""
    from grader.release.builder import ReleaseError, build_kit

    try:
        summary = build_kit(out_dir, force=force)
    except ReleaseError as err:
        raise click.ClickException(str(err)) from None
    for line in summary.lines():
        click.echo(line, err=True)
