"""The `grade` command: a thin click shell over the grader library.

    grade exercise-03                      grade ./exercises/exercise_03_*.py
    grade exercise-03 --submission DIR     grade another folder laid out like exercises/
    grade watch [exercise-03]              re-grade on every save, move on at full marks
    grade hint exercise-03 [--function F]  the next hint: a nudge, the key idea, the formula
    grade list                             every exercise with your last result, what is next
    grade reveal exercise-03 [--key KEY]   the reference, once you passed (if your course allows)

Heavy imports (torch, pytest) happen only inside commands that grade, so `grade --help`
and `grade list` answer quickly.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import click

from grader.exercises import EXERCISE_IDS, UnknownExercise, get_exercise
from grader.fast_exit import exit_now
from grader.gradebook import DEFAULT_GRADEBOOK, default_student_id

GRADEBOOK_HELP = (
    f"Gradebook: an SQLite file (default: {DEFAULT_GRADEBOOK} in this folder) "
    "or a postgresql://USER@HOST/DB URL"
)
GRADEBOOK_OPTION = click.option("--gradebook", default=None, help=GRADEBOOK_HELP)
SUBMISSION_OPTION = click.option(
    "--submission",
    type=click.Path(path_type=Path),
    default=Path("exercises"),
    show_default=True,
    help="Folder laid out like exercises/.",
)
DEVICE_OPTION = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
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
    @SUBMISSION_OPTION
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
    @DEVICE_OPTION
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
    @GRADEBOOK_OPTION
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
        from grader.student.run import run_exercise

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
@GRADEBOOK_OPTION
@click.option("--student", default=None, help="Whose results to show (default: your login).")
def list_exercises(gradebook: str | None, student: str | None) -> None:
    """Show every exercise with your last result, a progress bar and what to do next."""
    from grader.student.run import last_results, render_progress

    results = last_results(gradebook or DEFAULT_GRADEBOOK, student or default_student_id())
    click.echo(render_progress(results), nl=False)


def _exercise_id(value: str) -> str:
    try:
        return get_exercise(value).id
    except UnknownExercise as err:
        raise click.UsageError(str(err)) from None


COURSE_OPTION = click.option(
    "--course",
    type=click.Path(path_type=Path),
    default=None,
    help="course.toml (default: ./course.toml if present).",
)


@main.command(name="hint")
@click.argument("exercise_id", metavar="EXERCISE")
@click.option("--function", default=None, help="Which function (default: the first not passing).")
@GRADEBOOK_OPTION
@click.option("--student", default=None, help="Student id to record (default: your login).")
@COURSE_OPTION
def hint(
    exercise_id: str,
    function: str | None,
    gradebook: str | None,
    student: str | None,
    course: Path | None,
) -> None:
    """Show the next hint for EXERCISE: a nudge, then the key idea, then the formula.

    One more step per call, for the first function not yet passing in your last result
    (or --function NAME). Every hint shown is recorded in the gradebook with its time;
    your course may take points off per hint (course.toml [hints]).
    """
    from grader.student.hint import show_hint

    sys.exit(
        show_hint(
            _exercise_id(exercise_id),
            function,
            gradebook=gradebook or DEFAULT_GRADEBOOK,
            student=student or default_student_id(),
            course=course,
        )
    )


@main.command(name="watch")
@click.argument("exercise_id", metavar="[EXERCISE]", required=False)
@SUBMISSION_OPTION
@DEVICE_OPTION
@click.option("--timeout", type=float, default=None, help="Seconds per call [course's, else 10].")
@COURSE_OPTION
@GRADEBOOK_OPTION
@click.option("--student", default=None, help="Student id to record (default: your login).")
@click.option("--no-save", is_flag=True, help="Do not record results in the gradebook.")
def watch(
    exercise_id: str | None,
    submission: Path,
    device: str,
    timeout: float | None,
    course: Path | None,
    gradebook: str | None,
    student: str | None,
    no_save: bool,
) -> None:
    """Re-grade EXERCISE every time you save its file; move on at full marks.

    Without EXERCISE it starts at the first exercise you have not finished. Each result
    is recorded like `grade exercise-NN`. Ctrl-C stops.
    """
    from grader.student.watch import watch_exercises

    sys.exit(
        watch_exercises(
            _exercise_id(exercise_id) if exercise_id else None,
            submission,
            device=device,
            timeout=timeout,
            course=course,
            gradebook=gradebook or DEFAULT_GRADEBOOK,
            student=student or default_student_id(),
            save=not no_save,
        )
    )


@main.command(name="reveal")
@click.argument("exercise_id", metavar="EXERCISE")
@click.option("--key", default=None, help="The key your instructor published (student kit).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the reference to this file instead of printing it.")  # fmt: skip
@COURSE_OPTION
@GRADEBOOK_OPTION
@click.option("--student", default=None, help="Whose result counts (default: your login).")
def reveal(
    exercise_id: str,
    key: str | None,
    out: Path | None,
    course: Path | None,
    gradebook: str | None,
    student: str | None,
) -> None:
    """Show the reference solution of EXERCISE once you have full marks on it.

    Only where your course allows it (course.toml [solutions] reveal_after_pass); in a
    student kit the reference is encrypted and needs the key your instructor publishes.
    """
    from grader.course import CourseError, load_course
    from grader.student.reveal import RevealError, reveal_reference

    try:
        text = reveal_reference(
            _exercise_id(exercise_id),
            key=key,
            gradebook=gradebook or DEFAULT_GRADEBOOK,
            student=student or default_student_id(),
            course=load_course(course),
        )
    except (RevealError, CourseError) as err:
        raise click.ClickException(str(err)) from None
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


def _add_subgroups() -> None:
    from grader.gradescope.cli import gradescope
    from grader.instructor_cli import batch, release, report
    from grader.quiz.cli import quiz

    for command in (quiz, batch, report, release, gradescope):
        main.add_command(command)


_add_subgroups()

if __name__ == "__main__":
    main()
