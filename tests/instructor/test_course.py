"""course.toml: due dates, extensions, the late rule, limits, sandbox mode, one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from grader.course import Course, CourseError, load_course
from grader.runner.limits import GIB, Limits


def test_course_file_is_read(tmp_path):
    (tmp_path / "course.toml").write_text(
        '[course]\nname = "Flows"\ntimezone = "Europe/Berlin"\n'
        '[due]\nexercise-03 = "2025-03-14 23:59"\nquiz-01 = 2025-03-10T12:00:00Z\n'
        "[late]\nper_day_percent = 10\n"
        '[extensions.ann]\nexercise-03 = "2025-03-16 23:59"\n'
    )
    course = load_course(tmp_path)
    assert course.name == "Flows"
    assert course.due["exercise-03"] == datetime(2025, 3, 14, 22, 59, tzinfo=UTC)
    assert course.due["quiz-01"] == datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    on_time_for_ann = course.lateness("ann", "exercise-03", "2025-03-16T20:00:00+00:00")
    late_for_bob = course.lateness("bob", "exercise-03", "2025-03-16T20:00:00+00:00")
    assert on_time_for_ann.fraction == 0 and late_for_bob.fraction == pytest.approx(0.2)
    assert course.lateness("bob", "exercise-05", "2030-01-01T00:00:00+00:00").fraction == 0


def test_missing_default_file_means_no_penalties(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_course().due == {}
    with pytest.raises(CourseError, match="no such course file"):
        load_course(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[due]\nexercise-03 = "next friday"\n', "exercise-03 = 'next friday' is not a date"),
        ("[late]\nper_day_percent = -5\n", "per_day_percent must be a number >= 0"),
        ("[grading]\nx = 1\n", "unknown section [grading]"),
        ('[course]\ntimezone = "Mars/Olympus"\n', "not a known time zone"),
        ("[due\n", "not valid TOML"),
        ("[limits]\nwall_seconds = 3\n", "[limits] unknown limit 'wall_seconds'; valid limits:"),
        ("[limits]\ncall_seconds = -1\n", "[limits] call_seconds must be a positive number"),
        ("[limits]\nprocesses = 2.5\n", "[limits] processes must be a whole number, got 2.5"),
        ('[limits]\naddress_space_gib = "4"\n', "[limits] address_space_gib must be a positive"),
        ("limits = 3\n", "[limits] must be a table"),
        (
            '[sandbox]\nmode = "docker"\n',
            "mode = 'docker' is not a sandbox mode; valid modes: auto",
        ),
        ("[sandbox]\nmode = 1\n", "[sandbox] mode = 1 is not a sandbox mode"),
        ("[sandbox]\nlevel = 3\n", "[sandbox] unknown key 'level'; valid keys: mode"),
    ],
)
def test_bad_course_files_fail_in_one_line(tmp_path, text, message):
    (tmp_path / "course.toml").write_text(text)
    with pytest.raises(CourseError) as error:
        load_course(tmp_path)
    assert message in str(error.value) and "course.toml" in str(error.value)
    assert "\n" not in str(error.value)


def test_limits_and_sandbox_mode_are_read(tmp_path):
    (tmp_path / "course.toml").write_text(
        "[limits]\ncall_seconds = 20\naddress_space_gib = 6\nprocesses = 32\n"
        '[sandbox]\nmode = "Basic"\n'
    )
    course = load_course(tmp_path)
    assert course.limits.call_seconds == 20.0
    assert course.limits.address_space_bytes == 6 * GIB
    assert course.limits.processes == 32
    assert course.limits.submission_seconds == Limits().submission_seconds  # default kept
    assert course.sandbox_mode == "basic"
    assert (Course().limits, Course().sandbox_mode) == (Limits(), None)
