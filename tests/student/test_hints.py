"""Hint files: every exercise of the registry has one, and it follows the stub/hint rule."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from grader.exercises import EXERCISES, PROJECT_ROOT
from grader.hints import STEPS, HintError, check_all, load_hints


def test_every_exercise_has_a_valid_hint_file() -> None:
    assert check_all() == []
    for exercise in EXERCISES:
        hints = load_hints(exercise.id)
        assert list(hints.functions) == list(exercise.functions)
        for function in exercise.functions:
            steps = hints.steps(function)
            assert len(steps) == len(STEPS) and all(len(s) > 20 for s in steps)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_hint_files_hold_no_reference_code() -> None:
    for exercise in EXERCISES:
        reference = PROJECT_ROOT / "solutions" / exercise.filename
        source = reference.read_text()
        text = _squash((PROJECT_ROOT / "exercises" / "hints" / f"{exercise.id}.yaml").read_text())
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                for statement in body:
                    code = _squash(ast.get_source_segment(source, statement) or "")
                    if len(code) > 30:
                        assert code not in text, (exercise.id, code[:60])


def test_stubs_no_longer_spell_out_what_they_ask_for() -> None:
    """Spot checks of the derivations that the stubs used to give away."""
    stubs = {e.id: (PROJECT_ROOT / "exercises" / e.filename).read_text() for e in EXERCISES}
    given_away = {
        "exercise-01": ["log|a|", "1 / |a|", "N(x; b, a^2)", "- (d / 2) * log(2 pi)"],
        "exercise-02": ["sum_i log|J_ii|", "= sum_i a_i", "exp(-a_i)"],
        "exercise-03": ["tanh(raw / bound)", "exp(-log_s)", "sum_i log_s_i", "(x_b - t)"],
        "exercise-04": ["sum_i log_abs_diag", "solve_triangular", "U^-1"],
        "exercise-05": ["REVERSE", "log-dets add", "sum_k"],
    }
    for exercise, phrases in given_away.items():
        for phrase in phrases:
            assert phrase not in stubs[exercise], (exercise, phrase)
    for exercise in EXERCISES:
        tree = ast.parse(stubs[exercise.id])
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert [f.name for f in functions] == list(exercise.functions)
        for function in functions:
            assert ast.get_docstring(function), function.name
            last = function.body[-1]
            assert isinstance(last, ast.Raise) and ast.unparse(last) == "raise NotImplementedError"


def _write(folder: Path, text: str) -> Path:
    (folder / "exercise-03.yaml").write_text(text, encoding="utf-8")
    return folder


STEP_TEXT = "nudge: n\n  idea: i\n  formula: f\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soft_clamp: [", "exercise-03.yaml:1: YAML syntax error"),
        ("- a\n- b\n", "expected one entry per function"),
        (f"soft_clamp:\n  {STEP_TEXT}nope:\n  {STEP_TEXT}", ":5: 'nope' is not a function"),
        (f"soft_clamp:\n  {STEP_TEXT}", "no hints for affine_coupling_forward"),
        ("soft_clamp:\n  idea: i\n  nudge: n\n  formula: f\n", "expected exactly nudge, idea"),
        ("soft_clamp:\n  nudge: n\n  idea: 3\n  formula: f\n", ":3: soft_clamp.idea must be"),
        ("soft_clamp: just text\n", ":1: soft_clamp needs the steps"),
    ],
)
def test_malformed_hint_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HintError) as caught:
        load_hints("exercise-03", _write(tmp_path, text))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_hint_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(HintError, match="no hints for exercise-03 yet"):
        load_hints("exercise-03", tmp_path)
