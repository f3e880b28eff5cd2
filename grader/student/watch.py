"""What `grade watch [exercise-NN]` does: re-grade on every save, move on at full marks.

    code = watch_exercises("exercise-03", Path("exercises"), gradebook=..., student="ann")

The loop (as rustlings' watch mode): grade the current exercise, clear the screen, show
its result and a one-line progress bar over the unit, then wait for the exercise file to
be saved again (`watchfiles`, which uses the operating system's file events: inotify on
Linux, FSEvents on macOS) and grade again. At full marks it says so, points to the quiz
on the same topic and moves on to the next unfinished exercise; after the last one it
ends. A syntax error or a half-written file is just another result ("your file could
not be graded: ..."), shown until the next save. Ctrl-C ends it with exit status 0.

Speed: this process imports torch and the hidden tests once, and its fork server
(`shared_zygote`) stays up between re-grades, so a re-grade costs one worker fork plus
the tests themselves (see README, "Watch mode", for the measured latency). The folder is
watched, not the file: editors that save by writing a new file and renaming it over the
old one would otherwise end the watch on the first save.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click

from grader.exercises import EXERCISES, Exercise, get_exercise
from grader.gradebook import Gradebook, GradebookError
from grader.results import ExerciseResult
from grader.student.progress import UnitProgress, load_progress

STEP_MS = 50  # how long the folder must be quiet before a save counts (editors write in bursts)
IDLE_MS = 500  # the watcher wakes this often without changes (cheap; lets it start early)


def watch_exercises(
    start: str | None,
    submission: Path,
    *,
    device: str = "auto",
    timeout: float | None = None,
    course: Path | None = None,
    gradebook: str | Path | None = None,
    student: str = "student",
    save: bool = True,
) -> int:
    """Run the watch loop until the unit is done (0) or Ctrl-C (0). Progress is read from
    `gradebook`; results are written to it unless `save` is False."""
    from grader.student.run import course_settings

    settings = course_settings(course)
    progress = load_progress(gradebook, student)
    exercise = get_exercise(start) if start else progress.next_unfinished()
    if exercise is None:
        click.echo(f"{progress.bar()}\nEvery exercise is done: nothing to watch.")
        return 0
    if not submission.is_dir():
        raise click.UsageError(f"submission folder {str(submission)!r} does not exist")
    loop = _Loop(submission, device, timeout, settings, gradebook, student, progress)
    loop.save = save
    try:
        loop.start()
        return loop.run(exercise)
    except KeyboardInterrupt:
        click.echo("\nStopped watching. Your last result is saved; `grade list` shows them all.")
        return 0


class _Loop:
    """The state of one watch session: the fork server, the file events, the progress."""

    def __init__(
        self,
        submission: Path,
        device: str,
        timeout: float | None,
        settings: object,
        gradebook: str | Path | None,
        student: str,
        progress: UnitProgress,
    ) -> None:
        self.submission = submission
        self.device = device
        self.timeout = timeout
        self.settings = settings
        self.gradebook = gradebook
        self.student = student
        self.progress = progress
        self.save = True
        self.events: Iterator[set[tuple[object, str]]] | None = None
        self.primer: threading.Thread | None = None
        self.pending: set[tuple[object, str]] = set()

    def start(self) -> None:
        """Start the fork server and the file watcher before the first grade, so a save
        made while grading is not missed."""
        import watchfiles

        from grader.runner.sandbox import SandboxUnavailable
        from grader.runner.zygote import shared_zygote

        try:
            self.zygote = shared_zygote(self.settings.sandbox_mode)  # type: ignore[attr-defined]
        except SandboxUnavailable as err:
            raise click.UsageError(str(err)) from None
        names = {e.filename for e in EXERCISES}
        self.events = watchfiles.watch(
            self.submission,
            watch_filter=lambda _change, path: Path(path).name in names,
            step=STEP_MS,
            rust_timeout=IDLE_MS,
            yield_on_timeout=True,
            recursive=False,
        )
        # The generator creates its watcher on the first `next`: do that now, beside the
        # first grade, so that a save made while it grades is seen.
        self.primer = threading.Thread(target=self._prime, daemon=True)
        self.primer.start()

    def _prime(self) -> None:
        assert self.events is not None
        self.pending = next(self.events, set())

    def run(self, exercise: Exercise) -> int:
        banner = ""
        while True:
            result, seconds = self.grade(exercise)
            if result is not None and result.full_marks:
                following = self.progress.next_unfinished(exercise.id)
                if following is None:
                    self.show(exercise, result, seconds, banner, final=True)
                    return 0
                banner = self.done_text(result)
                exercise = following
                continue
            self.show(exercise, result, seconds, banner)
            banner = ""
            self.wait_for_save(exercise)

    def grade(self, exercise: Exercise) -> tuple[ExerciseResult | None, float]:
        """Grade and record `exercise` (None when its file does not exist)."""
        from grader.grading import DeviceUnavailable, grade_exercise

        if not (self.submission / exercise.filename).is_file():
            return None, 0.0
        started = time.perf_counter()
        try:
            result = grade_exercise(
                exercise.id,
                self.submission,
                device=self.device,
                zygote=self.zygote,
                call_timeout=self.timeout,
                limits=self.settings.limits,  # type: ignore[attr-defined]
            )
        except DeviceUnavailable as err:
            raise click.UsageError(str(err)) from None
        seconds = time.perf_counter() - started
        self.progress = self.progress.with_score(exercise.id, result.score, result.max_score)
        if self.gradebook is not None and self.save:
            try:
                with Gradebook.open(self.gradebook) as book:
                    book.record_exercise(self.student, result)
            except (GradebookError, OSError) as err:
                click.echo(f"warning: result not saved: {err}", err=True)
        return result, seconds

    def done_text(self, result: ExerciseResult) -> str:
        from grader.student.run import render_next

        return render_next(
            result, self.gradebook, self.student, watching=True, progress=self.progress
        )

    def show(
        self,
        exercise: Exercise,
        result: ExerciseResult | None,
        seconds: float,
        banner: str,
        *,
        final: bool = False,
    ) -> None:
        from grader.render import render_exercise, render_terminal, terminal_width, use_colour
        from grader.render.fit import fit_to_width

        width = terminal_width()
        shown = self.submission / exercise.filename
        click.clear()
        if result is None:
            missing = f"{shown} does not exist yet: create it (a copy of the stub) and save.\n"
            click.echo(fit_to_width(missing, width))
        else:
            text = render_exercise(
                result, "terminal", colour=use_colour(), submission=str(shown), width=width
            )
            click.echo(text)
        if final:
            click.echo(self.done_text(result), nl=False)  # type: ignore[arg-type]
            return
        if banner:  # below the result, so that a long result does not scroll it away
            click.echo(banner)
        click.echo(
            render_terminal(
                "watch.txt.j2",
                colour=use_colour(),
                width=width,
                progress=self.progress,
                exercise=exercise,
                file=str(shown),
                seconds=seconds,
                when=datetime.now().strftime("%H:%M:%S"),
                graded=result is not None,
            ),
            nl=False,
        )

    def wait_for_save(self, exercise: Exercise) -> None:
        """Block until `exercise`'s file is written (or created, or replaced)."""
        assert self.events is not None
        if self.primer is not None:
            self.primer.join()
            self.primer, changes = None, self.pending
            if self._touches(changes, exercise):
                return
        for changes in self.events:  # an empty set every IDLE_MS without changes
            if self._touches(changes, exercise):
                return
        raise KeyboardInterrupt  # the watcher stopped (it does so on Ctrl-C)

    @staticmethod
    def _touches(changes: set[tuple[object, str]], exercise: Exercise) -> bool:
        return any(Path(path).name == exercise.filename for _, path in changes)
