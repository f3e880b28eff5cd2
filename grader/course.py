"""The course configuration (`course.toml`): due dates, extensions, the late-penalty rule,
and how student code is confined when the course is graded (limits, sandbox mode).

Read from `course.toml` in the course folder (the current directory unless a path is
given) with the standard library's `tomllib`. Every section is optional:

    [course]
    name = "Normalizing flows, spring term"
    timezone = "Europe/Berlin"          # for due dates written without a UTC offset

    [due]                               # item id -> due date (exercises and quizzes)
    exercise-03 = "2025-03-14 23:59"
    quiz-01 = 2025-03-10T12:00:00Z      # a TOML date-time works too

    [late]
    grace_minutes = 15                  # this late counts as on time
    per_day_percent = 10                # % of the earned score lost per started day late
    max_percent = 50                    # the penalty never exceeds this %
    zero_after_days = 7                 # later than this: the item scores 0

    [extensions.alice]                  # per-student due dates that replace [due]
    exercise-03 = "2025-03-16 23:59"

    [canvas]
    roster = "roster.csv"               # optional, relative to course.toml
    [canvas.assignments]                # item id -> Canvas assignment id
    exercise-03 = 12345

    [limits]                            # what one submission may use (`grade batch`)
    call_seconds = 20                   # wall time of one call into student code
    submission_seconds = 120            # wall time of all calls of one exercise together
    address_space_gib = 6               # memory (sizes: *_gib, *_mib; output_bytes)

    [sandbox]
    mode = "auto"                       # auto | bwrap | unshare | basic

    [hints]
    points_per_hint = 0.5               # taken off an exercise per hint step shown (default 0)

    [solutions]
    reveal_after_pass = ["exercise-01", "exercise-03"]   # or true (every exercise); default none

`[limits]` takes the names of `grader.runner.limits.Limits` as a course config spells
them (`call_seconds`, `submission_seconds`, `import_seconds`, `cpu_seconds`,
`address_space_gib`, `processes`, `file_mib`, `output_bytes`, `open_files`, `tmp_mib`,
`source_mib`, `reply_mib`, `threads`); every limit not named keeps its default (see
SECURITY.md). `grade batch --timeout S` overrides `call_seconds` for one run.
`[sandbox] mode`: `auto` picks the strongest layer this machine offers (bubblewrap, else
per-worker namespaces as root, else the process split alone); `bwrap` and `unshare`
(per-worker namespaces without bubblewrap) insist and stop the batch with one line when
the machine cannot provide them; `basic` is the process split and rlimits only. Without
the key, `$FLOWGRADE_SANDBOX` decides, else `auto`.

`[hints] points_per_hint`: every hint step a student was shown (`grade hint`, recorded in
the gradebook) costs that many points of its exercise, applied at report time after the
late penalty and never taking an exercise below 0. `[solutions] reveal_after_pass`: the
exercises whose reference solution `grade reveal` shows a student who has full marks on
it (in a student kit only when the kit was built with `grade release --reveal-after-due`,
see SECURITY.md); without the key, no reference is ever shown.

Penalties are applied when a report is made, never stored: changing the rule and
re-running `grade report` is enough. An item's penalty for a submission made
`late` seconds after its due date is, with d = ceil(late / 1 day):
    0                                          if late <= grace
    100 %                                      if late > zero_after_days
    min(max_percent, per_day_percent * d) %    otherwise
of the score the submission earned.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from grader.runner.limits import Limits, LimitsError
from grader.runner.sandbox import MODES

COURSE_FILE = "course.toml"
DAY_S = 86_400.0
_LATE_KEYS = ("grace_minutes", "per_day_percent", "max_percent", "zero_after_days")
_SECTIONS = (
    "course", "due", "late", "extensions", "canvas", "limits", "sandbox", "hints", "solutions",
)  # fmt: skip
_SANDBOX_KEYS = ("mode",)


class CourseError(ValueError):
    """course.toml is malformed (one-line message naming the file and the key)."""


@dataclass(frozen=True)
class LateRule:
    """How much of an earned score a late submission keeps (see the module docstring)."""

    grace_minutes: float = 0.0
    per_day_percent: float = 0.0
    max_percent: float = 100.0
    zero_after_days: float | None = None

    def penalty_fraction(self, seconds_late: float) -> float:
        """The fraction (0..1) of the earned score that is removed."""
        if seconds_late <= self.grace_minutes * 60:
            return 0.0
        if self.zero_after_days is not None and seconds_late > self.zero_after_days * DAY_S:
            return 1.0
        days = math.ceil(seconds_late / DAY_S)
        return min(self.max_percent, self.per_day_percent * days, 100.0) / 100.0


@dataclass(frozen=True)
class Lateness:
    """How late one item was and what that costs."""

    seconds_late: float
    fraction: float

    @property
    def days_late(self) -> float:
        return max(0.0, self.seconds_late) / DAY_S


ON_TIME = Lateness(0.0, 0.0)


@dataclass(frozen=True)
class Course:
    """Everything `course.toml` says; the defaults mean no due dates and no penalties."""

    name: str = "course"
    timezone: tzinfo = UTC
    due: dict[str, datetime] = field(default_factory=dict)
    extensions: dict[str, dict[str, datetime]] = field(default_factory=dict)
    late: LateRule = LateRule()
    canvas_assignments: dict[str, str] = field(default_factory=dict)
    roster: Path | None = None
    limits: Limits = field(default_factory=Limits)
    sandbox_mode: str | None = None  # None: $FLOWGRADE_SANDBOX, else auto
    points_per_hint: float = 0.0
    reveal_after_pass: tuple[str, ...] = ()
    path: Path | None = None  # the course.toml read (None: defaults, no file)

    def due_for(self, student: str, item: str) -> datetime | None:
        return self.extensions.get(student, {}).get(item) or self.due.get(item)

    def lateness(self, student: str, item: str, submitted_at: str | None) -> Lateness:
        """Lateness of `student`'s `item` handed in at `submitted_at` (ISO 8601)."""
        due = self.due_for(student, item)
        if due is None or not submitted_at:
            return ON_TIME
        when = datetime.fromisoformat(submitted_at)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        late = (when - due).total_seconds()
        return Lateness(late, self.late.penalty_fraction(late)) if late > 0 else ON_TIME


def load_course(path: Path | None = None) -> Course:
    """Read `path` (a course.toml, or a folder holding one); defaults when there is none."""
    explicit = path is not None
    path = Path.cwd() / COURSE_FILE if path is None else Path(path)
    if path.is_dir():
        path = path / COURSE_FILE
    if not path.exists():
        if explicit:
            raise CourseError(f"{path}: no such course file")
        return Course()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise CourseError(f"{path}: not valid TOML ({err})") from None
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise CourseError(
            f"{path}: unknown section [{unknown[0]}]; valid sections: {', '.join(_SECTIONS)}"
        )
    return _course(path, data)


def _course(path: Path, data: dict[str, Any]) -> Course:
    info = _table(path, data, "course")
    zone = _zone(path, info.get("timezone", "UTC"))
    extensions = {
        str(student): _dates(path, f"extensions.{student}", dates, zone)
        for student, dates in _table(path, data, "extensions").items()
    }
    canvas = _table(path, data, "canvas")
    roster = canvas.get("roster")
    return Course(
        name=str(info.get("name", "course")),
        timezone=zone,
        due=_dates(path, "due", _table(path, data, "due"), zone),
        extensions=extensions,
        late=_late(path, _table(path, data, "late")),
        canvas_assignments={str(k): str(v) for k, v in _table(path, canvas, "assignments").items()},
        roster=(path.parent / str(roster)) if roster else None,
        limits=_limits(path, _table(path, data, "limits")),
        sandbox_mode=_sandbox_mode(path, _table(path, data, "sandbox")),
        points_per_hint=_hint_cost(path, _table(path, data, "hints")),
        reveal_after_pass=_revealed(path, _table(path, data, "solutions")),
        path=path,
    )


def _table(path: Path, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise CourseError(f"{path}: [{key}] must be a table of key = value lines")
    return value


def _zone(path: Path, name: Any) -> tzinfo:
    try:
        return UTC if name == "UTC" else ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise CourseError(
            f"{path}: [course] timezone {name!r} is not a known time zone (e.g. UTC, Europe/Berlin)"
        ) from None


def _dates(path: Path, section: str, table: Any, zone: tzinfo) -> dict[str, datetime]:
    if not isinstance(table, dict):
        raise CourseError(f"{path}: [{section}] must be a table of item = date lines")
    return {
        str(item): _date(path, section, str(item), value, zone) for item, value in table.items()
    }


def _date(path: Path, section: str, item: str, value: Any, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise CourseError(
                f"{path}: [{section}] {item} = {value!r} is not a date and time "
                '(write e.g. "2025-03-14 23:59" or 2025-03-14T23:59:00+01:00)'
            ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _late(path: Path, table: dict[str, Any]) -> LateRule:
    unknown = sorted(set(table) - set(_LATE_KEYS))
    if unknown:
        raise CourseError(
            f"{path}: [late] unknown key {unknown[0]!r}; valid keys: {', '.join(_LATE_KEYS)}"
        )
    values: dict[str, float] = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise CourseError(f"{path}: [late] {key} must be a number >= 0, got {value!r}")
        values[key] = float(value)
    return LateRule(**values)


def _limits(path: Path, table: dict[str, Any]) -> Limits:
    """`[limits]` as `Limits` (defaults for every limit not named)."""
    try:
        return Limits.from_mapping(table)
    except LimitsError as err:
        detail = str(err).removeprefix("limits: ")
        raise CourseError(f"{path}: [limits] {detail}") from None


def _sandbox_mode(path: Path, table: dict[str, Any]) -> str | None:
    """`[sandbox] mode`, checked against the modes the runner knows; None when absent."""
    unknown = sorted(set(table) - set(_SANDBOX_KEYS))
    if unknown:
        raise CourseError(
            f"{path}: [sandbox] unknown key {unknown[0]!r}; valid keys: {', '.join(_SANDBOX_KEYS)}"
        )
    mode = table.get("mode")
    if mode is None:
        return None
    if not isinstance(mode, str) or mode.strip().lower() not in MODES:
        raise CourseError(
            f"{path}: [sandbox] mode = {mode!r} is not a sandbox mode; "
            f"valid modes: {', '.join(MODES)}"
        )
    return mode.strip().lower()


def _hint_cost(path: Path, table: dict[str, Any]) -> float:
    """`[hints] points_per_hint` (0 when absent)."""
    unknown = sorted(set(table) - {"points_per_hint"})
    if unknown:
        raise CourseError(
            f"{path}: [hints] unknown key {unknown[0]!r}; valid keys: points_per_hint"
        )
    value = table.get("points_per_hint", 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CourseError(f"{path}: [hints] points_per_hint must be a number >= 0, got {value!r}")
    return float(value)


def _revealed(path: Path, table: dict[str, Any]) -> tuple[str, ...]:
    """`[solutions] reveal_after_pass`: exercise ids (true: every exercise; default none)."""
    from grader.exercises import EXERCISE_IDS, UnknownExercise, get_exercise

    unknown = sorted(set(table) - {"reveal_after_pass"})
    if unknown:
        raise CourseError(
            f"{path}: [solutions] unknown key {unknown[0]!r}; valid keys: reveal_after_pass"
        )
    value = table.get("reveal_after_pass", False)
    if value is True:
        return EXERCISE_IDS
    if value is False:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CourseError(
            f"{path}: [solutions] reveal_after_pass must be true, false or a list of "
            f"exercise ids, got {value!r}"
        )
    try:
        return tuple(get_exercise(v).id for v in value)
    except UnknownExercise as err:
        raise CourseError(f"{path}: [solutions] reveal_after_pass: {err}") from None
