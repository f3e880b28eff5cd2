"""`grade quiz ...` through click's CliRunner and through a real subprocess with piped answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.quiz.attempt_file import load_attempt_file
from grader.quiz.cli import quiz as quiz_group
from grader.quiz.loader import PROJECT_BANK, load_bank, load_quiz
from grader.quiz.model import Quiz
from grader.quiz.shown import ShownQuestion, prepare_attempt_questions, shown_questions
from grader.quiz.shuffle import attempt_seed
from grader.quiz.syllabus import OBJECTIVES, PITFALLS

ROOT = Path(__file__).resolve().parents[2]
QUIZZES = load_bank(PROJECT_BANK)[0]
SMALL_BANK = """\
title: Small
questions:
  - id: two-tags
    kind: single
    objectives: [1, 2]
    pitfalls: [slow-inverse, nan-log-likelihood]
    stem: Which?
    options:
      - {id: a, text: A, correct: true, feedback: Right.}
      - {id: b, text: B, feedback: Wrong.}
  - id: one-tag
    kind: single
    objectives: [2]
    stem: Which?
    options:
      - {id: a, text: A, correct: true, feedback: Right.}
      - {id: b, text: B, feedback: Wrong.}
"""


def grade_quiz(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `grade quiz ARGS` (`python -m grader quiz ...`), answers piped on stdin."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("FLOWGRADE_QUIZZES", None)
    return subprocess.run(
        [sys.executable, "-m", "grader", "quiz", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def as_shown(quiz: Quiz, student: str, attempt: int = 1) -> list[ShownQuestion]:
    """What `student` sees in `attempt` (same seeds as the CLI uses)."""
    plan = prepare_attempt_questions(quiz, attempt_seed(student, quiz.name, attempt))
    return shown_questions(quiz, plan)


def right_answer(item: ShownQuestion) -> str:
    question = item.question
    if question.is_choice:
        return " ".join(item.letter_of(o) for o in item.order if question.option(o).correct)
    return repr(question.answer) if question.kind == "numeric" else str(question.answer)


# ---------------------------------------------------------------- CliRunner


def test_list(tiny_bank: Path) -> None:
    result = CliRunner().invoke(quiz_group, ["--bank", str(tiny_bank), "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["tiny", "practice", "4", "questions"]
    assert lines[1].split()[:2] == ["tiny-exam", "exam"]


def test_list_reports_a_broken_file_in_one_line(tiny_bank: Path) -> None:
    (tiny_bank / "broken.yaml").write_text(
        "title: ok\nquestions:\n  - id: Bad Id\n    kind: single\n"
    )
    result = CliRunner().invoke(quiz_group, ["--bank", str(tiny_bank), "list"])
    assert result.exit_code == 1
    assert "tiny" in result.stdout
    assert result.stderr.strip().splitlines() == [
        f"Error: {tiny_bank / 'broken.yaml'}: question Bad Id: 'id' must be lower-case letters, "
        "digits and '-' (e.g. coupling-logdet)"
    ]
    assert "Traceback" not in result.output


def test_unknown_quiz_lists_valid_names(tiny_bank: Path, tmp_path: Path) -> None:
    for command in (["take", "nope"], ["review", "nope"], ["export", "nope", "--format", "md"]):
        result = CliRunner().invoke(
            quiz_group, ["--bank", str(tiny_bank), *command, "--gradebook", str(tmp_path / "g")]
            if command[0] != "export" else ["--bank", str(tiny_bank), *command]
        )  # fmt: skip
        assert result.exit_code == 1, command
        assert "unknown quiz 'nope'; valid quizzes: tiny, tiny-exam" in result.output
        assert "Traceback" not in result.output


def test_take_with_a_malformed_file_is_one_line(tiny_bank: Path, tmp_path: Path) -> None:
    path = tiny_bank / "tiny.yaml"
    path.write_text(path.read_text().replace("answer: 6.946164", "answer: [6.9]"))
    result = CliRunner().invoke(
        quiz_group, ["--bank", str(tiny_bank), "take", "tiny", "--gradebook", str(tmp_path / "g")]
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {path}: question number: 'answer' of a numeric question must be a number"
    )


def test_take_and_review_in_process(tiny_bank: Path, gradebook_location: str) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    shown = as_shown(quiz, "runner")
    typed = "\n".join(right_answer(item) for item in shown) + "\n"
    base = ["--bank", str(tiny_bank)]
    options = ["--student", "runner", "--gradebook", gradebook_location]
    result = CliRunner().invoke(quiz_group, [*base, "take", "tiny", *options], input=typed)
    assert result.exit_code == 0, result.output
    assert "Total: 5 / 5" in result.stdout and "\x1b[" not in result.stdout
    review = CliRunner().invoke(quiz_group, [*base, "review", "tiny", *options])
    assert review.exit_code == 0
    assert "Attempt 1 of runner at tiny (finished)" in review.stdout
    assert "Total: 5 / 5" in review.stdout


def test_review_without_a_gradebook_is_one_line(tiny_bank: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        quiz_group,
        ["--bank", str(tiny_bank), "review", "tiny", "--gradebook", str(tmp_path / "none.sqlite")],
    )
    assert result.exit_code == 1 and "no gradebook here" in result.output


def test_export_and_import(tiny_bank: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--bank", str(tiny_bank)]
    gift = tmp_path / "tiny.gift"
    assert (
        runner.invoke(
            quiz_group, [*base, "export", "tiny", "--format", "gift", "-o", str(gift)]
        ).exit_code
        == 0
    )
    md = runner.invoke(quiz_group, [*base, "export", "tiny", "--format", "md", "--key"])
    assert md.exit_code == 0 and "answer key" in md.stdout and "Upside down" in md.stdout
    html = runner.invoke(quiz_group, [*base, "export", "tiny", "--format", "html"])
    assert html.exit_code == 0 and html.stdout.startswith("<!DOCTYPE html>")
    assert "Upside down" not in html.stdout
    result = runner.invoke(quiz_group, [*base, "import", str(gift), "--name", "from-gift"])
    assert result.exit_code == 0, result.output
    assert load_quiz("from-gift", tiny_bank).questions == load_quiz("tiny", tiny_bank).questions
    again = runner.invoke(quiz_group, [*base, "import", str(gift), "--name", "from-gift"])
    assert again.exit_code == 1 and "--force" in again.output


def test_check_passes_on_the_project_bank() -> None:
    result = CliRunner().invoke(quiz_group, ["--bank", str(PROJECT_BANK), "check"])
    assert result.exit_code == 0, result.output
    assert "0 problems" in result.stdout


def _objective_marks(objectives: tuple[int, ...]) -> str:
    return " ".join("x" if n in objectives else "." for n in OBJECTIVES)


def test_check_marks_each_questions_objectives_and_pitfalls_within_80_columns() -> None:
    result = CliRunner().invoke(quiz_group, ["--bank", str(PROJECT_BANK), "check"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    total = sum(len(q.questions) for q in QUIZZES)
    assert lines[-1] == f"{len(QUIZZES)} quizzes, {total} questions, 0 problems"
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("  ")}
    for quiz in QUIZZES:
        assert f"{quiz.name} ({len(quiz.questions)} questions)" in lines
        for question in quiz.questions:
            marks = _objective_marks(question.objectives).split()
            assert rows[question.id] == [*marks, *(question.pitfalls or ["-"])], question.id
    for number in OBJECTIVES:
        tagged = sum(number in q.objectives for quiz in QUIZZES for q in quiz.questions)
        assert rows[f"LO{number}"][:2] == [str(tagged), OBJECTIVES[number].split()[0]]
    for name in PITFALLS:
        tagged = sum(name in q.pitfalls for quiz in QUIZZES for q in quiz.questions)
        assert rows[name][0] == str(tagged)
    assert "!" not in result.stdout


def test_check_flags_an_uncovered_objective_and_pitfall(tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "small.yaml").write_text(SMALL_BANK, encoding="utf-8")
    result = CliRunner().invoke(quiz_group, ["--bank", str(bank), "check"])
    assert result.exit_code == 1
    uncovered = [f"objective {n} is not covered" for n in (3, 4, 5)] + [
        f"pitfall {p} is not covered"
        for p in PITFALLS
        if p not in ("slow-inverse", "nan-log-likelihood")
    ]
    assert result.stderr.splitlines() == [f"Error: {line}" for line in uncovered]
    lines = result.stdout.splitlines()
    assert lines[-1] == f"1 quizzes, 2 questions, {len(uncovered)} problems"
    assert "small (2 questions)" in lines
    assert "  two-tags  x x . . .  slow-inverse" in lines
    assert " " * 23 + "nan-log-likelihood" in lines  # a second pitfall under the first
    assert "  one-tag   . x . . .  -" in lines
    assert any(line.startswith("  LO3    0 ! Explain how") for line in lines)
    assert any(line.startswith("  LO2    2   Compute") for line in lines)
    assert any(line.startswith("  volume-preserving          0 !") for line in lines)
    assert "! no question covers it" in lines


def test_check_summary_leaves_out_the_questions(tiny_bank: Path) -> None:
    result = CliRunner().invoke(quiz_group, ["--bank", str(tiny_bank), "check", "--summary"])
    assert result.exit_code == 1  # the tiny bank covers objectives 1 and 2 only
    assert "pick-one" not in result.stdout and "Questions:" not in result.stdout
    assert result.stdout.startswith("Coverage: questions per learning objective")
    assert result.stdout.splitlines()[-1].startswith("2 quizzes, 8 questions, ")


# ---------------------------------------------------------------- real subprocess, piped answers


def test_whole_quiz_end_to_end_through_the_real_cli(tmp_path: Path) -> None:
    """A whole quiz of the real bank, answered through a pipe, then reviewed and handed in."""
    quiz = load_quiz("change-of-variables", PROJECT_BANK)
    shown = as_shown(quiz, "e2e")
    lines = [right_answer(item) for item in shown]
    wrong_at = next(i for i, item in enumerate(shown) if item.question.kind == "single")
    wrong_option = next(
        o for o in shown[wrong_at].order if not shown[wrong_at].question.option(o).correct
    )
    lines[wrong_at] = shown[wrong_at].letter_of(wrong_option)
    lines.insert(wrong_at, "Q")  # an invalid letter first: re-prompted
    gradebook, handed_in = tmp_path / "gb.sqlite", tmp_path / "attempt.json"
    args = ["take", "change-of-variables", "--student", "e2e", "--gradebook", str(gradebook)]
    done = grade_quiz(*args, "--save-file", str(handed_in), stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "is not a choice here" in done.stdout
    feedback = shown[wrong_at].question.option(wrong_option).feedback
    assert f"If you chose {shown[wrong_at].letter_of(wrong_option)}: {feedback}" in done.stdout
    total = quiz.max_score
    assert f"Total: {total - 1:g} / {total:g}" in done.stdout
    record = load_attempt_file(handed_in)
    assert record.state == "finished" and record.score == total - 1
    assert record.data["answers"][shown[wrong_at].id]["chosen"] == [wrong_option]
    assert [q["order"] for q in record.data["questions"] if "order" in q] == [
        list(item.order) for item in shown if item.question.is_choice
    ]
    review = grade_quiz(
        "review", "change-of-variables", "--student", "e2e", "--gradebook", str(gradebook)
    )
    assert review.returncode == 0
    assert feedback in review.stdout and f"Total: {total - 1:g} / {total:g}" in review.stdout


def test_end_of_input_saves_and_take_resumes_in_a_new_process(
    tiny_bank: Path, tmp_path: Path
) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    shown = as_shown(quiz, "pipe")
    lines = [right_answer(item) for item in shown]
    args = ["--bank", str(tiny_bank), "take", "tiny", "--student", "pipe",
            "--gradebook", str(tmp_path / "gb.sqlite")]  # fmt: skip
    first = grade_quiz(*args, stdin="\n".join(lines[:2]) + "\n")
    assert first.returncode == 3
    assert "Progress saved" in first.stderr and "Traceback" not in first.stderr
    second = grade_quiz(*args, stdin="\n".join(lines[2:]) + "\n")
    assert second.returncode == 0, second.stderr
    assert "Resuming attempt 1: 2 of 4 answered." in second.stdout
    assert "Total: 5 / 5" in second.stdout


@pytest.mark.parametrize("command", [["list"], ["take", "nope"]])
def test_bad_input_in_a_subprocess_never_shows_a_traceback(
    tiny_bank: Path, tmp_path: Path, command: list[str]
) -> None:
    (tiny_bank / "zz-broken.yaml").write_text("title: [\n")
    done = grade_quiz("--bank", str(tiny_bank), *command, cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.startswith("Error: ")


def test_listing_imports_neither_torch_nor_sympy() -> None:
    code = (
        "import sys; from grader.quiz.cli import quiz; from grader.quiz.loader import load_bank;"
        "quizzes, errors = load_bank(); assert quizzes and not errors;"
        "print('torch' in sys.modules, 'sympy' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.split() == ["False", "False"], done.stderr
