"""Broken submissions get a clear one-line reason (file and line where there is one), a score
of 0 for what cannot run, and never a grader error or a traceback of the grader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile import FILE, REFERENCE, assert_score, messages, source, write_submission


def _reason(result) -> str:
    """The one-line note that says why the file could not be graded."""
    notes = [n for n in result.notes if n.startswith("your file could not be graded: ")]
    assert len(notes) == 1, result.notes
    reason = notes[0].removeprefix("your file could not be graded: ")
    assert "\n" not in reason and "Traceback" not in reason
    return reason


def test_syntax_error_names_file_and_line(grade) -> None:
    result = grade(REFERENCE + "\n\ndef broken(:\n    pass\n")
    assert_score(result, 0)
    line = REFERENCE.count("\n") + 3
    assert _reason(result) == f"{FILE}, line {line}: syntax error: invalid syntax"


def test_import_error_names_the_module_and_line(grade) -> None:
    result = grade(source("import flowgrade_no_such_module\n", stubs=True))
    assert_score(result, 0)
    reason = _reason(result)
    assert reason.startswith(f"{FILE}, line ")
    assert "ModuleNotFoundError: No module named 'flowgrade_no_such_module'" in reason


def test_missing_function(grade) -> None:
    cut = REFERENCE.index("def affine_coupling_inverse")
    result = grade(REFERENCE[:cut])
    # soft_clamp 1 + worked example 1 + forward 1 + log-det vs Jacobian 1 = 4 points
    assert_score(result, 4)
    assert "the submission has no function named affine_coupling_inverse" in messages(result)


def test_wrong_signature(grade) -> None:
    header = "def affine_coupling_forward(\n    z: Tensor, conditioner: Conditioner, clamp"
    assert header in REFERENCE
    result = grade(
        REFERENCE.replace(header, "def affine_coupling_forward(\n    *, z, conditioner, clamp")
    )
    # forward cannot be called with (z, conditioner): soft_clamp 1 + inverse-only check 1
    assert_score(result, 2)
    assert (
        "wrong signature: affine_coupling_forward(*, z, conditioner, clamp: 'float | None' = "
        "None) -> 'tuple[Tensor, Tensor]': too many positional arguments"
    ) in messages(result)


def test_non_utf8_file(grade) -> None:
    data = REFERENCE.encode().replace(b"Exercise 03", b"Exercise 03 \xff\xfe", 1)
    result = grade(data)
    assert_score(result, 0)
    byte = data.index(b"\xff")
    assert _reason(result) == (
        f"{FILE}, line 1: not valid UTF-8 text (byte {byte}); save the file as UTF-8"
    )


def test_missing_file(grade, tmp_path: Path) -> None:
    folder = tmp_path / "no_file"
    folder.mkdir()
    (folder / "notes.txt").write_text("I forgot the exercise")
    result = grade(folder)
    assert_score(result, 0)
    assert _reason(result) == f"{FILE} is missing from the submission"


def test_empty_folder(grade, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    result = grade(folder)
    assert_score(result, 0)
    assert _reason(result) == f"{FILE} is missing from the submission (the folder is empty)"


def test_missing_folder(grade, tmp_path: Path) -> None:
    result = grade(tmp_path / "nowhere")
    assert_score(result, 0)
    assert _reason(result) == f"submission folder {tmp_path / 'nowhere'} does not exist"


def test_oversized_file(grade, tmp_path: Path) -> None:
    folder = write_submission(tmp_path / "big", REFERENCE + "#" * (2 << 20))
    result = grade(folder)
    assert_score(result, 0)
    assert "the limit is 1048576 bytes" in _reason(result)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("raise RuntimeError('boom at import')\n", "RuntimeError: boom at import"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
        ("def f(n):\n    return f(n + 1)\nf(0)\n", "RecursionError: maximum recursion depth"),
    ],
    ids=["exception", "keyboard-interrupt", "recursion"],
)
def test_import_failures_are_one_line(grade, body: str, expected: str) -> None:
    result = grade(source(body, stubs=True))
    assert_score(result, 0)
    assert expected in _reason(result)
