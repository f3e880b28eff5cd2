"""How many points an exercise is worth, read from its hidden tests without running them.

Each hidden test is worth the `n` of its `@pytest.mark.points(n)` decorator (default 1).
Used when a submission could not be graded at all (the grading process died), so the
row written for it still has the exercise's real maximum.
"""

from __future__ import annotations

import ast

from grader.exercises import Exercise


def test_points(exercise: Exercise) -> dict[str, float]:
    """Test name (without `test_`) -> points, for every test function of the hidden file."""
    tree = ast.parse(exercise.hidden_test_file.read_text(encoding="utf-8"))
    points: dict[str, float] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            points[node.name.removeprefix("test_")] = _points_of(node)
    return points


def max_points(exercise: Exercise) -> float:
    """The exercise's total points (1.0 when its hidden tests cannot be read)."""
    try:
        return float(sum(test_points(exercise).values())) or 1.0
    except (OSError, SyntaxError):
        return 1.0


def _points_of(function: ast.FunctionDef) -> float:
    for decorator in function.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "points"
            and decorator.args
            and isinstance(decorator.args[0], ast.Constant)
            and isinstance(decorator.args[0].value, int | float)
        ):
            return float(decorator.args[0].value)
    return 1.0
