"""One short reason why a submission lost points, from its per-test outcomes.

Used by the batch progress line and by reports ("0/10 — syntax error, line 3").
Works on (status, message) pairs so that it reads an `ExerciseResult` and gradebook
rows alike; `message` is the student-facing feedback text (`checked: ...` lines).
"""

from __future__ import annotations

from collections.abc import Iterable

IMPORT_CHECK = "checked: importing your exercise file"


def _differs(message: str) -> str:
    for line in message.splitlines():
        if line.startswith("differs: "):
            return line.removeprefix("differs: ").strip()
    return message.strip().splitlines()[0] if message.strip() else ""


def reason(outcomes: Iterable[tuple[str, str]]) -> str:
    """`""` when everything passed, else the most telling reason in one line."""
    failed = [(status, message) for status, message in outcomes if status != "passed"]
    if not failed:
        return ""
    messages = [message for _, message in failed]
    for message in messages:
        if message.startswith(IMPORT_CHECK):
            return _differs(message)[:160]
    for message in messages:
        if "ran for more than" in message:
            return "timed out: " + _differs(message)[:140]
    for message in messages:
        if "process running your code ended" in message:
            return "crashed: " + _differs(message)[:140]
    for message in messages:
        if "not implemented yet" in message:
            return _differs(message)[:160]
    return f"{len(failed)} test(s) failed"
