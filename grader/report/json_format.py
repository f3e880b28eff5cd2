"""`grade report --format json`: every view of the class in one machine-readable document.

Top level: `course`, `generated_at`, `items` (id, kind, title, max_score), `students`
(per item: raw, final, max_score, penalty (late), hints, hint_penalty, days_late,
submitted_at, reason; per test:
score, max_score, status; total, max_total, percentage), `statistics` (overall and per
item: count, mean, median, stdev, min, max, q1, q3; `histogram` bins of percentages),
`failures` (per test: failed, graded, rate, sentence), `quizzes` (item analysis or null)
and `hints` (the course's points_per_hint and how it is applied).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from grader.report.model import HINT_RULE, ClassReport, StudentReport
from grader.report.statistics import Summary


def _summary(s: Summary) -> dict[str, Any]:
    return {
        "count": s.count,
        "mean": s.mean,
        "median": s.median,
        "stdev": s.stdev,
        "min": s.minimum,
        "max": s.maximum,
        "q1": s.q1,
        "q3": s.q3,
    }


def _student(student: StudentReport) -> dict[str, Any]:
    return {
        "student": student.student,
        "items": {
            item: {
                "raw": score.raw,
                "final": score.final,
                "max_score": score.max_score,
                "penalty": score.penalty,
                "hints": score.hints,
                "hint_penalty": score.hint_penalty,
                "days_late": round(score.lateness.days_late, 4),
                "submitted_at": score.submitted_at,
                "reason": score.reason,
            }
            for item, score in student.scores.items()
        },
        "tests": {
            f"{exercise}:{name}": {"score": t.score, "max_score": t.max_score, "status": t.status}
            for (exercise, name), t in student.tests.items()
        },
        "total": student.total,
        "max_total": student.max_total,
        "percentage": round(student.percentage, 4),
    }


def report_dict(report: ClassReport) -> dict[str, Any]:
    return {
        "course": report.course.name,
        "generated_at": report.generated_at,
        "items": [asdict(i) for i in report.items],
        "students": [_student(s) for s in report.students],
        "statistics": {
            "overall_percentage": _summary(report.overall),
            "items": {k: _summary(v) for k, v in report.per_item.items()},
            "histogram": [
                {"low": b.low, "high": b.high, "count": b.count} for b in report.histogram
            ],
        },
        "failures": [
            {
                "exercise": f.exercise,
                "test": f.test,
                "description": f.description,
                "failed": f.failed,
                "graded": f.graded,
                "rate": f.rate,
                "sentence": f.sentence,
            }
            for f in report.failures
        ],
        "quizzes": {k: (asdict(v) if v else None) for k, v in report.quizzes.items()},
        "hints": {
            "points_per_hint": report.course.points_per_hint,
            "applied": HINT_RULE,
        },
    }


def report_json(report: ClassReport) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"
