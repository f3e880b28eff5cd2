"""The `grade` command: a thin click shell over the grader library.

    grade exercise-03                      grade ./exercises/exercise_03_*.py
    grade exercise-03 --submission DIR     grade another folder laid out like exercises/
    grade list                             every exercise with your last result

Heavy imports (torch, pytest) happen only inside commands that grade, so `grade --help`
and `grade list` answer quickly.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import click

from grader.exercises import EXERCISE_IDS, EXERCISES, UnknownExercise, get_exercise
from grader.fast_exit import exit_now
from grader.gradebook import DEFAULT_GRADEBOOK, default_student_id

GRADEBOOK_HELP = (
    f"Gradebook: an SQLite file (default: {DEFAULT_GRADEBOOK} in this folder) "
    "or a postgresql://USER@HOST/DB URL"
)


class GradeGroup(click.Group):
    """A group whose subcommands also include one command per exercise id."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*EXERCISE_IDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        try:
            exercise = get_exercise(name)
        except UnknownExercise:
            return None
        return make_exercise_command(exercise.id)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and self.get_command(ctx, args[0]) is None and not args[0].startswith("-"):
            commands = ", ".join(super().list_commands(ctx))
            raise click.UsageError(
                f"unknown exercise or command {args[0]!r}; exercises: {', '.join(EXERCISE_IDS)}; "
                f"commands: {commands}"
            )
        return super().resolve_command(ctx, args)


@click.group(cls=GradeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flowgrade")
def main() -> None:
    """flowgrade: graded exercises and quizzes on normalizing flows.

    Fill in the stubs in exercises/, then run `grade exercise-03` (or any id below).
    """


def run() -> None:
    """The `grade` script: `main`, then a quick exit (`grader.fast_exit`).

    The cyclic garbage collector is off in this short-lived process: importing torch and
    pytest with it on ran ~20 full collections over their objects (~0.3 s per import).
    Reference counting still frees everything acyclic; a batch worker turns it back on."""
    gc.disable()
    try:
        main(standalone_mode=True)
    except SystemExit as stop:
        exit_now(stop.code)
    exit_now(0)


def make_exercise_command(exercise_id: str) -> click.Command:
    exercise = get_exercise(exercise_id)

    @click.command(name=exercise.id, help=f"Grade {exercise.id}: {exercise.title}.")
    @click.option(
        "--submission",
        type=click.Path(path_type=Path),
        default=Path("exercises"),
        show_default=True,
        help="Folder laid out like exercises/.",
    )
    @click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON object (Gradescope fields)."
    )
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["terminal", "json", "markdown", "html"]),
        default="terminal",
        show_default=True,
    )
    @click.option(
        "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
    )
    @click.option("--seed", type=int, default=None, help="Reuse the inputs of an earlier run.")
    @click.option(
        "--timeout", type=float, default=None, help="Seconds per call [course's, else 10]."
    )
    @click.option(
        "--course",
        type=click.Path(path_type=Path),
        default=None,
        help="course.toml with [limits] and [sandbox] (default: ./course.toml if present).",
    )
    @click.option("--gradebook", default=None, help=GRADEBOOK_HELP)
    @click.option("--student", default=None, help="Student id to record (default: your login).")
    @click.option("--no-save", is_flag=True, help="Do not record the result in the gradebook.")
    def command(
        submission: Path,
        as_json: bool,
        fmt: str,
        device: str,
        seed: int | None,
        timeout: float | None,
        course: Path | None,
        gradebook: str | None,
        student: str | None,
        no_save: bool,
    ) -> None:
        from grader.student_run import run_exercise

        code = run_exercise(
            exercise.id,
            submission,
            fmt="json" if as_json else fmt,
            device=device,
            seed=seed,
            timeout=timeout,
            course=course,
            gradebook=None if no_save else (gradebook or DEFAULT_GRADEBOOK),
            student=student or default_student_id(),
        )
        sys.exit(code)

    return command


@main.command(name="list")
@click.option("--gradebook", default=None, help=GRADEBOOK_HELP)
@click.option("--student", default=None, help="Whose results to show (default: your login).")
def list_exercises(gradebook: str | None, student: str | None) -> None:
    """Show every exercise with its title and your last result."""
    from grader.student_run import last_results

    results = last_results(gradebook or DEFAULT_GRADEBOOK, student or default_student_id())
    width = max(len(e.id) for e in EXERCISES)
    for exercise in EXERCISES:
        last = results.get(exercise.id)
        status = f"{last.score:g}/{last.max_score:g}" if last else "not graded yet"
        click.echo(f"{exercise.id:<{width}}  {status:>14}  {exercise.title}")


def _add_subgroups() -> None:
    from grader.instructor_cli import batch, release, report
    from grader.quiz.cli import quiz

    for command in (quiz, batch, report, release):
        main.add_command(command)


_add_subgroups()

if __name__ == "__main__":
    main()
