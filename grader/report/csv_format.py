"""`grade report --format csv`: one row per student, for spreadsheets and scripts.

Summary columns: `student`, one column per exercise and quiz (the score that counts,
after any late penalty; blank = nothing handed in, which counts as 0), `total`,
`max_total`, `percentage`, then `<exercise> hints` per exercise (hint steps the student was
shown; their cost, course.toml `[hints] points_per_hint`, is already in the scores).
With `detailed=True` the item columns are replaced by one
column per hidden test (`exercise-03:round_trip`, raw test score) plus the quiz columns.
"""

from __future__ import annotations

import csv
import io

from grader.report.model import ClassReport, ItemScore, StudentReport


def number(value: float) -> str:
    """A score as text without float noise: 7.5, 10, 0.333333."""
    return f"{round(value, 6):g}"


def _item_cell(score: ItemScore) -> str:
    return "" if score.raw is None else number(score.final)


def _totals(student: StudentReport) -> list[str]:
    return [number(student.total), number(student.max_total), f"{student.percentage:.2f}"]


def _hint_columns(report: ClassReport) -> list[str]:
    return [f"{i.id} hints" for i in report.items if i.kind == "exercise"]


def _hint_cells(report: ClassReport, student: StudentReport) -> list[str]:
    return [str(student.scores[i.id].hints) for i in report.items if i.kind == "exercise"]


def summary_csv(report: ClassReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    items = [i.id for i in report.items]
    writer.writerow(["student", *items, "total", "max_total", "percentage", *_hint_columns(report)])
    for student in report.students:
        cells = [_item_cell(student.scores[i.id]) for i in report.items]
        writer.writerow([student.student, *cells, *_totals(student), *_hint_cells(report, student)])
    return out.getvalue()


def detailed_csv(report: ClassReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    quizzes = [i for i in report.items if i.kind == "quiz"]
    writer.writerow(
        [
            "student",
            *(c.key for c in report.tests),
            *(q.id for q in quizzes),
            "total",
            "max_total",
            "percentage",
            *_hint_columns(report),
        ]
    )
    for student in report.students:
        tests = []
        for column in report.tests:
            test = student.tests.get((column.exercise, column.name))
            tests.append("" if test is None else number(test.score))
        quiz_cells = [_item_cell(student.scores[q.id]) for q in quizzes]
        hints = _hint_cells(report, student)
        writer.writerow([student.student, *tests, *quiz_cells, *_totals(student), *hints])
    return out.getvalue()
