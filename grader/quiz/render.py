"""Rendering quizzes with jinja2: the terminal, Markdown, a printable HTML sheet, answer keys.

Templates live in `grader/quiz/templates/`. Python prepares plain view data (what to say
about an answer); the templates decide how it looks. Colour appears only on a TTY and
never when $NO_COLOR is set (https://no-color.org).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from grader.quiz.coverage import Coverage
from grader.quiz.model import Quiz
from grader.quiz.scoring import Mark
from grader.quiz.shown import ShownQuestion, shown_questions
from grader.quiz.syllabus import OBJECTIVES, PITFALLS
from grader.quiz.variants import format_number

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHECK_WIDTH = 80  # `grade quiz check` fits this many columns (a terminal narrows it further)
MAX_ID_WIDTH = 32  # the id column stops growing here; a longer id shifts its own row only
ANSI = {"bold": "1", "dim": "2", "good": "32", "bad": "31", "warn": "33", "accent": "36"}


def use_colour(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set to a non-empty value."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@cache
def _environment(colour: bool) -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    for name, code in ANSI.items():
        environment.filters[name] = _painter(code) if colour else _plain
    environment.filters["num"] = format_number
    return environment


def _painter(code: str) -> Any:
    def paint(text: object) -> str:
        return f"\x1b[{code}m{text}\x1b[0m"

    return paint


def _plain(text: object) -> str:
    return str(text)


def render(template: str, *, colour: bool = False, **context: Any) -> str:
    """Render one template of `grader/quiz/templates/` with `context`."""
    return _environment(colour).get_template(template).render(**context)


# ---------------------------------------------------------------- view data


@dataclass(frozen=True)
class FeedbackView:
    """What to tell a student about one answered question."""

    status: str  # correct | partial | incorrect | unanswered | unmarked
    score: float | None
    points: float
    given: str
    notes: tuple[str, ...]
    key: str
    explanation: str


def key_text(shown: ShownQuestion) -> str:
    """The correct answer as the student should see it (letters in their shown order)."""
    return shown.question.key_text(shown)


def given_text(shown: ShownQuestion, answer: Mapping[str, Any] | None) -> str:
    if not answer:
        return "(no answer)"
    return shown.question.given_text(shown, answer)


def feedback_view(
    shown: ShownQuestion, answer: Mapping[str, Any] | None, mark: Mark | None
) -> FeedbackView:
    """The feedback of one answer; without a mark (key absent) only the answer is shown."""
    question = shown.question
    given = given_text(shown, answer)
    if mark is None:
        status = "unanswered" if not answer else "unmarked"
        return FeedbackView(status, None, question.points, given, (), "", "")
    status = "correct" if mark.correct else "partial" if mark.fraction > 0 else "incorrect"
    return FeedbackView(
        status=status if answer else "unanswered",
        score=mark.score,
        points=question.points,
        given=given,
        notes=tuple(question.feedback_notes(shown, mark)),
        key=key_text(shown),
        explanation=question.explanation,
    )


# ---------------------------------------------------------------- terminal


def terminal_question(shown: ShownQuestion, total: int, *, colour: bool = False) -> str:
    return render(
        "terminal_question.j2", colour=colour, shown=shown, question=shown.question, total=total
    )


def terminal_feedback(view: FeedbackView, *, colour: bool = False) -> str:
    return render("terminal_feedback.j2", colour=colour, view=view)


def terminal_summary(
    quiz: Quiz, rows: Sequence[tuple[ShownQuestion, FeedbackView]], state: str, *, colour: bool
) -> str:
    earned = sum(v.score or 0.0 for _, v in rows)
    return render(
        "terminal_summary.j2",
        colour=colour,
        quiz=quiz,
        rows=rows,
        state=state,
        earned=earned,
        total=sum(v.points for _, v in rows),
        marked=all(v.score is not None for _, v in rows),
    )


def terminal_check(
    quizzes: Sequence[Quiz], coverage: Coverage, problems: int, *, table: bool, colour: bool
) -> str:
    """`grade quiz check`'s report: each question's objectives and pitfalls (`table`), the
    number of questions per objective and per pitfall, and the problem count."""
    ids = [question.id for quiz in quizzes for question in quiz.questions]
    return render(
        "terminal_check.j2",
        colour=colour,
        quizzes=quizzes,
        coverage=coverage,
        problems=problems,
        questions=len(ids),
        table=table,
        objectives=OBJECTIVES,
        pitfalls=PITFALLS,
        width=CHECK_WIDTH,
        id_width=min(max([len("question"), *map(len, ids)]), MAX_ID_WIDTH),
        pitfall_width=max(map(len, PITFALLS)),
    )


# ---------------------------------------------------------------- sheets


def sheet_questions(quiz: Quiz, seed: int) -> list[ShownQuestion]:
    """The questions of a printed sheet: bank order, pinned options last, templates drawn."""
    from grader.quiz.shown import prepare_attempt_questions

    plan = prepare_attempt_questions(quiz, seed)
    for entry, question in zip(plan, quiz.questions, strict=True):
        if order := question.sheet_order():
            entry["order"] = order
    return shown_questions(quiz, plan)


def sheet_context(quiz: Quiz, *, key: bool, seed: int) -> dict[str, Any]:
    shown = sheet_questions(quiz, seed)
    return {
        "quiz": quiz,
        "shown": shown,
        "key": key and quiz.has_key,
        "seed": seed,
        "has_templates": any(q.variant is not None for q in quiz.questions),
        "templated": {q.id for q in quiz.questions if q.variant is not None},
        "objectives": OBJECTIVES,
        "pitfalls": PITFALLS,
    }


def markdown_sheet(quiz: Quiz, *, key: bool = False, seed: int = 0) -> str:
    """The quiz as Markdown; `key=True` adds answers and every option's feedback."""
    return render("sheet.md.j2", **sheet_context(quiz, key=key, seed=seed))


def html_sheet(quiz: Quiz, *, key: bool = False, seed: int = 0) -> str:
    """A printable HTML sheet; `key=True` makes it the instructor's answer key."""
    return render("sheet.html.j2", **sheet_context(quiz, key=key, seed=seed))
