"""Which quiz covers the same topic as an exercise, derived from data only.

Every exercise in the registry names the learning objectives it practises
(`Exercise.objectives`), and every quiz question is tagged with objectives
(`objectives: [2, 3]` in the bank). The quiz for an exercise is the practice quiz whose
questions share the most objective tags with it (a question tagged with two of the
exercise's objectives counts twice); exam quizzes are assessments, so they are only
chosen when no practice quiz shares any objective. Ties go to the bank's order. A new
exercise or quiz changes the link by its data, never by code here.
"""

from __future__ import annotations

from pathlib import Path

from grader.exercises import Exercise


def quiz_for(exercise: Exercise, bank: Path | None = None) -> str | None:
    """The name of the quiz that covers `exercise`'s topic (None when none shares a tag)."""
    from grader.quiz.loader import load_bank

    if not exercise.objectives:
        return None
    quizzes, _ = load_bank(bank)
    wanted = set(exercise.objectives)
    best: tuple[int, int, str] | None = None
    for quiz in quizzes:
        overlap = sum(len(wanted & set(q.objectives)) for q in quiz.questions)
        if overlap == 0:
            continue
        rank = (1 if quiz.mode == "practice" else 0, overlap)
        if best is None or rank > best[:2]:
            best = (*rank, quiz.name)
    return best[2] if best else None
