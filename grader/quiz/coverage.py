"""How many questions of the bank cover each learning objective and each pitfall.

    coverage = tag_counts(quizzes)   # questions per objective and per pitfall, syllabus order
    coverage.gaps()                  # ['objective 3 is not covered', ...]; [] when all are

A question counts once for every objective and pitfall it is tagged with (`objectives:`
and `pitfalls:` in the bank). `grade quiz check` shows these counts beside each question's
tags (`templates/terminal_check.j2`) and reports every gap as a problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from grader.quiz.model import Quiz
from grader.quiz.syllabus import OBJECTIVES, PITFALLS


@dataclass(frozen=True)
class Coverage:
    """Questions tagged with each objective (by number) and each pitfall (by id).

    Both mappings list every entry of the syllabus, in its order, zeros included.
    """

    objectives: dict[int, int]
    pitfalls: dict[str, int]

    def gaps(self) -> list[str]:
        """One line per objective or pitfall that no question covers."""
        missing = [f"objective {o} is not covered" for o, n in self.objectives.items() if not n]
        return missing + [f"pitfall {p} is not covered" for p, n in self.pitfalls.items() if not n]


def tag_counts(quizzes: Iterable[Quiz]) -> Coverage:
    """Count, over every question of `quizzes`, the questions tagged with each entry."""
    objectives = dict.fromkeys(OBJECTIVES, 0)
    pitfalls = dict.fromkeys(PITFALLS, 0)
    for quiz in quizzes:
        for question in quiz.questions:
            for objective in set(question.objectives):
                objectives[objective] += 1
            for pitfall in set(question.pitfalls):
                pitfalls[pitfall] += 1
    return Coverage(objectives, pitfalls)
