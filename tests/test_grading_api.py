"""The grading library's entry points (`grader.grading`): one exercise, one whole
submission, and a file already read (what a batch sends to another machine)."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.exercises import PROJECT_ROOT, get_exercise
from grader.grading import SubmittedFile, grade_file, grade_submission

EXERCISE = get_exercise("exercise-03")


def test_grade_submission_grades_every_exercise_present_with_one_seed(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / "solutions" / EXERCISE.filename, tmp_path / EXERCISE.filename)
    results = grade_submission(tmp_path, seed=5)
    assert [r.exercise for r in results] == ["exercise-03"]  # only the file handed in
    assert results[0].full_marks and results[0].seed == 5
    (missing,) = grade_submission(tmp_path, ["exercise-01"], seed=5)  # named: graded anyway
    assert missing.score == 0 and "missing from the submission" in missing.notes[0]


def test_a_file_travels_as_bytes_and_keeps_its_reason_and_hash(tmp_path: Path) -> None:
    source = PROJECT_ROOT / "solutions" / EXERCISE.filename
    read = SubmittedFile.read(source, 1 << 20)
    source_copy = tmp_path / "elsewhere"  # the folder is gone: only the bytes are graded
    assert read.data == source.read_bytes() and not source_copy.exists()
    result = grade_file("exercise-03", read, seed=1)
    assert result.full_marks and result.submission_hash == read.content_hash
    link = tmp_path / EXERCISE.filename
    link.symlink_to(source)
    refused = grade_file("exercise-03", SubmittedFile.read(link, 1 << 20), seed=1)
    assert refused.score == 0 and "symbolic link" in refused.notes[0]
