"""Reading a submitted exercise file safely, in the trusted process.

The worker never opens the submission folder: the grader reads the one file it grades and
sends its text over the socket. Here it refuses, with a one-line reason a student can act
on: a missing file or folder, an empty folder, a symlink or hard link (it could point at
the reference or at another student's work), something that is not a regular file, an
oversized file, and text that is not UTF-8.

`SubmittedFile` is what a grading process receives: the file's bytes (or that one-line
reason) and its content hash, read once where the submissions are. It is plain data, so
a batch can send it to a grading process on another machine (no shared filesystem).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

HASHED_BYTES_MAX = 16 << 20  # a content hash never reads more than this


class BadSubmission(ValueError):
    """The submitted file cannot be graded; the message says why, in one line."""


@dataclass(frozen=True)
class SubmittedFile:
    """One exercise file as handed in: its bytes, or why it cannot be graded.

    `name` is the file's name (shown in messages), `content_hash` is `submission_hash` of
    the file as it was read (what a batch compares on a rerun)."""

    name: str
    content_hash: str
    data: bytes | None = None
    problem: str | None = None

    @classmethod
    def read(cls, path: Path, max_bytes: int) -> SubmittedFile:
        """Read `path` once (never following links, at most `max_bytes`)."""
        path = Path(path)
        content_hash = submission_hash(path)
        try:
            return cls(path.name, content_hash, data=read_submission(path, max_bytes))
        except BadSubmission as err:
            return cls(path.name, content_hash, problem=str(err))

    def source(self) -> bytes:
        """The file's bytes, or `BadSubmission` with the reason they are not there."""
        if self.data is None:
            raise BadSubmission(self.problem or f"{shown(Path(self.name))} could not be read")
        return self.data


def submission_hash(path: Path) -> str:
    """Content hash of a submitted exercise file (`missing` when it does not exist).

    Never follows a symlink and never reads more than `HASHED_BYTES_MAX`, whatever the
    submission holds (a link to a device or to a huge file must not stall the grader).
    """
    try:
        info = os.lstat(path)
    except OSError:
        return "missing"
    if not stat.S_ISREG(info.st_mode):
        return "not-a-file"
    if info.st_size > HASHED_BYTES_MAX:
        return "oversized"
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return "unreadable"


def shown(path: Path) -> str:
    """A path as it may appear in a message: control characters escaped."""
    text = str(path)
    return text if text.isprintable() else ascii(text)[1:-1]


def read_submission(path: Path, max_bytes: int) -> bytes:
    """The bytes of `path` (UTF-8 checked), or `BadSubmission` with the reason."""
    folder = path.parent
    if not folder.is_dir():
        raise BadSubmission(f"submission folder {shown(folder)} does not exist")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        empty = not any(folder.iterdir())
        where = " (the folder is empty)" if empty else ""
        raise BadSubmission(
            f"{shown(Path(path.name))} is missing from the submission{where}"
        ) from None
    except OSError as err:
        raise BadSubmission(f"{shown(path)} cannot be read: {err.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise BadSubmission(
            f"{shown(Path(path.name))} is a symbolic link; submit the file itself, not a link"
        )
    if not stat.S_ISREG(info.st_mode):
        raise BadSubmission(f"{shown(Path(path.name))} is not a regular file")
    if info.st_nlink > 1:
        raise BadSubmission(
            f"{shown(Path(path.name))} is a hard link to another file; submit a plain copy"
        )
    if info.st_size > max_bytes:
        raise BadSubmission(
            f"{shown(Path(path.name))} is {info.st_size} bytes; the limit is {max_bytes} bytes"
        )
    data = _read_no_follow(path, max_bytes)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise BadSubmission(
            f"{shown(Path(path.name))}, line {line}: not valid UTF-8 text (byte {err.start}); "
            "save the file as UTF-8"
        ) from None
    return data


def _read_no_follow(path: Path, max_bytes: int) -> bytes:
    """Open without following a symlink swapped in after the check (where the OS allows)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise BadSubmission(f"{shown(Path(path.name))} cannot be read: {err.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadSubmission(f"{shown(Path(path.name))} is not a regular file")
        chunks = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise BadSubmission(f"{shown(Path(path.name))} is larger than {max_bytes} bytes")
    return data
