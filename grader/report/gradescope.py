"""`grade report --format gradescope`: one Gradescope `results.json` per student.

    OUT_DIR/<student>/results.json

Gradescope's schema: top-level `score` (the total after late penalties, which Gradescope
uses instead of summing the tests), `max_score`, `execution_time`, `output`,
`visibility`, `stdout_visibility`, and `tests`, each with `name`, `number`, `score`,
`max_score`, `output`, `tags`, `visibility`. Each hidden test is one entry (its output is
the student-facing feedback, never test code); each quiz is one entry; a late penalty is
an entry with a negative score, so the tests also add up to `score`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.report.model import ClassReport, Item, StudentReport


def _entries(report: ClassReport, student: StudentReport, item: Item, number: int) -> list[dict]:
    score = student.scores[item.id]
    entries: list[dict[str, Any]] = []
    columns = [c for c in report.tests if c.exercise == item.id]
    tests = [(c, student.tests.get((c.exercise, c.name))) for c in columns]
    present = [(c, t) for c, t in tests if t is not None]
    if item.kind == "exercise" and present:
        for index, (column, test) in enumerate(present, start=1):
            entries.append(
                {
                    "name": f"{item.id} {column.name}: {column.description}",
                    "number": f"{number}.{index}",
                    "score": test.score,
                    "max_score": test.max_score,
                    "output": test.message,
                    "tags": [item.id],
                    "visibility": "visible",
                }
            )
    else:
        entries.append(
            {
                "name": f"{item.id}: {item.title}",
                "number": f"{number}",
                "score": score.raw or 0.0,
                "max_score": item.max_score,
                "output": score.reason,
                "tags": [item.id],
                "visibility": "visible",
            }
        )
    if score.hint_penalty:
        entries.append(
            {
                "name": f"{item.id}: {score.hints} hint(s) used",
                "number": f"{number}.hints",
                "score": -score.hint_penalty,
                "max_score": 0.0,
                "output": f"{score.points_per_hint:g} point(s) per hint",
                "tags": [item.id, "hints"],
                "visibility": "visible",
            }
        )
    if score.penalty:
        entries.append(
            {
                "name": f"{item.id}: late penalty ({score.lateness.days_late:.2f} days late)",
                "number": f"{number}.late",
                "score": -score.penalty,
                "max_score": 0.0,
                "output": f"{score.lateness.fraction:.0%} of the earned score removed",
                "tags": [item.id, "late"],
                "visibility": "visible",
            }
        )
    return entries


def student_results(report: ClassReport, student: StudentReport) -> dict[str, Any]:
    """The results.json object of one student."""
    tests: list[dict[str, Any]] = []
    for number, item in enumerate(report.items, start=1):
        tests.extend(_entries(report, student, item, number))
    duration = sum(
        s.duration_s for (name, _), s in report.submissions.items() if name == student.student
    )
    return {
        "score": student.total,
        "max_score": student.max_total,
        "execution_time": round(duration, 3),
        "output": (
            f"{student.student}: {student.total:g} / {student.max_total:g} "
            f"({student.percentage:.1f}%)"
        ),
        "visibility": "after_published",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_gradescope(report: ClassReport, out_dir: Path) -> list[Path]:
    """Write every student's results.json; returns the paths written."""
    written = []
    for student in report.students:
        path = out_dir / student.student / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(student_results(report, student), indent=2) + "\n")
        written.append(path)
    return written
