"""What every report format shows, computed once from the gradebook and the course config.

    report = build_report(gradebook, course)

Exercise scores are the current (not superseded) row of each (student, exercise); quiz
scores come from each student's latest *finished* attempt at each quiz (score/max_score).
Late penalties and the per-hint cost (`grader.course`: `[late]`, `[hints] points_per_hint`)
are applied here, at report time: `final` is what counts toward the total, `raw` what the
tests gave; the hint cost is taken off after the late penalty and never below 0. A student
with nothing stored for an item scores 0 of that item's maximum. Percentages are
100 * total / max_total.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from grader.course import ON_TIME, Course, Lateness
from grader.exercises import EXERCISE_IDS, get_exercise
from grader.gradebook import Gradebook, QuizAttemptRecord, SubmissionRecord, TestRow
from grader.report.item_analysis import QuizAnalysis, analyse_quiz
from grader.report.reasons import reason
from grader.report.statistics import (
    Bin,
    FailureRate,
    Summary,
    failure_rates,
    histogram,
    summary,
)

HINT_RULE = "per hint step shown, after the late penalty, never below 0"


def hint_sentence(points_per_hint: float) -> str:
    """What a report says about hints (the cost is course.toml's `[hints] points_per_hint`)."""
    if not points_per_hint:
        return "Hints are free in this course (course.toml [hints] points_per_hint = 0)."
    return (
        f"Each hint costs {points_per_hint:g} point(s) of its exercise ({HINT_RULE}; "
        "course.toml [hints] points_per_hint)."
    )


@dataclass(frozen=True)
class Item:
    """A graded item: an exercise or a quiz, with its maximum score."""

    id: str
    kind: Literal["exercise", "quiz"]
    title: str
    max_score: float


@dataclass(frozen=True)
class ItemScore:
    """One student's result on one item. `raw` is None when nothing was handed in."""

    raw: float | None
    max_score: float
    lateness: Lateness
    submitted_at: str | None
    reason: str
    hints: int = 0  # hint steps the student was shown for this item (`grade hint`)
    points_per_hint: float = 0.0

    @property
    def after_late(self) -> float:
        if self.raw is None:
            return 0.0
        return round(self.raw * (1.0 - self.lateness.fraction), 6)

    @property
    def final(self) -> float:
        """The score that counts: raw minus the late penalty, minus the hint cost (never
        below 0; 0 when missing)."""
        return round(self.after_late - self.hint_penalty, 6)

    @property
    def penalty(self) -> float:
        """The late penalty (points)."""
        return round((self.raw or 0.0) - self.after_late, 6)

    @property
    def hint_penalty(self) -> float:
        """Points the hints cost: hints * points_per_hint, at most what is left."""
        return round(min(self.after_late, self.hints * self.points_per_hint), 6)


@dataclass(frozen=True)
class TestScore:
    """One test of one student's current submission."""

    score: float
    max_score: float
    status: str
    message: str


@dataclass
class StudentReport:
    """One row of the gradebook view."""

    student: str
    scores: dict[str, ItemScore]
    tests: dict[tuple[str, str], TestScore] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return round(sum(s.final for s in self.scores.values()), 6)

    @property
    def max_total(self) -> float:
        return round(sum(s.max_score for s in self.scores.values()), 6)

    @property
    def percentage(self) -> float:
        return 100.0 * self.total / self.max_total if self.max_total else 0.0


@dataclass(frozen=True)
class TestColumn:
    """A column of the detailed view: one hidden test of one exercise."""

    exercise: str
    name: str
    description: str
    max_score: float

    @property
    def key(self) -> str:
        return f"{self.exercise}:{self.name}"


@dataclass
class ClassReport:
    """Everything a report shows."""

    course: Course
    generated_at: str
    items: list[Item]
    students: list[StudentReport]
    tests: list[TestColumn]
    overall: Summary
    per_item: dict[str, Summary]
    histogram: list[Bin]
    failures: list[FailureRate]
    quizzes: dict[str, QuizAnalysis | None]
    submissions: dict[tuple[str, str], SubmissionRecord]
    attempts: dict[tuple[str, str], QuizAttemptRecord]


def build_report(gradebook: Gradebook, course: Course) -> ClassReport:
    """Read the gradebook and compute every view of it."""
    current = {(s.student, s.exercise): s for s in gradebook.current_submissions()}
    attempts = _latest_finished(gradebook.quiz_attempts())
    hints = gradebook.hint_counts()
    rows_by_submission: dict[int, list[TestRow]] = {}
    for row in gradebook.test_rows():
        rows_by_submission.setdefault(row.submission_id, []).append(row)
    items = _exercise_items(current) + _quiz_items(attempts)
    names = sorted(set(gradebook.students()) | {k[0] for k in current} | {k[0] for k in attempts})
    students = [
        _student(name, items, current, attempts, rows_by_submission, course, hints)
        for name in names
    ]
    tests = _test_columns(current, rows_by_submission)
    percentages = [s.percentage for s in students]
    return ClassReport(
        course=course,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        items=items,
        students=students,
        tests=tests,
        overall=summary(percentages),
        per_item={item.id: summary([s.scores[item.id].final for s in students]) for item in items},
        histogram=histogram(percentages),
        failures=_failures(students, tests),
        quizzes={
            item.id: analyse_quiz(item.id, [a for k, a in attempts.items() if k[1] == item.id])
            for item in items
            if item.kind == "quiz"
        },
        submissions=current,
        attempts=attempts,
    )


def _latest_finished(records: list[QuizAttemptRecord]) -> dict[tuple[str, str], QuizAttemptRecord]:
    latest: dict[tuple[str, str], QuizAttemptRecord] = {}
    for record in records:  # oldest first, so the last one wins
        if record.state == "finished" and record.score is not None:
            latest[(record.student, record.quiz)] = record
    return latest


def _exercise_order(exercise: str) -> tuple[int, str]:
    return (EXERCISE_IDS.index(exercise) if exercise in EXERCISE_IDS else 99, exercise)


def _exercise_items(current: dict[tuple[str, str], SubmissionRecord]) -> list[Item]:
    maxima: dict[str, float] = {}
    for (_, exercise), record in current.items():
        maxima[exercise] = max(maxima.get(exercise, 0.0), record.max_score)
    items = []
    for exercise in sorted(maxima, key=_exercise_order):
        try:
            title = get_exercise(exercise).title
        except LookupError:
            title = exercise
        items.append(Item(exercise, "exercise", title, maxima[exercise]))
    return items


def _quiz_items(attempts: dict[tuple[str, str], QuizAttemptRecord]) -> list[Item]:
    maxima: dict[str, float] = {}
    for (_, quiz), record in attempts.items():
        maxima[quiz] = max(maxima.get(quiz, 0.0), float(record.max_score or 0.0))
    return [Item(quiz, "quiz", quiz, maxima[quiz]) for quiz in sorted(maxima)]


def _student(
    name: str,
    items: list[Item],
    current: dict[tuple[str, str], SubmissionRecord],
    attempts: dict[tuple[str, str], QuizAttemptRecord],
    rows: dict[int, list[TestRow]],
    course: Course,
    hints: dict[tuple[str, str], int],
) -> StudentReport:
    report = StudentReport(name, {})
    for item in items:
        used = hints.get((name, item.id), 0)
        if item.kind == "exercise" and (record := current.get((name, item.id))):
            tests = rows.get(record.id, [])
            when = record.submitted_at or record.graded_at
            report.scores[item.id] = ItemScore(
                record.score,
                item.max_score,
                course.lateness(name, item.id, when),
                when,
                reason((t.status, t.message) for t in tests),
                used,
                course.points_per_hint,
            )
            for t in tests:
                report.tests[(item.id, t.name)] = TestScore(
                    t.score, t.max_score, t.status, t.message
                )
        elif item.kind == "quiz" and (attempt := attempts.get((name, item.id))):
            when = attempt.finished_at
            report.scores[item.id] = ItemScore(
                float(attempt.score or 0.0),
                item.max_score,
                course.lateness(name, item.id, when),
                when,
                "",
            )
        else:
            report.scores[item.id] = ItemScore(
                None, item.max_score, ON_TIME, None, "not submitted", used, course.points_per_hint
            )
    return report


def _test_columns(
    current: dict[tuple[str, str], SubmissionRecord], rows: dict[int, list[TestRow]]
) -> list[TestColumn]:
    columns: dict[tuple[str, str], TestColumn] = {}
    for (_, exercise), record in sorted(current.items(), key=lambda kv: _exercise_order(kv[0][1])):
        descriptions = _descriptions(record)
        for row in rows.get(record.id, []):
            key = (exercise, row.name)
            if key not in columns or row.max_score > columns[key].max_score:
                columns[key] = TestColumn(
                    exercise, row.name, descriptions.get(row.name, row.name), row.max_score
                )
    order = {key: i for i, key in enumerate(columns)}
    return sorted(
        columns.values(), key=lambda c: (_exercise_order(c.exercise), order[(c.exercise, c.name)])
    )


def _descriptions(record: SubmissionRecord) -> dict[str, str]:
    try:
        tests = json.loads(record.result_json).get("tests", [])
        return {str(t["name"]): str(t.get("description", t["name"])) for t in tests}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


PSEUDO_TESTS = frozenset({"grading", "hidden_tests"})  # stand-ins when no test could run


def _failures(students: list[StudentReport], tests: list[TestColumn]) -> list[FailureRate]:
    """Failure rate of every real test among the students who handed the exercise in.

    A submission that could not be tested at all (a pseudo-test row) fails every test.
    """
    outcomes: dict[tuple[str, str], list[bool]] = {}
    for student in students:
        for column in tests:
            if column.name in PSEUDO_TESTS or student.scores[column.exercise].raw is None:
                continue
            test = student.tests.get((column.exercise, column.name))
            outcomes.setdefault((column.exercise, column.name), []).append(
                test is not None and test.status == "passed"
            )
    descriptions = {(c.exercise, c.name): c.description for c in tests}
    return failure_rates(outcomes, descriptions)
