"""Which of an exercise's functions a student has not got right yet, from a stored result.

`grade hint` (without --function) helps with the first such function. A function is
unfinished when the result says it is not implemented, or when a failed test exercises
it. Which functions a test exercises is read from data the grader already has, never
by running anything:
- in the project, from the hidden test file's syntax tree: the functions a test names
  (`student.soft_clamp`, or a function name as a string) in its body and in the
  module-level helpers it calls;
- in a student kit, from the recorded public checks (each recorded call names its
  function, `grader.release.vectors`).
A test that names none of them (an unusual helper) counts as exercising every function.
"""

from __future__ import annotations

import ast
import functools
from typing import Any

from grader.exercises import Exercise

NOT_IMPLEMENTED = "not implemented yet: "


def unfinished_functions(exercise: Exercise, result: dict[str, Any]) -> list[str]:
    """Functions of `exercise` not yet passing in `result` (`ExerciseResult.to_dict()`),
    in the registry's order."""
    failing: set[str] = set()
    coverage = tests_functions(exercise)
    for test in result.get("tests", []):
        if test.get("status") == "passed":
            continue
        differs = str((test.get("feedback") or {}).get("differs", ""))
        if differs.startswith(NOT_IMPLEMENTED):
            failing.add(differs.removeprefix(NOT_IMPLEMENTED).strip())
        failing.update(coverage.get(str(test.get("name")), exercise.functions))
    return [f for f in exercise.functions if f in failing]


@functools.cache
def tests_functions(exercise: Exercise) -> dict[str, tuple[str, ...]]:
    """Test name -> the exercise's functions it exercises (see the module docstring)."""
    if exercise.hidden_test_file.is_file():
        return _from_source(exercise, exercise.hidden_test_file.read_text(encoding="utf-8"))
    return _from_vectors(exercise)


def _from_source(exercise: Exercise, source: str) -> dict[str, tuple[str, ...]]:
    tree = ast.parse(source)
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    wanted = set(exercise.functions)

    def named(node: ast.FunctionDef, seen: set[str]) -> set[str]:
        found: set[str] = set()
        for child in ast.walk(node):
            if _student_attribute(child, wanted):
                found.add(child.attr)  # type: ignore[attr-defined]
            elif isinstance(child, ast.Constant) and child.value in wanted:
                found.add(str(child.value))
            elif isinstance(child, ast.Name) and child.id in defs and child.id not in seen:
                seen.add(child.id)
                found |= named(defs[child.id], seen)
        return found

    coverage = {}
    for name, node in defs.items():
        if name.startswith("test_"):
            found = named(node, {name})
            coverage[name.removeprefix("test_")] = tuple(
                f for f in exercise.functions if f in found
            ) or tuple(exercise.functions)
    return coverage


def _student_attribute(node: ast.AST, wanted: set[str]) -> bool:
    """`student.NAME` or `student_cpu.NAME` for one of the exercise's functions."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr in wanted
        and isinstance(node.value, ast.Name)
        and node.value.id.startswith("student")
    )


def _from_vectors(exercise: Exercise) -> dict[str, tuple[str, ...]]:
    from grader.release.vector_file import NoPublicChecks, load_vectors

    try:
        manifest = load_vectors(exercise.id).manifest
    except (NoPublicChecks, OSError, ValueError):
        return {}
    coverage = {}
    for test in manifest.get("tests", []):
        called = {str(call.get("function")) for call in test.get("calls", [])}
        coverage[str(test["name"])] = tuple(f for f in exercise.functions if f in called) or tuple(
            exercise.functions
        )
    return coverage
