"""course.toml: due dates, extensions, the late rule, and one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from grader.course import CourseError, load_course


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
    ],
)
def test_bad_course_files_fail_in_one_line(tmp_path, text, message):
    (tmp_path / "course.toml").write_text(text)
    with pytest.raises(CourseError) as error:
        load_course(tmp_path)
    assert message in str(error.value) and "course.toml" in str(error.value)
    assert "\n" not in str(error.value)
