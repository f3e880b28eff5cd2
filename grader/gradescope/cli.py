"""`grade gradescope build OUT.zip`: the click shell over `grader.gradescope.build`."""

from __future__ import annotations

from pathlib import Path

import click

from grader.gradescope.autograder import VISIBILITIES


@click.group(name="gradescope")
def gradescope() -> None:
    """Grade with flowgrade on Gradescope (an autograder zip)."""


@gradescope.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--exercise",
    "exercises",
    multiple=True,
    help="An exercise this assignment requires (repeatable); default: grade whatever is found.",
)
@click.option(
    "--course",
    type=click.Path(path_type=Path),
    default=None,
    help="course.toml whose [limits] and [sandbox] the autograder uses.",
)
@click.option(
    "--visibility",
    type=click.Choice(VISIBILITIES),
    default="visible",
    show_default=True,
    help="When students see the result.",
)
@click.option(
    "--test-visibility",
    type=click.Choice(VISIBILITIES),
    default="visible",
    show_default=True,
    help="When students see each test's feedback (its code is never shown).",
)
@click.option(
    "--torch-index",
    default=None,
    help="Extra package index for torch in setup.sh [PyTorch's CPU wheels]; '' for none.",
)
def build(
    out: Path,
    exercises: tuple[str, ...],
    course: Path | None,
    visibility: str,
    test_visibility: str,
    torch_index: str | None,
) -> None:
    """Write OUT, the zip to upload as a Gradescope programming assignment's autograder."""
    from grader.exercises import UnknownExercise
    from grader.gradescope.build import TORCH_CPU_INDEX, BuildError, build_autograder

    try:
        summary = build_autograder(
            out,
            exercises=list(exercises),
            course=course,
            visibility=visibility,
            test_visibility=test_visibility,
            torch_index=TORCH_CPU_INDEX if torch_index is None else torch_index,
        )
    except (BuildError, UnknownExercise) as err:
        raise click.ClickException(str(err).strip("'\"")) from None
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    graded = ", ".join(summary.exercises) or "every exercise found"
    click.echo(f"wrote {summary.path} ({summary.files} files; grades {graded})")
