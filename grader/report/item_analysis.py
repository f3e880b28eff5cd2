"""Quiz item analysis: facility, discrimination and distractor counts per question.

Input: the latest finished attempt of each student at one quiz, whose `data` has the
layout `grader.quiz.take` stores:

    data["questions"] = [{"id": "q1", "order": [option ids as shown], ...}, ...]
    data["answers"]["q1"] = {"chosen": [option ids] | number | expression, ...}
    data["marks"]["q1"] = {"score": 0.5, "points": 1.0, ...}

For question i over the N students who answered it:
    facility_i       = mean_s(score_si / max_i)                    (0 = nobody, 1 = everyone)
    discrimination_i = corr_s(score_si, rest_s),  rest_s = sum_{j != i} score_sj
                       (Pearson; the item is left out of the total so it does not
                       correlate with itself; None when either side has no variance)
    chosen_i         = how many students chose each option (or gave each raw answer)
An attempt whose data does not have this layout is left out; a quiz with no usable
attempt has no item analysis.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grader.gradebook import QuizAttemptRecord

MIN_STUDENTS = 3


@dataclass(frozen=True)
class QuestionStats:
    """Item statistics of one question."""

    id: str
    answered: int
    facility: float
    discrimination: float | None
    chosen: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class QuizAnalysis:
    """Item analysis of one quiz; `skipped` attempts lacked the expected data layout."""

    quiz: str
    students: int
    skipped: int
    questions: list[QuestionStats]


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson correlation, or None with fewer than 2 points or zero variance."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return sxy / math.sqrt(sxx * syy)


def _questions(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Per-question {id, chosen, score, max_score} of a marked attempt, or None if the
    attempt's data does not have the expected layout."""
    if not isinstance(data, dict):
        return None
    questions, answers, marks = data.get("questions"), data.get("answers"), data.get("marks")
    if not (isinstance(questions, list) and isinstance(answers, dict) and isinstance(marks, dict)):
        return None
    rows = []
    for question in questions:
        qid = question.get("id") if isinstance(question, dict) else None
        mark = marks.get(qid)
        if not isinstance(qid, str) or not isinstance(mark, dict):
            return None
        score, points = mark.get("score"), mark.get("points")
        if not isinstance(score, int | float) or not isinstance(points, int | float) or points <= 0:
            return None
        answer = answers.get(qid)
        chosen = answer.get("chosen") if isinstance(answer, dict) else None
        rows.append({"id": qid, "chosen": chosen, "score": score, "max_score": points})
    return rows or None


def _choices(chosen: Any) -> list[str]:
    if chosen is None or chosen == "" or chosen == []:
        return ["(no answer)"]
    if isinstance(chosen, list):
        return [str(c) for c in chosen]
    return [str(chosen)]


def analyse_quiz(quiz: str, attempts: list[QuizAttemptRecord]) -> QuizAnalysis | None:
    """Item analysis of `quiz` from one finished attempt per student."""
    usable = [(a, _questions(a.data)) for a in attempts]
    rows = [q for _, q in usable if q is not None]
    if not rows:
        return None
    ids = list(dict.fromkeys(q["id"] for row in rows for q in row))
    by_student = [{q["id"]: q for q in row} for row in rows]
    stats = [_question(qid, by_student) for qid in ids]
    return QuizAnalysis(quiz, len(rows), len(attempts) - len(rows), stats)


def _question(qid: str, by_student: list[dict[str, dict[str, Any]]]) -> QuestionStats:
    answered = [row for row in by_student if qid in row]
    item = [float(row[qid]["score"]) for row in answered]
    rest = [sum(float(q["score"]) for k, q in row.items() if k != qid) for row in answered]
    facility = sum(
        float(row[qid]["score"]) / float(row[qid]["max_score"]) for row in answered
    ) / len(answered)
    discrimination = pearson(item, rest) if len(answered) >= MIN_STUDENTS else None
    counts: Counter[str] = Counter()
    for row in answered:
        counts.update(_choices(row[qid].get("chosen")))
    return QuestionStats(qid, len(answered), facility, discrimination, dict(counts.most_common()))
