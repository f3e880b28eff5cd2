"""Attempt files: one quiz attempt as JSON, for handing in outside the gradebook.

    write_attempt_file(record, path)
    load_attempt_file(path) -> QuizAttemptRecord      (AttemptFileError names the file)

The file holds every field of the gradebook's QuizAttemptRecord (without its row id)
under a format tag and version, so the instructor can validate and import it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.gradebook import QuizAttemptRecord
from grader.quiz.errors import AttemptFileError

FORMAT = "flowgrade-quiz-attempt"
VERSION = 1
STATES = ("in-progress", "finished", "submitted", "abandoned")
_FIELDS: dict[str, tuple[type, ...]] = {
    "student": (str,),
    "quiz": (str,),
    "attempt": (int,),
    "seed": (int,),
    "mode": (str,),
    "state": (str,),
    "started_at": (str,),
    "finished_at": (str, type(None)),
    "score": (int, float, type(None)),
    "max_score": (int, float, type(None)),
    "data": (dict,),
}


def attempt_to_json(record: QuizAttemptRecord) -> str:
    payload: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    payload.update({name: getattr(record, name) for name in _FIELDS})
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def write_attempt_file(record: QuizAttemptRecord, path: Path | str) -> Path:
    """Write the attempt as JSON (atomically: a temporary file is renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(attempt_to_json(record), encoding="utf-8")
    temporary.replace(path)
    return path


def load_attempt_file(path: Path | str) -> QuizAttemptRecord:
    """Read and validate an attempt file; any problem is one AttemptFileError naming the file."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AttemptFileError(str(path), "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise AttemptFileError(str(path), f"cannot read the file ({type(err).__name__})") from None
    except json.JSONDecodeError as err:
        raise AttemptFileError(
            str(path), f"line {err.lineno}: not valid JSON ({err.msg})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AttemptFileError(str(path), f"not a quiz attempt file (format must be {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise AttemptFileError(str(path), f"unsupported version {payload.get('version')!r}")
    values: dict[str, Any] = {}
    for name, types in _FIELDS.items():
        value = payload.get(name)
        if name not in payload or not isinstance(value, types) or isinstance(value, bool):
            raise AttemptFileError(str(path), f"field {name!r} is missing or has the wrong type")
        values[name] = value
    if values["state"] not in STATES:
        raise AttemptFileError(str(path), f"state must be one of {', '.join(STATES)}")
    _check_data(path, values["data"])
    return QuizAttemptRecord(**values)


def _check_data(path: Path, data: dict[str, Any]) -> None:
    questions = data.get("questions")
    if not isinstance(questions, list) or not all(
        isinstance(q, dict) and isinstance(q.get("id"), str) for q in questions
    ):
        raise AttemptFileError(str(path), "data.questions must be a list of {id, order, params}")
    answers = data.get("answers", {})
    if not isinstance(answers, dict) or not all(isinstance(a, dict) for a in answers.values()):
        raise AttemptFileError(str(path), "data.answers must map question ids to answers")
    known = {q["id"] for q in questions}
    stray = sorted(set(answers) - known)
    if stray:
        raise AttemptFileError(str(path), f"answer for unknown question {stray[0]!r}")
    for question_id, answer in answers.items():
        chosen = answer.get("chosen")
        if chosen is not None and not (
            isinstance(chosen, list) and all(isinstance(c, str) for c in chosen)
        ):
            raise AttemptFileError(
                str(path), f"answer {question_id}: 'chosen' must list option ids"
            )
