"""Rendering the Markdown and HTML reports from the Jinja2 templates in `templates/`."""

from __future__ import annotations

from pathlib import Path

import jinja2

from grader.report.model import ClassReport, hint_sentence
from grader.report.svg import histogram_svg

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = lambda v: "" if v is None else f"{round(float(v), 6):g}"
    env.filters["pct"] = lambda v: f"{100 * float(v):.0f}%"
    env.filters["fixed"] = lambda v, d=1: "n/a" if v is None else f"{float(v):.{d}f}"
    env.filters["mdcell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    return env


def render_markdown(report: ClassReport) -> str:
    return (
        _environment(False)
        .get_template("report.md.j2")
        .render(r=report, hint_note=hint_sentence(report.course.points_per_hint))
    )


def render_html(report: ClassReport) -> str:
    return (
        _environment(True)
        .get_template("report.html.j2")
        .render(
            r=report,
            histogram=histogram_svg(report.histogram),
            hint_note=hint_sentence(report.course.points_per_hint),
        )
    )
