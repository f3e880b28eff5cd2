"""Fitting terminal text to the terminal's width, so the terminal never breaks a line.

A line wider than the terminal is wrapped at spaces by the terminal itself, anywhere,
with the continuation at column 0: `checked:` blocks and test descriptions lose their
alignment. `fit_to_width` wraps each such line at word boundaries and indents the
continuation under the line's text, measuring width without ANSI colour codes (a colour
carries over a line break, and a space keeps no visible colour). Only for terminals:
piped output keeps one line per message, which is easier to search.
"""

from __future__ import annotations

import re
import shutil
import sys
from typing import TextIO

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Where a continuation line starts: under the text after a check mark and its points,
# after a `label:` such as `checked:` or `hint:`, or after a numbered step.
HANGING = re.compile(r"^\s*(?:[✓✗!]\s+\S+/\S+\s+|(?:[a-z]+:|\d+\.\s+[a-z]+:)\s+|)")
MIN_TEXT = 24  # never squeeze the text column below this many characters


def terminal_width(stream: TextIO = sys.stdout) -> int | None:
    """The width of the terminal `stream` writes to; None when it is not a terminal."""
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size((80, 24)).columns


def visible_len(text: str) -> int:
    return len(ANSI.sub("", text))


def fit_to_width(text: str, width: int | None) -> str:
    """`text` with every line wider than `width` wrapped (unchanged when width is None)."""
    if width is None:
        return text
    lines = []
    for line in text.split("\n"):
        lines.extend(_fit_line(line, width) if visible_len(line) > width else [line])
    return "\n".join(lines)


def _fit_line(line: str, width: int) -> list[str]:
    plain = ANSI.sub("", line)
    hang = len(HANGING.match(plain).group(0))  # type: ignore[union-attr]
    if width - hang < MIN_TEXT:
        hang = len(plain) - len(plain.lstrip(" "))
    if width - hang < MIN_TEXT:
        hang = 0
    lead = len(line) - len(line.lstrip(" "))
    out: list[str] = []
    current, used = " " * lead, lead
    for word in _pieces(line[lead:].split(" "), width - hang):
        size = visible_len(word)
        if current.strip() and used + 1 + size > width:
            out.append(current.rstrip(" "))
            current, used = " " * hang + word, hang + size
        elif current.strip():
            current, used = f"{current} {word}", used + 1 + size
        else:
            current, used = current + word, used + size
    out.append(current.rstrip(" "))
    return out


def _pieces(words: list[str], room: int) -> list[str]:
    """The words, each one longer than `room` cut into pieces that fit (a long path)."""
    pieces = []
    for word in words:
        while visible_len(word) > room and not ANSI.search(word):
            pieces.append(word[:room])
            word = word[room:]
        pieces.append(word)
    return pieces
