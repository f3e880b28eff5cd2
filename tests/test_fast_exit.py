"""`grade` leaves quickly after its work, with its exit status and all its output."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.fast_exit import exit_code

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), ("a message", 1)])
def test_exit_codes_follow_sys_exit(code: object, status: int) -> None:
    assert exit_code(code) == status


def test_piped_output_is_complete_and_atexit_handlers_run(tmp_path: Path) -> None:
    marker = tmp_path / "atexit-ran"
    script = textwrap.dedent(
        f"""
        import atexit, pathlib, torch
        from grader.fast_exit import exit_now
        atexit.register(pathlib.Path({str(marker)!r}).write_text, "yes")
        print("x" * 200_000)
        exit_now(3)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3
    assert done.stdout == "x" * 200_000 + "\n"
    assert marker.read_text() == "yes"
