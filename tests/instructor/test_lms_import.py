"""Canvas and Moodle submission downloads: laid out as <student>/ folders with the roster
and hand-in times, files that cannot be placed named one line each, and `grade batch`
grading a Canvas zip end to end."""

from __future__ import annotations

import csv
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from grader.batch.lms_import import (
    LmsImportError,
    canvas_file,
    import_download,
    moodle_file,
    needs_import,
    target_name,
)
from grader.cli import main
from grader.exercises import get_exercise
from grader.gradebook import Gradebook
from grader.report.canvas import load_roster

ROOT = Path(__file__).resolve().parents[2]
EX03 = get_exercise("exercise-03").filename
EX01 = get_exercise("exercise-01").filename
CORRECT = (ROOT / "solutions" / EX03).read_bytes()
STUB = (ROOT / "exercises" / EX03).read_bytes()
BERLIN = ZoneInfo("Europe/Berlin")


def _zip(
    path: Path, files: dict[str, bytes], when: tuple[int, ...] = (2025, 3, 14, 22, 0, 0)
) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, when), data)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _roster(tmp_path: Path, text: str) -> dict[str, dict[str, str]]:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return load_roster(path)


# ---------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("name", "person", "original"),
    [
        ("smithjane_4711_90001_exercise_03_affine_coupling.py", ("4711", "smithjane", False),
         EX03),
        ("smithjane_LATE_4711_90002_exercise_03_affine_coupling-2.py",
         ("4711", "smithjane", True), "exercise_03_affine_coupling-2.py"),
        ("oconnorsean_12_34_3_notes.txt", ("12", "oconnorsean", False), "3_notes.txt"),
        ("anon_x7Kq2_555_exercise_03.py", ("anon_x7Kq2", "anon-x7kq2", False), "exercise_03.py"),
        ("LATE_anon_12345_556_a.py", ("anon_12345", "anon-12345", True), "a.py"),
    ],
)  # fmt: skip
def test_canvas_file_names(name: str, person: tuple[str, str, bool], original: str) -> None:
    parsed = canvas_file(name)
    assert parsed is not None
    who, file = parsed
    assert (who.lms_id, who.name, who.late) == person and file == original


def test_non_canvas_names_are_not_mistaken_for_canvas() -> None:
    assert canvas_file(EX03) is None and canvas_file("alice_notes.py") is None


def test_moodle_entry_names() -> None:
    person, plugin, original = moodle_file(  # type: ignore[misc]
        f"Jane Smith_812345_assignsubmission_file_/src/{EX03}"
    )
    assert (person.lms_id, person.name, plugin, original) == ("812345", "Jane Smith", "file",
                                                               f"src/{EX03}")  # fmt: skip
    flat = moodle_file(f"Participant_77_assignsubmission_file_{EX03}")
    assert flat is not None and flat[0].name == "Participant" and flat[2] == EX03
    assert moodle_file("Jane_onlinetext.html") is None


def test_target_names_strip_canvas_resubmission_suffixes() -> None:
    assert target_name("exercise_03_affine_coupling-2.py") == (EX03, "exercise-03", 2)
    assert target_name("exercise_03_affine_coupling.py") == (EX03, "exercise-03", 0)
    assert target_name("Exercise_1.py") == (EX01, "exercise-01", 0)
    assert target_name("quiz-1.attempt.json") == ("quiz-1.attempt.json", None, 0)
    assert target_name("quiz-1-2.attempt.json") == ("quiz-1-2.attempt.json", None, 0)
    uuid = "exercise_03_affine_coupling-0f8fad5b-d9cb-469f-a165-70867728950e.py"
    assert target_name(uuid) == (EX03, "exercise-03", 8)
    assert target_name("notes.txt") is None


# ---------------------------------------------------------------- Canvas


def _canvas_download(tmp_path: Path) -> Path:
    return _zip(
        tmp_path / "canvas-submissions.zip",
        {
            f"smithjane_4711_90001_{EX03}": CORRECT,
            "smithjane_4711_90002_change-of-variables.attempt.json": b"{}",
            f"doejohn_LATE_4712_90003_{EX03}": STUB,
            "doejohn_LATE_4712_90004_exercise_03_affine_coupling-1.py": CORRECT,
            "doejohn_LATE_4712_90005_notes.txt": b"my notes",
            f"leemin_4713_90006_{EX03}": CORRECT,
            "__MACOSX/._junk": b"",
        },
    )


def test_canvas_download_is_laid_out_with_the_roster(tmp_path: Path) -> None:
    roster = _roster(
        tmp_path,
        "student,name,canvas_id,sis_user_id,sis_login_id,section\n"
        "jsmith,Jane Smith,4711,,,A\njdoe,John Doe,4712,,,A\n",
    )
    times = tmp_path / "times.csv"
    times.write_text("user_id,submitted_at,exercise\n4711,2025-03-14T21:30:00+00:00,exercise-03\n")
    out = tmp_path / "imported"
    result = import_download(_canvas_download(tmp_path), out, roster=roster, times=times)
    assert result.lms == "canvas" and result.students == ["jdoe", "jsmith"]
    assert (out / "jsmith" / EX03).read_bytes() == CORRECT
    assert (out / "jsmith" / "change-of-variables.attempt.json").is_file()
    assert (out / "jdoe" / EX03).read_bytes() == CORRECT  # the -1 upload is the later one
    assert any("replaced by" in n and "-1.py" in n for n in result.notes)
    assert any("marked LATE have no hand-in time" in n for n in result.notes)
    times_rows = {
        (r["student"], r["exercise"]): r["submitted_at"] for r in _rows(out / "timestamps.csv")
    }
    assert times_rows == {("jsmith", "exercise-03"): "2025-03-14T21:30:00+00:00",
                          ("jdoe", "exercise-03"): ""}  # fmt: skip
    manifest = {r["student"] + "/" + r["file"]: r for r in _rows(out / "import-manifest.csv")}
    assert (
        manifest[f"jdoe/{EX03}"]["late"] == "LATE" and manifest[f"jdoe/{EX03}"]["lms_id"] == "4712"
    )
    unplaced = "\n".join(result.unplaced)
    assert len(result.unplaced) == 2
    assert "doejohn_LATE_4712_90005_notes.txt: not an exercise or quiz attempt file" in unplaced
    assert f"leemin_4713_90006_{EX03}: Canvas user 4713 (leemin) is not in the roster" in unplaced
    assert all(line.startswith("canvas-submissions.zip: ") for line in result.unplaced)


def test_canvas_without_roster_names_students_by_canvas_name(tmp_path: Path) -> None:
    result = import_download(_canvas_download(tmp_path), tmp_path / "out")
    assert result.students == ["doejohn", "leemin", "smithjane"]
    assert len(result.unplaced) == 1


def test_an_unpacked_canvas_folder_imports_too(tmp_path: Path) -> None:
    folder = tmp_path / "unpacked"
    folder.mkdir()
    with zipfile.ZipFile(_canvas_download(tmp_path)) as archive:
        archive.extractall(folder)
    assert needs_import(folder) and not needs_import(tmp_path / "nothing-here")
    result = import_download(folder, tmp_path / "out")
    assert result.students == ["doejohn", "leemin", "smithjane"]


def test_import_refuses_to_overwrite_other_folders_and_unknown_downloads(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(LmsImportError, match="not an earlier import"):
        import_download(_canvas_download(tmp_path), busy)
    plain = _zip(tmp_path / "plain.zip", {"alice/" + EX03: CORRECT})
    with pytest.raises(LmsImportError, match="neither a Canvas nor a Moodle"):
        import_download(plain, tmp_path / "out")
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(LmsImportError, match="not a zip file"):
        import_download(tmp_path / "bad.zip", tmp_path / "out")


def test_no_path_in_the_download_decides_where_files_go(tmp_path: Path) -> None:
    evil = _zip(tmp_path / "evil.zip", {f"../../x_1_2_{EX03}": CORRECT, f"a_1_3_{EX03}": CORRECT})
    result = import_download(evil, tmp_path / "out", lms="canvas")
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob(EX03))
    assert all(str(p).startswith("out/") for p in written), written
    assert not (tmp_path.parent / EX03).exists()
    assert result.students == ["a"]  # a path with ".." is never read


# ---------------------------------------------------------------- Moodle


def _moodle_download(tmp_path: Path) -> Path:
    return _zip(
        tmp_path / "moodle.zip",
        {
            f"Jane Smith_812345_assignsubmission_file_/{EX03}": CORRECT,
            f"John Doe_812346_assignsubmission_file_/work/{EX01}": b"# ex 1\n",
            "John Doe_812346_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>",
            f"Min Lee_812347_assignsubmission_file_{EX03}": STUB,  # flat mode
        },
        when=(2025, 3, 14, 23, 30, 0),
    )


def test_moodle_download_with_worksheet_and_roster(tmp_path: Path) -> None:
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(
        "\ufeffIdentifier,Full name,Email address,Status,Last modified (submission)\n"
        "Participant 812345,Jane Smith,jane@uni.example,Submitted,"
        '"Friday, 14 March 2025, 11:59 PM"\n'
        "Participant 812346,John Doe,john@uni.example,Submitted,-\n",
        encoding="utf-8",
    )
    roster = _roster(
        tmp_path,
        "student,name,email\njsmith,Jane Smith,JANE@uni.example\njdoe,John  Doe,john@uni.example\n",
    )
    out = tmp_path / "out"
    result = import_download(
        _moodle_download(tmp_path), out, roster=roster, worksheet=worksheet, zone=BERLIN
    )
    assert result.lms == "moodle" and result.students == ["jdoe", "jsmith"]
    times = {
        (r["student"], r["exercise"]): r["submitted_at"] for r in _rows(out / "timestamps.csv")
    }
    # the worksheet's time for Jane; the zip's stored upload time for John (no worksheet time)
    assert times[("jsmith", "exercise-03")] == "2025-03-14T23:59:00+01:00"
    assert times[("jdoe", "exercise-01")] == "2025-03-14T23:30:00+01:00"
    assert (out / "jdoe" / EX01).read_bytes() == b"# ex 1\n"
    unplaced = "\n".join(result.unplaced)
    assert "onlinetext.html: a Moodle onlinetext submission, not a file" in unplaced
    assert (
        "Min Lee_812347_assignsubmission_file_" in unplaced and "matches no roster row" in unplaced
    )


def test_moodle_without_roster_and_with_blind_marking(tmp_path: Path) -> None:
    blind = _zip(
        tmp_path / "blind.zip", {f"Participant_90210_assignsubmission_file_/{EX03}": CORRECT}
    )
    result = import_download(blind, tmp_path / "b")
    assert result.students == ["participant-90210"]
    named = import_download(_moodle_download(tmp_path), tmp_path / "n")
    assert named.students == ["jane-smith", "john-doe", "min-lee"]
    when = datetime.fromisoformat(_rows(tmp_path / "n" / "timestamps.csv")[0]["submitted_at"])
    assert when == datetime(2025, 3, 14, 23, 30, tzinfo=UTC)  # no course zone given: UTC


# ---------------------------------------------------------------- grade batch on a download


def test_grade_batch_grades_a_canvas_zip_and_names_what_it_could_not_place(tmp_path: Path) -> None:
    download = _zip(
        tmp_path / "hw3.zip",
        {
            f"smithjane_4711_90001_{EX03}": CORRECT,
            f"doejohn_LATE_4712_90003_{EX03}": STUB,
            "doejohn_LATE_4712_90005_notes.txt": b"my notes",
        },
    )
    (tmp_path / "roster.csv").write_text(
        "student,name,canvas_id\njsmith,Jane Smith,4711\njdoe,John Doe,4712\n"
    )
    (tmp_path / "course.toml").write_text('[canvas]\nroster = "roster.csv"\n')
    gradebook = tmp_path / "book" / "gradebook.sqlite"
    result = CliRunner().invoke(
        main,
        ["batch", str(download), "--gradebook", str(gradebook), "--course", str(tmp_path),
         "--jobs", "1", "--exercise", "exercise-03", "--timeout", "5"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "imported 2 file(s) of 2 student(s) from the Canvas download" in result.stderr
    assert "Error: hw3.zip: doejohn_LATE_4712_90005_notes.txt: not an exercise" in result.stderr
    assert "1 file(s) of the download could not be placed" in result.stderr
    assert (tmp_path / "book" / "imports" / "hw3" / "jsmith" / EX03).is_file()
    with Gradebook.open(gradebook, create=False) as book:
        current = {s.student: s for s in book.current_submissions()}
    assert current["jsmith"].score == 10 and current["jdoe"].score == 0
    assert current["jdoe"].submitted_at is None  # LATE in Canvas, no time known: no penalty
