"""A generated class of students for end-to-end tests of `grade batch` and reports.

Every submission is derived from the exercise-03 reference by a small, deliberate edit,
so that each kind of student has a known grading outcome.
"""

from __future__ import annotations

from pathlib import Path

from grader.exercises import PROJECT_ROOT, get_exercise

EXERCISE = get_exercise("exercise-03")
REFERENCE = (PROJECT_ROOT / "solutions" / EXERCISE.filename).read_text(encoding="utf-8")
STUB = (PROJECT_ROOT / "exercises" / EXERCISE.filename).read_text(encoding="utf-8")

INVERSE_RETURN = "return torch.cat([x_a, z_b], dim=-1), -log_scale.sum(dim=-1)"
SOFT_CLAMP_RETURN = "return bound * torch.tanh(raw / bound)"
FORWARD_SPLIT = "    z_a, z_b = _split(z)\n"


def _edit(old: str, new: str) -> str:
    assert old in REFERENCE, old
    return REFERENCE.replace(old, new)


SOURCES: dict[str, str | None] = {
    "correct": REFERENCE,
    # the inverse's log-det has the wrong sign: round trip and inverse tests fail
    "wrong_sign": _edit(INVERSE_RETURN, "return torch.cat([x_a, z_b], dim=-1), log_scale.sum(-1)"),
    # a hard clamp: only the soft_clamp and clamped tests fail
    "hard_clamp": _edit(SOFT_CLAMP_RETURN, "return raw.clamp(-bound, bound)"),
    "empty": None,
    "stub": STUB,
    "syntax_error": REFERENCE + "\ndef broken(:\n    pass\n",
    "import_error": _edit(
        "from __future__ import annotations\n",
        "from __future__ import annotations\nimport numpy_that_does_not_exist\n",
    ),
    # the forward pass kills its own process
    "crashing": _edit(FORWARD_SPLIT, "    import os\n    os._exit(3)\n" + FORWARD_SPLIT),
    # soft_clamp never returns
    "hanging": _edit(SOFT_CLAMP_RETURN, "while True:\n        pass"),
}

CLASS_KINDS: list[str] = (
    ["correct"] * 6
    + ["wrong_sign"] * 2
    + ["hard_clamp"] * 2
    + ["empty"] * 2
    + ["stub"] * 2
    + ["syntax_error"] * 2
    + ["import_error"]
    + ["crashing"] * 2
    + ["hanging"]
)


def write_student(root: Path, student: str, kind: str) -> Path:
    """Create `root/student/` holding the submission of this kind; returns the folder."""
    folder = root / student
    folder.mkdir(parents=True, exist_ok=True)
    source = SOURCES[kind]
    if source is not None:
        (folder / EXERCISE.filename).write_text(source, encoding="utf-8")
    return folder


def make_class(root: Path, kinds: list[str] | None = None) -> dict[str, str]:
    """Write one folder per student; returns student id -> kind."""
    roster = {}
    for index, kind in enumerate(kinds or CLASS_KINDS, start=1):
        student = f"s{index:02d}_{kind}"
        write_student(root, student, kind)
        roster[student] = kind
    return roster


def attempt_data(questions: list[dict]) -> dict:
    """QuizAttemptRecord.data in grader.quiz.take's layout, from rows of
    {id, chosen, score, max_score}."""
    return {
        "questions": [{"id": q["id"], "order": []} for q in questions],
        "answers": {q["id"]: {"chosen": q["chosen"]} for q in questions},
        "marks": {q["id"]: {"score": q["score"], "points": q["max_score"]} for q in questions},
    }
