"""Which quizzes go into a student kit, and in what form.

Practice quizzes (`mode: practice` in their YAML) ship as they are: students get
immediate feedback from them. Any other quiz (exam mode, or no mode given) must not ship
its answer key: when the quiz package provides `grader.quiz.strip_answers(path_in,
path_out)`, the kit gets the stripped copy; otherwise the quiz is left out of the kit.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

QUIZ_PATTERNS = ("*.yaml", "*.yml")


class QuizReleaseError(ValueError):
    """A quiz file cannot be read (one-line message)."""


def strip_function() -> Callable[[Path, Path], object] | None:
    """`grader.quiz.strip_answers` when the quiz package provides it."""
    try:
        from grader.quiz import strip_answers  # type: ignore[attr-defined]
    except ImportError:
        return None
    return strip_answers  # type: ignore[no-any-return]


def quiz_mode(path: Path) -> str:
    """The quiz's `mode` (`exam` when not given, the safe default)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise QuizReleaseError(f"{path}{where}: not valid YAML") from None
    mode = data.get("mode", "exam") if isinstance(data, dict) else "exam"
    return str(mode)


def release_quizzes(source: Path, target: Path) -> list[str]:
    """Copy or strip every quiz of `source` into `target`; returns one line per quiz."""
    if not source.is_dir():
        return []
    strip = strip_function()
    lines = []
    for path in sorted(p for pattern in QUIZ_PATTERNS for p in source.glob(pattern)):
        target.mkdir(parents=True, exist_ok=True)
        mode = quiz_mode(path)
        if mode == "practice":
            shutil.copy2(path, target / path.name)
            lines.append(f"quiz {path.name}: practice mode, shipped as is")
        elif strip is not None:
            strip(path, target / path.name)
            lines.append(f"quiz {path.name}: {mode} mode, answer key stripped")
        else:
            lines.append(
                f"quiz {path.name}: {mode} mode, LEFT OUT (grader.quiz.strip_answers unavailable)"
            )
    return lines
