"""Choosing a report format and writing it where asked."""

from __future__ import annotations

from pathlib import Path

from grader.report.canvas import canvas_csv
from grader.report.csv_format import detailed_csv, summary_csv
from grader.report.gradescope import write_gradescope
from grader.report.json_format import report_json
from grader.report.model import ClassReport
from grader.report.templates import render_html, render_markdown

FORMATS = ("csv", "json", "md", "html", "gradescope", "canvas")
DEFAULT_GRADESCOPE_DIR = Path("gradescope")


def render_text(report: ClassReport, fmt: str, *, detailed: bool = False) -> str:
    """The report as text, for every format but `gradescope` (a folder of files)."""
    if fmt == "csv":
        return detailed_csv(report) if detailed else summary_csv(report)
    if fmt == "json":
        return report_json(report)
    if fmt == "md":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "canvas":
        return canvas_csv(report)
    raise ValueError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")


def write_report(
    report: ClassReport, fmt: str, out: Path | None, *, detailed: bool = False
) -> tuple[str | None, list[Path]]:
    """Write the report to `out` (stdout text is returned when `out` is None).

    For `gradescope`, `out` is a folder (default `gradescope/`) holding one folder per student.
    """
    if fmt == "gradescope":
        return None, write_gradescope(report, out or DEFAULT_GRADESCOPE_DIR)
    text = render_text(report, fmt, detailed=detailed)
    if out is None:
        return text, []
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return None, [out]
