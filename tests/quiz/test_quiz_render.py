"""Every jinja2 template renders; colour only on a TTY and never with NO_COLOR."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from grader.quiz.coverage import tag_counts
from grader.quiz.loader import PROJECT_BANK, load_bank, load_quiz
from grader.quiz.render import (
    TEMPLATES,
    feedback_view,
    html_sheet,
    markdown_sheet,
    sheet_questions,
    terminal_check,
    terminal_feedback,
    terminal_question,
    terminal_summary,
    use_colour,
)
from grader.quiz.scoring import mark_answer
from grader.render.fit import visible_len

QUIZZES = load_bank(PROJECT_BANK)[0]
ANSI = "\x1b["


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_tty_and_never_with_no_color() -> None:
    assert use_colour(FakeTTY(), {})
    assert not use_colour(io.StringIO(), {})
    assert not use_colour(FakeTTY(), {"NO_COLOR": "1"})
    assert use_colour(FakeTTY(), {"NO_COLOR": ""})  # the convention: only a non-empty value


def test_all_templates_are_exercised() -> None:
    names = {p.name for p in TEMPLATES.glob("*.j2")}
    assert names == {
        "terminal_question.j2",
        "terminal_feedback.j2",
        "terminal_summary.j2",
        "terminal_check.j2",
        "sheet.md.j2",
        "sheet.html.j2",
    }


def test_check_report_in_colour_still_fits_80_columns() -> None:
    report = terminal_check(QUIZZES, tag_counts(QUIZZES), 0, table=True, colour=True)
    assert "\x1b[" in report
    assert max(visible_len(line) for line in report.splitlines()) <= 80


@pytest.mark.parametrize("quiz", QUIZZES, ids=lambda q: q.name)
@pytest.mark.parametrize("key", [False, True])
def test_sheets_render_for_every_quiz(quiz, key: bool) -> None:  # type: ignore[no-untyped-def]
    markdown = markdown_sheet(quiz, key=key)
    html = html_sheet(quiz, key=key)
    for question in quiz.questions:
        assert f"{question.id}" in markdown and f'id="{question.id}"' in html
    assert "{{" not in markdown and "{{" not in html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    feedback = [o.feedback for q in quiz.questions if q.is_choice for o in q.options if o.feedback]
    if key:
        assert "answer key" in markdown and "Explanation:" in markdown
        assert feedback[0][:30] in markdown
    else:
        assert "Explanation" not in markdown and "Answer:" not in markdown
        assert all(f[:40] not in markdown for f in feedback)


def test_html_escapes_text(tiny_bank: Path) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    html = html_sheet(quiz, key=True)
    assert "inverse&#39;s volume change" in html
    assert "<script" not in html


@pytest.mark.parametrize("quiz", QUIZZES, ids=lambda q: q.name)
def test_terminal_templates_render_every_question(quiz) -> None:  # type: ignore[no-untyped-def]
    shown = sheet_questions(quiz, seed=3)
    rows = []
    for item in shown:
        text = terminal_question(item, len(shown))
        assert item.question.stem.split()[0] in text and ANSI not in text
        if item.question.is_choice:
            answer = {"chosen": [item.order[0]], "text": "A"}
        elif item.question.kind == "numeric":
            answer = {"value": float(item.question.answer), "text": "x"}  # type: ignore[arg-type]
        else:
            answer = {"expression": str(item.question.answer), "text": "x"}
        mark = mark_answer(item.question, answer)
        view = feedback_view(item, answer, mark)
        output = terminal_feedback(view)
        assert "Your answer" in output and item.question.explanation[:20] in output
        rows.append((item, view))
    summary = terminal_summary(quiz, rows, "finished", colour=False)
    assert "Total:" in summary and f"/ {quiz.max_score:g}" in summary


def test_colour_codes_appear_only_when_asked(tiny_bank: Path) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    item = sheet_questions(quiz, seed=0)[0]
    assert ANSI in terminal_question(item, 4, colour=True)
    assert ANSI not in terminal_question(item, 4, colour=False)


def test_feedback_names_the_chosen_letter(tiny_bank: Path) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    item = sheet_questions(quiz, seed=0)[0]
    wrong = "wrong"
    answer = {"chosen": [wrong], "text": item.letter_of(wrong)}
    text = terminal_feedback(feedback_view(item, answer, mark_answer(item.question, answer)))
    assert f"If you chose {item.letter_of(wrong)}: Upside down" in text
    assert f"Correct answer: {item.letter_of('right')}" in text


def test_unmarked_feedback_shows_only_the_answer(tiny_bank: Path) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    item = sheet_questions(quiz, seed=0)[2]
    text = terminal_feedback(feedback_view(item, {"value": 1.0, "text": "1.0"}, None))
    assert "instructor will mark" in text and "Correct answer" not in text
