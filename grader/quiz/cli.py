"""`grade quiz ...`: list, take, review, export, import and check the unit's quizzes.

The main `grade` group adds this one with `main.add_command(quiz)`. Standalone:

    python -c "from grader.quiz.cli import quiz; quiz(prog_name='grade quiz')" list

Every expected failure (malformed bank file, unknown quiz, unusable gradebook) is one
`Error: ...` line and a non-zero exit. `take` exits 0 when the attempt is complete and 3
when the input ended (or Ctrl-C) first; its progress is saved and the next `take` resumes.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from grader.quiz.errors import QuizError
from grader.quiz.loader import bank_dir, load_bank, load_quiz

PAUSED_EXIT = 3
F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(function: F) -> F:
    """Turn quiz and gradebook errors into `Error: ...` lines (exit 1), never tracebacks."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from grader.gradebook import GradebookError

        try:
            return function(*args, **kwargs)
        except (QuizError, GradebookError) as err:
            raise click.ClickException(str(err)) from None

    return wrapper  # type: ignore[return-value]


def _bank(context: click.Context) -> Path:
    return bank_dir(context.obj.get("bank") if context.obj else None)


@click.group(name="quiz")
@click.option(
    "--bank",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of quiz files (default: $FLOWGRADE_QUIZZES, ./quizzes, the project's bank).",
)
@click.pass_context
def quiz(context: click.Context, bank: Path | None) -> None:
    """Take the unit's quizzes and learn from the feedback; export them for an LMS."""
    context.ensure_object(dict)
    context.obj["bank"] = bank


@quiz.command(name="list")
@click.pass_context
def list_command(context: click.Context) -> None:
    """List the quizzes of the bank."""
    quizzes, errors = load_bank(_bank(context))
    if not quizzes and not errors:
        click.echo(f"no quizzes in {_bank(context)}")
    for item in quizzes:
        count = f"{len(item.questions)} questions"
        click.echo(f"{item.name:<28} {item.mode:<9} {count:<13} {item.title}")
    for error in errors:
        click.echo(f"Error: {error}", err=True)
    if errors:
        sys.exit(1)


def _gradebook_option(function: F) -> F:
    return click.option(
        "--gradebook",
        default=None,
        help="Results store: an SQLite file (default: .flowgrade/gradebook.sqlite here) "
        "or a postgresql://USER@HOST/DB URL.",
    )(function)


def _student_option(function: F) -> F:
    return click.option(
        "--student", default=None, help="Student id (default: $FLOWGRADE_STUDENT or login name)."
    )(function)


def _open(gradebook: str | None, *, create: bool = True) -> Any:
    from grader.gradebook import DEFAULT_GRADEBOOK, Gradebook

    return Gradebook.open(gradebook or DEFAULT_GRADEBOOK, create=create)


def _student(student: str | None) -> str:
    from grader.gradebook import default_student_id

    return student or default_student_id()


def _console() -> Any:
    from grader.quiz.render import use_colour
    from grader.quiz.take import Console

    return Console(sys.stdin, sys.stdout, use_colour(sys.stdout))


@quiz.command()
@click.argument("name")
@_student_option
@_gradebook_option
@click.option("--restart", is_flag=True, help="Abandon an unfinished attempt and start anew.")
@click.option(
    "--save-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the attempt as a JSON file (to hand in).",
)
@click.pass_context
@_one_line_errors
def take(
    context: click.Context,
    name: str,
    student: str | None,
    gradebook: str | None,
    restart: bool,
    save_file: Path | None,
) -> None:
    """Take quiz NAME; answer by letters, a number or an expression."""
    from grader.quiz.attempt_file import write_attempt_file
    from grader.quiz.take import begin_attempt, run_attempt

    item = load_quiz(name, _bank(context))
    who = _student(student)
    console = _console()
    with _open(gradebook) as book:
        record, resumed = begin_attempt(book, item, who, restart=restart)
        if not resumed:
            mode = (
                "practice: feedback after each answer"
                if item.mode == "practice"
                else ("exam: feedback at the end")
            )
            console.say(f"{item.title} - {len(item.questions)} questions ({mode})")
            console.say(
                f"Student {who}, attempt {record.attempt}. Ctrl-D or Ctrl-C saves and stops."
            )

        def save(current: Any) -> None:
            book.save_quiz_attempt(current)
            if save_file is not None:
                write_attempt_file(current, save_file)

        state = run_attempt(item, record, console, save)
    if state == "in-progress":
        click.echo(
            f"Progress saved. Run `grade quiz take {name}` to continue where you stopped.", err=True
        )
        sys.exit(PAUSED_EXIT)


@quiz.command()
@click.argument("name")
@_student_option
@_gradebook_option
@click.option("--attempt", type=int, default=None, help="Attempt number (default: the latest).")
@click.pass_context
@_one_line_errors
def review(
    context: click.Context,
    name: str,
    student: str | None,
    gradebook: str | None,
    attempt: int | None,
) -> None:
    """Replay your last attempt at quiz NAME with its feedback."""
    from grader.quiz.take import review_attempt

    item = load_quiz(name, _bank(context))
    who = _student(student)
    with _open(gradebook, create=False) as book:
        attempts = [a for a in book.quiz_attempts(quiz=item.name, student=who)]
    if attempt is not None:
        attempts = [a for a in attempts if a.attempt == attempt]
    if not attempts:
        raise click.ClickException(f"no attempt of {who} at quiz {item.name} to review")
    review_attempt(item, attempts[-1], _console())


@quiz.command()
@click.argument("name")
@click.option(
    "--format", "fmt", type=click.Choice(["gift", "qti", "md", "html"]), required=True,
    help="gift (Moodle), qti (a QTI 1.2 zip for Canvas), md (Markdown) or html (printable sheet).",
)  # fmt: skip
@click.option("--key", is_flag=True, help="md/html: the instructor's answer key with all feedback.")
@click.option("--seed", type=int, default=0, help="Variant seed for parameterised questions.")
@click.option(
    "--variants",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="qti: draws of each template in a question group (Canvas picks one per student).",
)
@click.option(
    "--symbolic",
    type=click.Choice(["skip", "essay"]),
    default="skip",
    show_default=True,
    help="qti: leave out symbolic questions, or export them as hand-graded essays.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.pass_context
@_one_line_errors
def export(
    context: click.Context,
    name: str,
    fmt: str,
    key: bool,
    seed: int,
    variants: int,
    symbolic: str,
    output: Path | None,
) -> None:
    """Export quiz NAME as GIFT, a Canvas QTI zip, Markdown or a printable HTML sheet."""
    from grader.quiz.gift import export_gift
    from grader.quiz.render import html_sheet, markdown_sheet

    item = load_quiz(name, _bank(context))
    if key and not item.has_key:
        raise click.ClickException(f"quiz {item.name} has no key in this bank")
    if fmt in ("gift", "qti") and not item.has_key:
        raise click.ClickException(f"{fmt.upper()} export needs the bank with its key")
    if fmt == "qti":
        _write_qti(item, output, seed=seed, variants=variants, symbolic=symbolic)
        return
    if fmt == "gift":
        text = export_gift(item, seed=seed)
    elif fmt == "md":
        text = markdown_sheet(item, key=key, seed=seed)
    else:
        text = html_sheet(item, key=key, seed=seed)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


def _write_qti(item: Any, output: Path | None, **options: Any) -> None:
    """Write the Canvas zip (default `<quiz>-qti.zip`) and say what Canvas cannot take over."""
    from grader.quiz.qti_package import qti_zip

    data, notes = qti_zip(item, **options)
    target = output or Path(f"{item.name}-qti.zip")
    try:
        target.write_bytes(data)
    except OSError as err:
        raise click.ClickException(f"{target}: cannot write ({err.strerror})") from None
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {target} (import it in Canvas: Settings > Import Course Content > QTI .zip)")


@quiz.command(name="import")
@click.argument("gift_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Quiz name (default: the file's stem).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--force", is_flag=True, help="Overwrite an existing quiz file.")
@click.pass_context
@_one_line_errors
def import_command(
    context: click.Context, gift_file: Path, name: str | None, output: Path | None, force: bool
) -> None:
    """Import a GIFT file into the bank as a YAML quiz."""
    from grader.quiz.gift import import_gift
    from grader.quiz.serialize import write_quiz

    quiz_name = name or gift_file.stem
    try:
        text = gift_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise click.ClickException(f"{gift_file}: cannot read ({type(err).__name__})") from None
    imported = import_gift(text, quiz_name, str(gift_file))
    target = output or _bank(context) / f"{quiz_name}.yaml"
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; use --force to overwrite or -o elsewhere")
    write_quiz(imported, target)
    click.echo(f"wrote {target} ({len(imported.questions)} questions)")


@quiz.command()
@click.option(
    "--summary",
    is_flag=True,
    help="Only the number of questions per objective and pitfall, not each question's tags.",
)
@click.pass_context
def check(context: click.Context, summary: bool) -> None:
    """Validate the bank (files, keys, templates, coverage); show what each question covers."""
    from grader.quiz.coverage import tag_counts
    from grader.quiz.lint import lint_quiz
    from grader.quiz.render import terminal_check, use_colour
    from grader.render.fit import fit_to_width, terminal_width

    quizzes, errors = load_bank(_bank(context))
    coverage = tag_counts(quizzes)
    problems = [str(e) for e in errors]
    for item in quizzes:
        problems += lint_quiz(item)
    problems += coverage.gaps()
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    report = terminal_check(
        quizzes, coverage, len(problems), table=not summary, colour=use_colour(sys.stdout)
    )
    click.echo(fit_to_width(report, terminal_width(sys.stdout)), nl=False)
    if problems:
        sys.exit(1)
