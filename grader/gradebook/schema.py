"""Versioned schema migrations of the gradebook.

Each migration is a list of SQL statements that moves the schema from version i to i+1.
Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE students (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE submissions (
            id INTEGER PRIMARY KEY,
            student TEXT NOT NULL REFERENCES students(id),
            exercise TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            suite_hash TEXT NOT NULL,
            seed INTEGER NOT NULL,
            device TEXT NOT NULL,
            score REAL NOT NULL,
            max_score REAL NOT NULL,
            graded_at TEXT NOT NULL,
            duration_s REAL NOT NULL,
            superseded INTEGER NOT NULL DEFAULT 0,
            result_json TEXT NOT NULL
        )""",
        "CREATE INDEX submissions_current ON submissions(student, exercise, superseded)",
        """CREATE TABLE test_results (
            submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            score REAL NOT NULL,
            max_score REAL NOT NULL,
            status TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (submission_id, position)
        )""",
        """CREATE TABLE quiz_attempts (
            id INTEGER PRIMARY KEY,
            student TEXT NOT NULL REFERENCES students(id),
            quiz TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            mode TEXT NOT NULL,
            state TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            score REAL,
            max_score REAL,
            data_json TEXT NOT NULL,
            UNIQUE (student, quiz, attempt)
        )""",
    ),
    (
        # 2: batch provenance, submission times, and at most one current row per
        # (student, exercise) enforced by the database itself.
        """CREATE TABLE batch_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            seed INTEGER NOT NULL,
            jobs INTEGER NOT NULL,
            source TEXT NOT NULL,
            status TEXT NOT NULL,
            planned INTEGER NOT NULL DEFAULT 0,
            graded INTEGER NOT NULL DEFAULT 0
        )""",
        "ALTER TABLE submissions ADD COLUMN submitted_at TEXT",
        "ALTER TABLE submissions ADD COLUMN batch_run INTEGER REFERENCES batch_runs(id)",
        """CREATE UNIQUE INDEX submissions_one_current ON submissions(student, exercise)
           WHERE superseded = 0""",
        "CREATE INDEX quiz_attempts_by_quiz ON quiz_attempts(quiz, state)",
    ),
    (
        # 3: every hint step a student was shown (`grade hint`), with its time stamp; at
        # most one row per step, so a hint is counted once however often it is shown again.
        """CREATE TABLE hints_shown (
            id INTEGER PRIMARY KEY,
            student TEXT NOT NULL REFERENCES students(id),
            exercise TEXT NOT NULL,
            function_name TEXT NOT NULL,
            step INTEGER NOT NULL,
            shown_at TEXT NOT NULL,
            UNIQUE (student, exercise, function_name, step)
        )""",
        "CREATE INDEX hints_shown_by_student ON hints_shown(student, exercise)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection) -> int:
    """Apply every pending migration, each in its own transaction. Returns the new version.

    `connection` must be in autocommit mode (isolation_level=None).
    """
    version = current_version(connection)
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"gradebook schema version {version} is newer than this flowgrade "
            f"({SCHEMA_VERSION}); upgrade flowgrade"
        )
    for index in range(version, SCHEMA_VERSION):
        connection.execute("BEGIN IMMEDIATE")
        try:
            if current_version(connection) == index:  # else another process migrated meanwhile
                for statement in MIGRATIONS[index]:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {index + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    return current_version(connection)
