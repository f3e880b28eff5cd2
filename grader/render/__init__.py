"""Renderers: turn result models into text for a terminal, JSON, Markdown or HTML.

All human-readable formats are jinja2 templates in `templates/`; JSON is the
Gradescope-shaped dict from `ExerciseResult.to_gradescope`.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any, Literal, TextIO

import jinja2

from grader.render.fit import fit_to_width, terminal_width
from grader.results import ExerciseResult

__all__ = [
    "FORMATS",
    "render_exercise",
    "render_terminal",
    "terminal_width",
    "use_colour",
]

Format = Literal["terminal", "json", "markdown", "html"]
FORMATS: tuple[str, ...] = ("terminal", "json", "markdown", "html")
TEMPLATES = Path(__file__).parent / "templates"

_ANSI = {"pass": "32", "fail": "31", "error": "35", "dim": "2", "bold": "1", "hint": "33"}


def use_colour(stream: TextIO = sys.stdout) -> bool:
    """Colour only on a TTY, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


@cache
def environment(colour: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )

    def style(text: Any, kind: str) -> str:
        return f"\033[{_ANSI[kind]}m{text}\033[0m" if colour else str(text)

    env.filters["style"] = style
    env.filters["points"] = lambda value: f"{value:g}"
    env.filters["indent_lines"] = lambda text, n: ("\n" + " " * n).join(str(text).splitlines())
    return env


def render_template(name: str, colour: bool = False, **context: Any) -> str:
    return environment(colour).get_template(name).render(**context)


def render_terminal(
    name: str, *, colour: bool = False, width: int | None = None, **context: Any
) -> str:
    """A terminal template, fitted to `width` columns (see `grader.render.fit`)."""
    return fit_to_width(render_template(name, colour, **context), width)


def render_exercise(
    result: ExerciseResult,
    fmt: Format,
    *,
    colour: bool = False,
    submission: str | None = None,
    width: int | None = None,
) -> str:
    """Render one exercise result; `submission` names the graded file in the header;
    terminal text is fitted to `width` columns when given (a terminal's width)."""
    if fmt == "json":
        return json.dumps(result.to_gradescope(), indent=2) + "\n"
    template = {
        "terminal": "exercise.txt.j2",
        "markdown": "exercise.md.j2",
        "html": "exercise.html.j2",
    }
    failed = [t for t in result.tests if t.status != "passed"]
    not_implemented = sorted(
        {
            t.feedback.differs
            for t in failed
            if t.feedback and t.feedback.differs.startswith("not implemented")
        }
    )
    text = render_template(
        template[fmt],
        colour=colour,
        result=result,
        failed=failed,
        not_implemented=not_implemented,
        submission=submission or f"{result.exercise} submission",
        hints=_has_hints(result.exercise),
    )
    return fit_to_width(text, width) if fmt == "terminal" else text


def _has_hints(exercise_id: str) -> bool:
    """Whether `grade hint` has hints for this exercise (the terminal output offers them)."""
    from grader.exercises import UnknownExercise
    from grader.hints import hint_path

    try:
        return hint_path(exercise_id).is_file()
    except UnknownExercise:
        return False
