"""Content checks beyond the schema: is every key usable and is the unit covered?

    problems = lint_quiz(quiz)          # one line per problem, empty when all is well
    missing = coverage_gaps(quizzes)    # objectives / pitfalls no question covers

`lint_quiz` draws every template for a few seeds and runs each concrete question's own
checks (`Question.lint`): a symbolic answer and its misconceptions must parse; a numeric
answer must be finite and no misconception within its tolerance (that feedback could never
be shown). It imports sympy, and torch for templates: for `grade quiz check` and
tests, not for taking a quiz.
"""

from __future__ import annotations

from collections.abc import Iterable

from grader.quiz.coverage import tag_counts
from grader.quiz.errors import QuizError
from grader.quiz.model import Question, Quiz
from grader.quiz.variants import draw_params, instantiate

SEEDS = (0, 1, 2)


def lint_question(question: Question) -> list[str]:
    """Problems of one question; templates are checked for several drawn variants."""
    if question.variant is None:
        concrete = [question]
    else:
        try:
            concrete = [
                instantiate(
                    question, draw_params(question.variant, seed, question.id), with_key=True
                )
                for seed in SEEDS
            ]
        except (QuizError, KeyError, ValueError, ArithmeticError) as err:
            return [f"template does not instantiate: {type(err).__name__}: {err}"]
    problems: list[str] = []
    for item in concrete:
        problems += item.lint()
    return sorted(set(problems))


def lint_quiz(quiz: Quiz) -> list[str]:
    """Every problem of `quiz` as `quiz: question id: problem` lines."""
    if not quiz.has_key:
        return []
    return [f"{quiz.name}: {q.id}: {p}" for q in quiz.questions for p in lint_question(q)]


def coverage_gaps(quizzes: Iterable[Quiz]) -> list[str]:
    """Learning objectives and pitfalls that no question of the bank is tagged with."""
    return tag_counts(quizzes).gaps()
