"""Progress of a batch run on stderr: a redrawn bar on a terminal, plain lines otherwise.

    [##########..........]  20/40  50%  elapsed 0:12  ETA 0:12  alice exercise-03 10/10

ETA = elapsed / done * remaining, which is honest for a queue of similar tasks served by
a fixed pool of workers. Without a terminal (CI logs, files) a line is written at most
every `interval_s` seconds and always for the last item, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 24


def clock(seconds: float) -> str:
    """`1:05`, `1:02:03`."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts finished tasks out of `total` and reports them on `stream`."""

    def __init__(
        self, total: int, stream: TextIO | None = None, *, interval_s: float = 2.0
    ) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s
        self.started = time.monotonic()
        self._last_line = 0.0

    def line(self, last: str = "") -> str:
        """The progress line for the current state."""
        elapsed = time.monotonic() - self.started
        fraction = self.done / self.total if self.total else 1.0
        filled = int(BAR_WIDTH * fraction)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        eta = clock(elapsed / self.done * (self.total - self.done)) if self.done else "--:--"
        width = len(str(self.total))
        text = (
            f"[{bar}] {self.done:>{width}}/{self.total} {fraction:4.0%}  "
            f"elapsed {clock(elapsed)}  ETA {eta}"
        )
        return f"{text}  {last}" if last else text

    def advance(self, last: str = "") -> None:
        """One more task finished; `last` says which and how it went."""
        self.done += 1
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\033[K" + self.line(last)[:200])
            self.stream.flush()
        elif self.done == self.total or now - self._last_line >= self.interval_s:
            self.stream.write(self.line(last) + "\n")
            self.stream.flush()
            self._last_line = now

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own (e.g. a warning), without breaking the bar."""
        prefix = "\r\033[K" if self.tty else ""
        self.stream.write(prefix + text + "\n")
        if self.tty and self.done:
            self.stream.write(self.line())
        self.stream.flush()
