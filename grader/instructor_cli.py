"""The instructor's commands: `grade batch`, `grade report`, `grade release`.

    grade batch SUBMISSIONS_DIR [--gradebook PATH] [--jobs N] [--timeout S] [--regrade]
                [--course course.toml]
    grade report --format csv|json|md|html|gradescope|canvas [--gradebook PATH] [--out FILE]
    grade release OUT_DIR

Bad input ends with a one-line error and a non-zero exit, never a traceback. Heavy
imports (torch) happen inside the commands, so `grade --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from grader.gradebook import DEFAULT_GRADEBOOK, GradebookError

if TYPE_CHECKING:
    from grader.batch.lms_import import ImportResult
    from grader.course import Course

GRADEBOOK_OPTION = click.option(
    "--gradebook",
    default=str(DEFAULT_GRADEBOOK),
    show_default=True,
    help="The gradebook: an SQLite file, or a postgresql://USER@HOST/DB URL.",
)


@click.command()
@click.argument("submissions_dir", type=click.Path(path_type=Path))
@GRADEBOOK_OPTION
@click.option(
    "--lms",
    type=click.Choice(["auto", "canvas", "moodle", "folders"]),
    default="auto",
    show_default=True,
    help="What SUBMISSIONS_DIR is: a Canvas or Moodle download (zip or unpacked), or "
    "<student>/ folders; auto tells them apart by their file names.",
)
@click.option(
    "--roster",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Roster CSV for an LMS download [course.toml's [canvas] roster].",
)
@click.option(
    "--times",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Canvas: CSV of hand-in times (user_id or student, submitted_at[, exercise]).",
)
@click.option(
    "--worksheet",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Moodle: the assignment's grading worksheet CSV (names, e-mails, hand-in times).",
)
@click.option(
    "--import-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where an LMS download is laid out as <student>/ folders "
    "[imports/<download name> beside the gradebook file; in this folder for a server].",
)
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes [cores].")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds one call into student code may take [course.toml's "
    "[limits] call_seconds, else 10].",
)
@click.option("--regrade", is_flag=True, help="Grade everything again (old rows stay as history).")
@click.option(
    "--exercise",
    "exercises",
    multiple=True,
    help="Grade only this exercise (repeatable); default: every exercise with hidden tests.",
)
@click.option("--seed", type=int, default=None, help="Fix the run's seed (default: a fresh one).")
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda", "auto"]),
    default="cpu",
    help="Where the hidden tests run; with --executor dask, cuda runs only on workers "
    "started with --resources GPU=1.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: --jobs worker processes here; dask: a Dask cluster (see --scheduler).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="With --executor dask: a running scheduler (tcp://HOST:8786); default: a local "
    "cluster of --jobs workers.",
)
@click.option(
    "--course",
    type=click.Path(path_type=Path),
    default=None,
    help="course.toml ([limits], [sandbox] mode); default: ./course.toml if present.",
)
def batch(
    submissions_dir: Path,
    gradebook: str,
    lms: str,
    roster: Path | None,
    times: Path | None,
    worksheet: Path | None,
    import_dir: Path | None,
    jobs: int | None,
    timeout: float | None,
    regrade: bool,
    exercises: tuple[str, ...],
    seed: int | None,
    device: str,
    executor: str,
    scheduler: str | None,
    course: Path | None,
) -> None:
    """Grade every exercise of every student folder in SUBMISSIONS_DIR.

    Each subfolder is one student (named by the folder) holding exercise files laid out
    like exercises/; a Canvas "Download Submissions" zip or a Moodle "Download all
    submissions" zip (or their unpacked folders) is first laid out that way, with the
    students from the roster. Interrupted and rerun, it grades only what is missing or
    changed.
    Limits and the sandbox mode come from course.toml; the first line after the plan
    names the active sandbox layers and limits.
    """
    from grader.batch.discovery import DiscoveryError
    from grader.batch.lms_import import LmsImportError
    from grader.batch.pool import PoolError
    from grader.batch.runner import BatchError, BatchInterrupted, run_batch
    from grader.course import CourseError, load_course
    from grader.exercises import UnknownExercise
    from grader.report.canvas import RosterError
    from grader.runner.sandbox import SandboxUnavailable

    imported = None
    try:
        config = load_course(course)
        submissions_dir, imported = _lms_import(
            submissions_dir, gradebook, config, lms, roster, times, worksheet, import_dir
        )
        summary = run_batch(
            submissions_dir,
            gradebook,
            jobs=jobs,
            call_timeout=timeout,
            limits=config.limits,
            sandbox_mode=config.sandbox_mode,
            regrade=regrade,
            exercises=list(exercises) or None,
            seed=seed,
            device=device,
            executor=executor,
            scheduler=scheduler,
        )
    except BatchInterrupted as stop:
        click.echo(
            f"interrupted: {stop.graded} of {stop.planned} graded and stored; "
            "run the same command again to grade the rest",
            err=True,
        )
        sys.exit(130)
    except (CourseError, LmsImportError, RosterError) as err:
        raise click.ClickException(str(err)) from None
    except SandboxUnavailable as err:
        raise click.ClickException(_sandbox_origin(config) + str(err)) from None
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
    if imported is not None:
        for line in imported.unplaced:
            click.echo(f"Error: {line}", err=True)
    if summary.grader_errors:
        for line in summary.grader_errors:
            click.echo(f"grader error: {line}", err=True)
    if imported is not None and imported.unplaced:
        click.echo(
            f"{len(imported.unplaced)} file(s) of the download could not be placed (listed "
            "above) and were not graded; everything else was. Fix the roster or the file "
            "names and run the same command again: what is graded stays.",
            err=True,
        )
    if summary.grader_errors or (imported is not None and imported.unplaced):
        sys.exit(1)


def _lms_import(
    path: Path,
    gradebook: str,
    config: Course,
    lms: str,
    roster: Path | None,
    times: Path | None,
    worksheet: Path | None,
    import_dir: Path | None,
) -> tuple[Path, ImportResult | None]:
    """The folder to grade: `path`, or an LMS download laid out as <student>/ folders."""
    from grader.batch.lms_import import import_download, needs_import, slug
    from grader.report.canvas import load_roster

    if not needs_import(path, lms):
        return path, None
    from grader.gradebook.backends import is_server_url

    beside = Path(".") if is_server_url(gradebook) else Path(gradebook).parent
    target = import_dir or beside / "imports" / slug(path.stem or "download")
    imported = import_download(
        path,
        target,
        lms=lms,
        roster=load_roster(roster or config.roster),
        times=times,
        worksheet=worksheet,
        zone=config.timezone,
    )
    if not imported.placed:
        for line in imported.unplaced:
            click.echo(f"Error: {line}", err=True)
        raise click.ClickException(f"{path}: no file of the download could be placed")
    click.echo(
        f"imported {len(imported.placed)} file(s) of {len(imported.students)} student(s) "
        f"from the {imported.lms.capitalize()} download {path} into {target}",
        err=True,
    )
    for note in imported.notes:
        click.echo(f"note: {note}", err=True)
    return target, imported


def _sandbox_origin(config: Course) -> str:
    """Where the sandbox mode that could not be had was asked for (prefix of the error)."""
    if config.sandbox_mode and config.path is not None:
        return f"{config.path}: [sandbox] mode = {config.sandbox_mode!r}: "
    if os.environ.get("FLOWGRADE_SANDBOX"):
        return "FLOWGRADE_SANDBOX: "
    return ""


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
def report(fmt: str, gradebook: str, out: Path | None, detailed: bool, course: Path | None) -> None:
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
@click.option(
    "--reveal-after-due",
    is_flag=True,
    help="Ship the references of course.toml's [solutions] reveal_after_pass exercises "
    "encrypted; write their keys beside the kit, to publish after each due date.",
)
@click.option(
    "--course",
    type=click.Path(path_type=Path),
    default=None,
    help="course.toml ([solutions], [due]); default: ./course.toml if present.",
)
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the keys (default: OUT_DIR-reveal-keys.toml beside the kit).",
)
def release(
    out_dir: Path, force: bool, reveal_after_due: bool, course: Path | None, keys_file: Path | None
) -> None:
    """Build the student kit in OUT_DIR: stubs, hints, quizzes and the grader, no answers."""
    from grader.course import CourseError, load_course
    from grader.release.builder import ReleaseError, build_kit

    try:
        config = load_course(course)
        reveal = config.reveal_after_pass if reveal_after_due else ()
        if reveal_after_due and not reveal:
            raise ReleaseError(
                "--reveal-after-due: course.toml names no exercise in [solutions] reveal_after_pass"
            )
        summary = build_kit(out_dir, force=force, reveal=reveal, course=config, keys_file=keys_file)
    except (ReleaseError, CourseError) as err:
        raise click.ClickException(str(err)) from None
    for line in summary.lines():
        click.echo(line, err=True)
