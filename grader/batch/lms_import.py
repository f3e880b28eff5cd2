"""Turning an LMS download into the `submissions/<student>/` layout that `grade batch` grades.

    result = import_download(Path("submissions.zip"), Path(".flowgrade/imports/hw3"),
                             roster=Path("roster.csv"))
    result.folder        # <student>/<exercise file>, timestamps.csv, import-manifest.csv
    result.unplaced      # one line per file it could not place (the rest is imported)

Canvas ("Download Submissions": a zip of flat files; an unpacked copy works too). Canvas
names each file `<name>[_LATE]_<user id>_<file id>_<original name>`, where <name> is the
student's sortable name lower-cased without punctuation ("smithjane"), LATE marks a
submission Canvas counts as late, and a file uploaded again under the same name gets
`-1` ... `-7` (then `-<uuid>`) before its extension. With anonymous grading the name and user id are
replaced by `anon_<anonymous id>`. Students: the roster's `canvas_id` column names the
user id (course.toml `[canvas] roster`); without a roster, the <name> part.

Moodle (assignment "Download all submissions"): folders
`<Full Name>_<participant id>_assignsubmission_file_/<original path>` (the default since
Moodle 3.1), or flat files `<Full Name>_<participant id>_assignsubmission_file_<name>`;
blind marking writes `Participant` for the name. Students: the roster's
`moodle_participant` column, else its `email` or `name` matched with Moodle's grading
worksheet (when given) or with the full name; without a roster, the full name as a
folder name ("jane-smith").

Hand-in times, written to timestamps.csv (an empty time means "not known": no penalty):
Canvas: a `--times` CSV (`user_id` or `student`, `submitted_at`, optional `exercise`) if
given; Canvas's zip holds no times, so a LATE file without one is imported on time and
listed in import-manifest.csv (Canvas's own late policy applies to it when the scores are
imported back into Canvas). Moodle: the grading worksheet's "Last modified
(submission)" if given, else the time Moodle stored with each file in the zip (the
upload time; the files' own times for an unpacked folder), in the course's time zone.

Files are read, never extracted as given: no path in the download decides where anything
is written, links are skipped, and a file over 16 MiB is refused.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from grader.batch.discovery import ATTEMPT_SUFFIX, TIMESTAMPS_FILE
from grader.exercises import EXERCISES, exercise_for_file

LMS_KINDS = ("canvas", "moodle")
MANIFEST_FILE = "import-manifest.csv"
MAX_FILE_BYTES = 16 << 20
CANVAS_NAME = re.compile(
    r"(?:(?:(?P<alate>LATE)_)?anon_(?P<anon>[A-Za-z0-9]+)"
    r"|(?P<name>[^_].*?)(?:_(?P<late>LATE))?_(?P<user>\d+))"
    r"_(?P<file>\d+)_(?P<original>.+)"
)
MOODLE_NAME = re.compile(
    r"(?P<name>[^/]+?)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_"
)
RESUBMITTED = re.compile(  # Canvas's Attachment.make_unique_filename: -1 ... -7, then -<uuid>
    r"(?P<stem>.+)-(?P<n>[1-9]\d*|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"(?P<ext>\.[^.]+)"
)
UUID_RANK = 8  # a -<uuid> name came after -1 ... -7
WORKSHEET_TIME_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%d/%m/%Y %H:%M")


class LmsImportError(ValueError):
    """The download cannot be imported at all (one-line message)."""


@dataclass(frozen=True)
class Entry:
    """One file of the download: its name there, when it was stored, how to read it."""

    name: str
    when: datetime | None
    read: Callable[[], bytes]


@dataclass(frozen=True)
class Person:
    """Who an LMS file belongs to, as the download says."""

    lms_id: str  # Canvas user id / anon id, Moodle participant id
    name: str  # Canvas name part / Moodle full name
    late: bool = False


@dataclass(frozen=True)
class Placed:
    """One imported file: whose, which file in their folder, from where, handed in when."""

    student: str
    filename: str
    exercise: str | None  # None for a quiz attempt file
    source: str
    submitted_at: datetime | None
    late: bool
    lms_id: str
    rank: int = 0  # Canvas's resubmission number (-N); the highest is the latest


@dataclass
class ImportResult:
    folder: Path
    lms: str
    placed: list[Placed] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def students(self) -> list[str]:
        return sorted({p.student for p in self.placed})


# ---------------------------------------------------------------- reading the download


def read_entries(path: Path, zone: tzinfo) -> list[Entry]:
    """Every regular file of a zip or a folder, as (name, time, reader); links skipped."""
    if path.is_file():
        return list(_zip_entries(path, zone))
    if path.is_dir():
        return list(_folder_entries(path))
    raise LmsImportError(f"{path}: no such file or folder")


def _zip_entries(path: Path, zone: tzinfo) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise LmsImportError(f"{path}: not a zip file (an LMS download or a folder)") from None
    for info in archive.infolist():
        kind = info.external_attr >> 16
        if info.is_dir() or stat.S_IFMT(kind) not in (0, stat.S_IFREG) or _ignored(info.filename):
            continue
        when = datetime(*info.date_time, tzinfo=zone)

        def read(info: zipfile.ZipInfo = info) -> bytes:
            if info.file_size > MAX_FILE_BYTES:
                raise ValueError(f"{info.file_size} bytes; the limit is {MAX_FILE_BYTES}")
            return archive.read(info)

        yield Entry(info.filename, when, read)


def _folder_entries(root: Path) -> Iterator[Entry]:
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not _ignored(d))
        for name in sorted(files):
            path = Path(folder) / name
            info = os.lstat(path)
            relative = path.relative_to(root).as_posix()
            if not stat.S_ISREG(info.st_mode) or _ignored(relative) or name in _OUR_FILES:
                continue
            when = datetime.fromtimestamp(info.st_mtime, tz=UTC)

            def read(path: Path = path, size: int = info.st_size) -> bytes:
                if size > MAX_FILE_BYTES:
                    raise ValueError(f"{size} bytes; the limit is {MAX_FILE_BYTES}")
                return path.read_bytes()

            yield Entry(relative, when, read)


_OUR_FILES = frozenset({TIMESTAMPS_FILE, MANIFEST_FILE})


def _ignored(name: str) -> bool:
    parts = name.split("/")
    return any(p.startswith(".") or p in ("__MACOSX", "__pycache__") for p in parts if p)


def needs_import(path: Path, lms: str = "auto") -> bool:
    """Whether `path` must be imported before `grade batch` grades it: a named LMS, or
    with "auto" a zip file or a folder whose top level uses an LMS's file names ("folders"
    and a folder of <student>/ folders are graded as they are)."""
    if lms in LMS_KINDS:
        return True
    if lms != "auto":
        return False
    if path.is_file():
        return True
    return path.is_dir() and _looks_like_lms(path)


def _looks_like_lms(folder: Path) -> bool:
    """Whether a folder's top level is an unpacked Canvas or Moodle download."""
    names = [p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()]
    return detect_lms([Entry(n, None, bytes) for n in names]) is not None


def detect_lms(entries: list[Entry]) -> str | None:
    """canvas, moodle, or None (neither naming scheme) from the entries' names."""
    if any(MOODLE_NAME.match(e.name) for e in entries):
        return "moodle"
    if any("/" not in e.name and CANVAS_NAME.fullmatch(e.name) for e in entries):
        return "canvas"
    return None


# ---------------------------------------------------------------- who, and which file


def canvas_file(name: str) -> tuple[Person, str] | None:
    """(person, original file name) of a Canvas download file name, or None."""
    match = CANVAS_NAME.fullmatch(name)
    if not match:
        return None
    if match["anon"]:
        person = Person(
            f"anon_{match['anon']}", f"anon-{match['anon'].lower()}", bool(match["alate"])
        )
    else:
        person = Person(match["user"], match["name"], bool(match["late"]))
    return person, match["original"]


def moodle_file(name: str) -> tuple[Person, str, str] | None:
    """(person, plugin, original path) of a Moodle download entry, or None."""
    match = MOODLE_NAME.match(name)
    if not match:
        return None
    rest = name[match.end() :].lstrip("/")
    return Person(match["participant"], match["name"].strip()), match["plugin"], rest


def target_name(original: str) -> tuple[str, str | None, int] | None:
    """(file name in the student's folder, exercise id or None for an attempt file, the
    resubmission number) for a submitted file name; None when it is neither."""
    base = original.rsplit("/", 1)[-1]
    if base.endswith(ATTEMPT_SUFFIX):  # its name means nothing: the attempt names its quiz
        return base, None, 0
    tried = [(base, 0)]
    again = RESUBMITTED.fullmatch(base)
    if again:
        rank = int(again["n"]) if again["n"].isdigit() else UUID_RANK
        tried.insert(0, (again["stem"] + again["ext"], rank))
    for name, rank in tried:  # exact names first, a stripped -N included
        found = exercise_for_file(name)
        if found and found[1]:
            return found[0].filename, found[0].id, rank
    for name, rank in tried:
        found = exercise_for_file(name)
        if found:
            return found[0].filename, found[0].id, rank
    return None


def slug(text: str) -> str:
    """A folder name from a person's name: lower case, letters and digits, '-' between."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unnamed"


# ---------------------------------------------------------------- roster, times


@dataclass
class Directory:
    """Who is who: roster rows, and Moodle's grading worksheet when given."""

    roster: dict[str, dict[str, str]]
    worksheet: dict[str, dict[str, str]] = field(default_factory=dict)  # participant -> row
    source: str = ""

    def canvas_student(self, person: Person) -> str | None:
        if not self.roster:
            return slug(person.name) if person.name else None
        for student, row in self.roster.items():
            if row.get("canvas_id", "").strip() == person.lms_id:
                return student
        return None

    def moodle_student(self, person: Person) -> str | None:
        sheet = self.worksheet.get(person.lms_id, {})
        full_name = sheet.get("Full name") or person.name
        if not self.roster:
            if full_name.lower() == "participant":
                return f"participant-{person.lms_id}"
            return slug(full_name)
        email = sheet.get("Email address", "").strip().lower()
        for key, wanted in (
            ("moodle_participant", person.lms_id),
            ("email", email),
            ("name", _normal(full_name)),
        ):
            if not wanted:
                continue
            hits = [s for s, row in self.roster.items() if _cell(row, key) == wanted]
            if len(hits) == 1:
                return hits[0]
        return None


def _normal(name: str) -> str:
    return " ".join(name.lower().split())


def _cell(row: dict[str, str], key: str) -> str:
    value = row.get(key, "") or ""
    return _normal(value) if key in ("name", "email") else value.strip()


def load_csv(path: Path, required: set[str], what: str) -> list[dict[str, str]]:
    if not path.is_file():
        raise LmsImportError(f"{path}: {what} not found")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise LmsImportError(
                f"{path}: the {what} needs the column(s) {', '.join(sorted(missing))}"
            )
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def load_worksheet(path: Path) -> dict[str, dict[str, str]]:
    """Moodle's grading worksheet: participant id (from "Participant 123") -> row."""
    rows = load_csv(path, {"Identifier"}, "grading worksheet")
    sheet = {}
    for row in rows:
        number = re.search(r"(\d+)\s*$", row["Identifier"])
        if number:
            sheet[number.group(1)] = row
    return sheet


def worksheet_time(row: dict[str, str], zone: tzinfo) -> datetime | None:
    text = row.get("Last modified (submission)", "").strip()
    if not text or text == "-":
        return None
    for form in WORKSHEET_TIME_FORMATS:
        try:
            return datetime.strptime(text, form).replace(tzinfo=zone)
        except ValueError:
            continue
    return None


def load_times(path: Path, zone: tzinfo) -> dict[tuple[str, str | None], datetime]:
    """(user id or student, exercise or None) -> time, from a times CSV."""
    rows = load_csv(path, {"submitted_at"}, "times file")
    times = {}
    for line, row in enumerate(rows, start=2):
        who = row.get("user_id") or row.get("student") or ""
        try:
            when = datetime.fromisoformat(row["submitted_at"])
        except ValueError:
            raise LmsImportError(
                f"{path}, line {line}: submitted_at {row['submitted_at']!r} is not an ISO 8601 time"
            ) from None
        times[(who, row.get("exercise") or None)] = (
            when if when.tzinfo else when.replace(tzinfo=zone)
        )
    return times


# ---------------------------------------------------------------- the import


def import_download(
    path: Path,
    out: Path,
    *,
    lms: str = "auto",
    roster: dict[str, dict[str, str]] | None = None,
    times: Path | None = None,
    worksheet: Path | None = None,
    zone: tzinfo = UTC,
) -> ImportResult:
    """Import the LMS download at `path` into `out` (see the module docstring).

    Raises LmsImportError when nothing can be imported (not a download, unknown format, an
    unreadable roster); a file that cannot be placed is a line in `unplaced` instead.
    """
    entries = read_entries(path, zone)
    kind = detect_lms(entries) if lms == "auto" else lms
    if kind not in LMS_KINDS:
        raise LmsImportError(
            f"{path}: neither a Canvas nor a Moodle submissions download "
            "(Canvas: name_userid_fileid_file.py; Moodle: Full Name_id_assignsubmission_file_/...)"
        )
    directory = Directory(roster or {}, load_worksheet(worksheet) if worksheet else {})
    known = load_times(times, zone) if times else {}
    result = ImportResult(out, kind)
    for entry in entries:
        line = _place(entry, kind, directory, known, zone, result)
        if line:
            result.unplaced.append(f"{path.name}: {entry.name}: {line}")
    _keep_latest(result)
    _write(result, entries)
    return result


def _place(
    entry: Entry,
    kind: str,
    directory: Directory,
    known: dict[tuple[str, str | None], datetime],
    zone: tzinfo,
    result: ImportResult,
) -> str | None:
    """Place one entry in `result`, or say in a few words why it cannot be placed."""
    if kind == "canvas":
        parsed = canvas_file(entry.name.rsplit("/", 1)[-1])
        if parsed is None:
            return "not a Canvas submission file name (name_userid_fileid_original)"
        person, original = parsed
        student = directory.canvas_student(person)
        if student is None:
            return (
                f"Canvas user {person.lms_id} ({person.name or 'anonymous'}) is not in the "
                f"roster (add a row with canvas_id {person.lms_id})"
            )
    else:
        parsed_moodle = moodle_file(entry.name)
        if parsed_moodle is None:
            return "not a Moodle submission entry (Full Name_id_assignsubmission_file_...)"
        person, plugin, original = parsed_moodle
        if plugin != "file":
            return f"a Moodle {plugin} submission, not a file"
        student = directory.moodle_student(person)
        if student is None:
            return (
                f"Moodle participant {person.lms_id} ({person.name}) matches no roster row "
                "(by moodle_participant, email or name)"
            )
    target = target_name(original)
    if target is None:
        names = ", ".join(e.filename for e in EXERCISES)
        return f"not an exercise or quiz attempt file (expected one of: {names}, *{ATTEMPT_SUFFIX})"
    filename, exercise, rank = target
    when: datetime | None
    if kind == "canvas":
        when = known.get((person.lms_id, exercise)) or known.get((person.lms_id, None))
        when = when or known.get((student, exercise)) or known.get((student, None))
    else:
        sheet = directory.worksheet.get(person.lms_id)
        when = (worksheet_time(sheet, zone) if sheet else None) or entry.when
    result.placed.append(
        Placed(student, filename, exercise, entry.name, when, person.late, person.lms_id, rank)
    )
    return None


def _keep_latest(result: ImportResult) -> None:
    """One file per (student, file name): the latest resubmission, else the latest time."""
    chosen: dict[tuple[str, str], Placed] = {}
    for placed in result.placed:
        key = (placed.student, placed.filename)
        other = chosen.get(key)
        if other is None or _newer(placed, other):
            chosen[key] = placed
        if other is not None:
            dropped = other if chosen[key] is placed else placed
            result.notes.append(
                f"{placed.student}: {dropped.source} replaced by {chosen[key].source} "
                f"(the later upload of {placed.filename})"
            )
    result.placed = sorted(chosen.values(), key=lambda p: (p.student, p.filename))


def _newer(a: Placed, b: Placed) -> bool:
    if a.rank != b.rank:
        return a.rank > b.rank
    return (a.submitted_at or datetime.min.replace(tzinfo=UTC)) > (
        b.submitted_at or datetime.min.replace(tzinfo=UTC)
    )


def _write(result: ImportResult, entries: list[Entry]) -> None:
    """The student folders, timestamps.csv and import-manifest.csv (a fresh `out`)."""
    out = result.folder
    if out.exists():
        if not (out / MANIFEST_FILE).is_file() and any(out.iterdir()):
            raise LmsImportError(
                f"{out}: exists and is not an earlier import; choose another folder"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    readers = {e.name: e.read for e in entries}
    written = []
    for placed in result.placed:
        try:
            data = readers[placed.source]()
        except (ValueError, OSError, zipfile.BadZipFile) as err:
            result.unplaced.append(f"{placed.source}: cannot be read ({err})")
            continue
        target = out / placed.student / placed.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(placed)
    result.placed = written
    with (out / TIMESTAMPS_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "submitted_at", "exercise"])
        for placed in written:
            if placed.exercise is not None:
                when = (
                    placed.submitted_at.isoformat(timespec="seconds") if placed.submitted_at else ""
                )
                writer.writerow([placed.student, when, placed.exercise])
    with (out / MANIFEST_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["student", "file", "exercise", "lms", "lms_id", "late", "submitted_at", "source"]
        )
        for placed in written:
            when = placed.submitted_at.isoformat(timespec="seconds") if placed.submitted_at else ""
            writer.writerow([placed.student, placed.filename, placed.exercise or "quiz attempt",
                             result.lms, placed.lms_id, "LATE" if placed.late else "", when,
                             placed.source])  # fmt: skip
    untimed_late = [p for p in written if p.late and p.submitted_at is None]
    if untimed_late:
        result.notes.append(
            f"{len(untimed_late)} file(s) Canvas marked LATE have no hand-in time: imported "
            "without a flowgrade penalty (Canvas applies its own late policy when the scores "
            "go back to Canvas; give times with --times for flowgrade's rule)"
        )
