"""Progressive hints: one YAML file per exercise, `exercises/hints/exercise-NN.yaml`.

    hints = load_hints("exercise-03")
    hints.steps("soft_clamp")   # ("nudge text", "idea text", "formula text")

The rule every hint file follows (agreed for this wave, see the project's stub rule):
top-level keys are exactly the exercise's function names from `grader.exercises`, and
each maps to exactly three steps in this order: `nudge` (a question that makes the
student think), `idea` (the key idea of the derivation) and `formula` (the formula or
algorithm). `grade hint` shows one more step per call.

The loader walks YAML nodes (`yaml.compose` with the safe loader, never constructing
arbitrary objects) so every problem is one line naming the file and the line.
The hint files live beside the stubs and ship in the student kit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.exercises import EXERCISES, PROJECT_ROOT, get_exercise

HINTS_DIR = PROJECT_ROOT / "exercises" / "hints"
STEPS: tuple[str, ...] = ("nudge", "idea", "formula")
STEP_TITLES = {"nudge": "a nudge", "idea": "the key idea", "formula": "the formula"}


class HintError(ValueError):
    """A hint file is missing or malformed (one line naming the file and the line)."""


@dataclass(frozen=True)
class ExerciseHints:
    """The hints of one exercise: function name -> its steps, in the registry's order."""

    exercise: str
    path: Path
    functions: dict[str, tuple[str, ...]]

    def steps(self, function: str) -> tuple[str, ...]:
        return self.functions[function]


def hint_path(exercise_id: str, directory: Path | None = None) -> Path:
    return (directory or HINTS_DIR) / f"{get_exercise(exercise_id).id}.yaml"


def load_hints(exercise_id: str, directory: Path | None = None) -> ExerciseHints:
    """Read and check the hint file of `exercise_id` against the registry."""
    import yaml

    exercise = get_exercise(exercise_id)
    path = hint_path(exercise.id, directory)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HintError(f"{path}: no hints for {exercise.id} yet") from None
    except (OSError, UnicodeDecodeError) as err:
        raise HintError(f"{path}: cannot read the file ({err.__class__.__name__})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise HintError(f"{path}{where}: YAML syntax error: {problem}") from None
    if not isinstance(root, yaml.MappingNode):
        raise HintError(f"{path}: expected one entry per function of {exercise.id}")
    found: dict[str, tuple[str, ...]] = {}
    for key, value in root.value:
        name = str(key.value)
        line = f"{path}:{key.start_mark.line + 1}"
        if name not in exercise.functions:
            raise HintError(
                f"{line}: {name!r} is not a function of {exercise.id}; "
                f"its functions: {', '.join(exercise.functions)}"
            )
        if name in found:
            raise HintError(f"{line}: {name!r} appears twice")
        found[name] = _steps(value, name, path)
    missing = [f for f in exercise.functions if f not in found]
    if missing:
        raise HintError(f"{path}: no hints for {', '.join(missing)} (each function needs three)")
    return ExerciseHints(exercise.id, path, {f: found[f] for f in exercise.functions})


def _steps(node: object, function: str, path: Path) -> tuple[str, ...]:
    import yaml

    line = f"{path}:{node.start_mark.line + 1}"  # type: ignore[attr-defined]
    if not isinstance(node, yaml.MappingNode):
        raise HintError(f"{line}: {function} needs the steps {', '.join(STEPS)}")
    names = [str(k.value) for k, _ in node.value]
    if names != list(STEPS):
        raise HintError(
            f"{line}: {function} has steps {', '.join(names) or 'none'}; "
            f"expected exactly {', '.join(STEPS)}, in this order"
        )
    texts = []
    for key, value in node.value:
        plain = isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:str"
        text = value.value if plain else None
        if not isinstance(text, str) or not text.strip():
            raise HintError(
                f"{path}:{key.start_mark.line + 1}: {function}.{key.value} must be plain text"
            )
        texts.append(" ".join(text.split()))
    return tuple(texts)


def check_all(directory: Path | None = None) -> list[str]:
    """One line per problem over every exercise of the registry (empty: all hint files good)."""
    problems = []
    for exercise in EXERCISES:
        try:
            load_hints(exercise.id, directory)
        except HintError as err:
            problems.append(str(err))
    return problems
