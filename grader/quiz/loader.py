"""Finding and loading the question bank (`quizzes/*.yaml`).

The bank directory is, in order: an explicit path, $FLOWGRADE_QUIZZES, `./quizzes` when it
exists (a student kit), else the project's own `quizzes/`. A quiz's name is its file's stem.
Files are read with `yaml.safe_load` only; every problem becomes a one-line QuizFormatError.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from grader.quiz.errors import QuizFormatError, UnknownQuiz
from grader.quiz.model import Quiz
from grader.quiz.schema import parse_quiz

PROJECT_BANK = Path(__file__).resolve().parents[2] / "quizzes"
SUFFIXES = (".yaml", ".yml")


def bank_dir(explicit: Path | str | None = None) -> Path:
    """The directory holding the quiz files (see the module docstring for the order)."""
    if explicit is not None:
        return Path(explicit)
    if os.environ.get("FLOWGRADE_QUIZZES"):
        return Path(os.environ["FLOWGRADE_QUIZZES"])
    local = Path("quizzes")
    return local if local.is_dir() else PROJECT_BANK


def quiz_files(directory: Path) -> dict[str, Path]:
    """Quiz name -> file, sorted by name; files starting with '_' or '.' are ignored."""
    if not directory.is_dir():
        return {}
    files = sorted(
        (p for p in directory.iterdir() if p.suffix in SUFFIXES and p.name[0] not in "_."),
        key=lambda p: p.stem,
    )
    return {p.stem: p for p in files}


def load_quiz_file(path: Path | str) -> Quiz:
    """Load and validate one bank file."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise QuizFormatError(
            str(path), f"cannot read the file ({err.__class__.__name__})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise QuizFormatError(str(path), f"{line}YAML syntax error: {problem}") from None
    return replace(parse_quiz(data, str(path), path.stem), source=path)


def load_quiz(name: str, directory: Path | str | None = None) -> Quiz:
    """The quiz called `name` in the bank (a path to a .yaml file also works)."""
    candidate = Path(name)
    if candidate.suffix in SUFFIXES and candidate.is_file():
        return load_quiz_file(candidate)
    files = quiz_files(bank_dir(directory))
    if name not in files:
        raise UnknownQuiz(name, list(files))
    return load_quiz_file(files[name])


def load_bank(directory: Path | str | None = None) -> tuple[list[Quiz], list[QuizFormatError]]:
    """Every quiz of the bank, and the errors of the files that failed to load."""
    quizzes, errors = [], []
    for path in quiz_files(bank_dir(directory)).values():
        try:
            quizzes.append(load_quiz_file(path))
        except QuizFormatError as err:
            errors.append(err)
    return quizzes, errors
