"""`grade report --format canvas`: a CSV that Canvas' gradebook import accepts.

Columns (Canvas identifies a student by `Student`, `ID` or `SIS User ID`, and wants
`SIS Login ID` and `Section` present):

    Student, ID, SIS User ID, SIS Login ID, Section, <one column per exercise and quiz>

The second row is Canvas' `Points Possible` row (each item's maximum). An item column is
titled `<item id> (<Canvas assignment id>)` when `[canvas.assignments]` in course.toml
gives the id, so Canvas updates that assignment; otherwise just `<item id>`, and Canvas
offers to create a new assignment. Scores are after late penalties; a blank cell (nothing
handed in) leaves Canvas' value unchanged.

The identity columns come from the roster named in course.toml (`[canvas] roster`), a
CSV with the columns `student` (the submission folder name) and any of `name`,
`canvas_id`, `sis_user_id`, `sis_login_id`, `section`. Without a roster, `Student` and
`SIS Login ID` hold the folder name.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from grader.report.csv_format import number
from grader.report.model import ClassReport

IDENTITY_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "Points Possible"


class RosterError(ValueError):
    """The roster file is unusable (one-line message)."""


def load_roster(path: Path | None) -> dict[str, dict[str, str]]:
    """student -> {name, canvas_id, sis_user_id, sis_login_id, section}."""
    if path is None:
        return {}
    if not path.is_file():
        raise RosterError(f"{path}: roster file not found (named in course.toml [canvas])")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "student" not in reader.fieldnames:
            raise RosterError(f"{path}: the roster needs a `student` column")
        return {
            row["student"].strip(): {k: (v or "").strip() for k, v in row.items()} for row in reader
        }


def column_title(report: ClassReport, item_id: str) -> str:
    assignment = report.course.canvas_assignments.get(item_id)
    return f"{item_id} ({assignment})" if assignment else item_id


def canvas_csv(report: ClassReport) -> str:
    roster = load_roster(report.course.roster)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*IDENTITY_COLUMNS, *(column_title(report, i.id) for i in report.items)])
    writer.writerow([POINTS_POSSIBLE, "", "", "", "", *(number(i.max_score) for i in report.items)])
    for student in report.students:
        who = roster.get(student.student, {})
        identity = [
            who.get("name") or student.student,
            who.get("canvas_id", ""),
            who.get("sis_user_id", ""),
            who.get("sis_login_id") or student.student,
            who.get("section", ""),
        ]
        scores = [
            "" if student.scores[i.id].raw is None else number(student.scores[i.id].final)
            for i in report.items
        ]
        writer.writerow([*identity, *scores])
    return out.getvalue()
