"""Content checks beyond the schema: is every key usable?

    problems = lint_quiz(quiz)          # one line per problem, empty when all is well

(Whether the bank covers every objective and pitfall is `grader.quiz.coverage`.)

`lint_quiz` draws every template for a few seeds and runs each concrete question's own
checks (`Question.lint`): a symbolic answer and its misconceptions must parse; a numeric
answer must be finite and no misconception within its tolerance (that feedback could never
be shown). It imports sympy, and torch for templates: for `grade quiz check` and
tests, not for taking a quiz.
"""

from __future__ import annotations

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
