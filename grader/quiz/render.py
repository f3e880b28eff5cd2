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

from grader.quiz.model import RULE_TEXT, Question, Quiz
from grader.quiz.scoring import Mark
from grader.quiz.shown import ShownQuestion, shown_questions
from grader.quiz.syllabus import OBJECTIVES, PITFALLS
from grader.quiz.variants import format_number

TEMPLATES = Path(__file__).resolve().parent / "templates"
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
    question = shown.question
    if question.is_choice:
        return " ".join(shown.letter_of(oid) for oid in shown.order if question.option(oid).correct)
    if question.kind == "numeric":
        answer = format_number(float(question.answer), 6)  # type: ignore[arg-type]
        tolerance = max(question.tolerance, question.relative * abs(float(question.answer)))  # type: ignore[arg-type]
        return f"{answer} (± {format_number(tolerance, 3)})" if tolerance else answer
    return str(question.answer)


def given_text(shown: ShownQuestion, answer: Mapping[str, Any] | None) -> str:
    if not answer:
        return "(no answer)"
    if shown.question.is_choice:
        return " ".join(shown.letter_of(oid) for oid in answer.get("chosen", []))
    return str(answer.get("text", ""))


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
        notes=tuple(_notes(shown, mark)),
        key=key_text(shown),
        explanation=question.explanation,
    )


def _notes(shown: ShownQuestion, mark: Mark) -> list[str]:
    question = shown.question
    notes = []
    if question.kind == "single":
        for option_id in mark.feedback:
            option = question.option(option_id)
            text = option.feedback or ("right" if option.correct else "not right")
            notes.append(f"If you chose {shown.letter_of(option_id)}: {text}")
    elif question.kind == "multi":
        for option_id in shown.order:
            option = question.option(option_id)
            label = shown.letter_of(option_id)
            if option_id in mark.feedback:
                verdict = "a right choice" if option.correct else "a wrong choice"
                notes.append(f"You chose {label} ({verdict}): {option.feedback}".rstrip(": "))
            elif option.correct:
                notes.append(
                    f"You left out {label} (a right choice): {option.feedback}".rstrip(": ")
                )
    if question.is_choice:
        return notes
    for feedback_id in mark.feedback:
        if feedback_id == "correct" and question.correct_feedback:
            notes.append(question.correct_feedback)
        elif feedback_id.startswith("misconception:"):
            wanted = feedback_id.split(":", 1)[1]
            notes += [m.feedback for m in question.misconceptions if m.id == wanted]
        elif feedback_id == "timeout":
            notes.append("Your expression took too long to check; simplify it and try again.")
    return notes


# ---------------------------------------------------------------- terminal


def terminal_question(shown: ShownQuestion, total: int, *, colour: bool = False) -> str:
    question = shown.question
    return render(
        "terminal_question.j2",
        colour=colour,
        shown=shown,
        question=question,
        total=total,
        rule_text=RULE_TEXT.get(question.rule or "", ""),
        symbols_text=symbols_text(question),
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


# ---------------------------------------------------------------- sheets


def sheet_questions(quiz: Quiz, seed: int) -> list[ShownQuestion]:
    """The questions of a printed sheet: bank order, pinned options last, templates drawn."""
    from grader.quiz.shown import prepare_attempt_questions

    plan = prepare_attempt_questions(quiz, seed)
    for entry, question in zip(plan, quiz.questions, strict=True):
        if question.is_choice:
            entry["order"] = [o.id for o in question.options if not o.pinned] + [
                o.id for o in question.options if o.pinned
            ]
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
        "rule_text": RULE_TEXT,
        "objectives": OBJECTIVES,
        "pitfalls": PITFALLS,
        "key_text": key_text,
        "kind_label": KIND_LABEL,
    }


KIND_LABEL = {
    "single": "one answer",
    "multi": "select all that apply",
    "numeric": "number",
    "symbolic": "expression",
}


def markdown_sheet(quiz: Quiz, *, key: bool = False, seed: int = 0) -> str:
    """The quiz as Markdown; `key=True` adds answers and every option's feedback."""
    return render("sheet.md.j2", **sheet_context(quiz, key=key, seed=seed))


def html_sheet(quiz: Quiz, *, key: bool = False, seed: int = 0) -> str:
    """A printable HTML sheet; `key=True` makes it the instructor's answer key."""
    return render("sheet.html.j2", **sheet_context(quiz, key=key, seed=seed))


def symbols_text(question: Question) -> str:
    return ", ".join(
        f"{name} ({', '.join(k for k, v in a.items() if v)})" if a else name
        for name, a in question.symbols.items()
    )
