"""Running `grade` under a real pseudo-terminal (pexpect), as a student's terminal would."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120  # generous: the machine may be busy with other test runs
COLUMNS = 80
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FOOTER = r"Ctrl-C\s+to\s+stop\."


def spawn(args: list[str], cwd: Path, root: Path = ROOT, **env: str) -> pexpect.spawn:
    """`python -m grader ARGS` in an 80 x 24 terminal; everything it prints is kept in
    `child.transcript` (a StringIO)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    environment.update({"PYTHONPATH": str(root), "FLOWGRADE_STUDENT": "ann", "TERM": "xterm"})
    environment.update(env)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "grader", *args],
        cwd=str(cwd),
        env=environment,
        dimensions=(24, COLUMNS),
        encoding="utf-8",
        codec_errors="replace",
        timeout=TIMEOUT_S,
    )
    child.transcript = io.StringIO()
    child.logfile_read = child.transcript
    return child


def finish(child: pexpect.spawn) -> tuple[int | None, str]:
    """Wait for the end; the exit status and everything printed."""
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.transcript.getvalue()


def screen_lines(text: str) -> list[str]:
    """The printed lines as they appear on the screen (control sequences removed)."""
    return CSI.sub("", text).replace("\r\n", "\n").split("\n")


def too_wide(text: str, width: int = COLUMNS) -> list[str]:
    return [line for line in screen_lines(text) if len(line) > width]
