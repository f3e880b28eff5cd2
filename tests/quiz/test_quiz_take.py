"""Taking a quiz without click: practice/exam feedback, re-prompts, pause/resume, keyless banks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from grader.gradebook import Gradebook
from grader.quiz.attempt_file import load_attempt_file, write_attempt_file
from grader.quiz.errors import AttemptFileError, AttemptMismatch, QuizError
from grader.quiz.loader import load_quiz, load_quiz_file
from grader.quiz.model import Quiz
from grader.quiz.serialize import write_student_bank
from grader.quiz.shown import ShownQuestion, shown_questions
from grader.quiz.take import Console, begin_attempt, review_attempt, run_attempt, score_attempt

RIGHT_EXPRESSION = "-log(a) - log(2 pi)/2 - (x-b)^2/(2a^2)"


def letters(item: ShownQuestion, *option_ids: str) -> str:
    return " ".join(item.letter_of(o) for o in option_ids)


def answers_for(shown: list[ShownQuestion], *, right: bool) -> list[str]:
    """Typed lines answering the tiny quiz (all right, or a fixed wrong set)."""
    one, many = shown[:2]
    if right:
        return [letters(one, "right"), letters(many, "ar", "cp"), "6.946", RIGHT_EXPRESSION]
    return [letters(one, "wrong"), letters(many, "ar"), "3.5", "-log(2pi)/2 - (x-b)^2/(2a^2)"]


def take(quiz: Quiz, book: Gradebook, lines: list[str], student: str = "s1") -> tuple[str, str]:
    record, _ = begin_attempt(book, quiz, student)
    output = io.StringIO()
    console = Console(io.StringIO("".join(line + "\n" for line in lines)), output)
    state = run_attempt(quiz, record, console, book.save_quiz_attempt)
    return state, output.getvalue()


@pytest.fixture
def book(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Gradebook.open(tmp_path / "gradebook.sqlite") as opened:
        yield opened


def plan_of(book: Gradebook, quiz: Quiz, student: str = "s1") -> list[ShownQuestion]:
    record, _ = begin_attempt(book, quiz, student)
    return shown_questions(quiz, record.data["questions"])


def test_practice_shows_feedback_at_once_and_scores(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    shown = plan_of(book, quiz)
    state, output = take(quiz, book, answers_for(shown, right=False))
    assert state == "finished"
    wrong_letter = shown[0].letter_of("wrong")
    first_feedback = output.index(f"If you chose {wrong_letter}: Upside down")
    assert first_feedback < output.index("Question 2 of 4")  # immediate, before the next question
    assert "You used the log-scale as the scale." in output
    assert "Missing -log a." in output
    assert "Total: 0.5 / 5" in output
    record = book.latest_quiz_attempt("s1", "tiny")
    assert record is not None and record.state == "finished" and record.score == 0.5
    assert record.data["answers"]["pick-one"]["chosen"] == ["wrong"]
    assert record.data["marks"]["number"]["feedback"] == ["misconception:log-scale"]
    assert record.finished_at and record.started_at


def test_exam_mode_shows_feedback_only_at_the_end(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny-exam", tiny_bank)
    shown = plan_of(book, quiz)
    state, output = take(quiz, book, answers_for(shown, right=True))
    assert state == "finished"
    last_question = output.index("Question 4 of 4")
    assert "Correct (" not in output[:last_question]
    assert output.index("Question 1 of 4", last_question) < output.index("Correct (")
    assert output.count("Correct (") == 4 and "Total: 5 / 5" in output


def test_invalid_input_reprompts_with_a_hint(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    shown = plan_of(book, quiz)
    good = answers_for(shown, right=True)
    lines = ["Z", "", good[0], "A A", good[1], "six", good[2], "__import__('os')", good[3]]
    state, output = take(quiz, book, lines)
    assert state == "finished"
    assert "'Z' is not a choice here; type one letter, A-D" in output
    assert "no answer given" in output
    assert "a letter appears twice" in output
    assert "type a number" in output
    assert "is not allowed in an expression" in output
    assert "Total: 5 / 5" in output


def test_end_of_input_pauses_and_take_resumes(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    shown = plan_of(book, quiz)
    good = answers_for(shown, right=True)
    state, _ = take(quiz, book, good[:2])
    assert state == "in-progress"
    paused = book.latest_quiz_attempt("s1", "tiny")
    assert paused is not None and set(paused.data["answers"]) == {"pick-one", "pick-many"}
    state, output = take(quiz, book, good[2:])
    assert state == "finished" and "Resuming attempt 1: 2 of 4 answered." in output
    assert "Question 1 of 4" not in output
    attempts = book.quiz_attempts(quiz="tiny", student="s1")
    assert len(attempts) == 1 and attempts[0].score == 5.0


def test_ctrl_c_saves_progress(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    shown = plan_of(book, quiz)

    class Interrupting(io.StringIO):
        def readline(self, *_: object) -> str:  # type: ignore[override]
            if self.tell() >= len(self.getvalue()):
                raise KeyboardInterrupt
            return super().readline()

    record, _ = begin_attempt(book, quiz, "s1")
    console = Console(Interrupting(answers_for(shown, right=True)[0] + "\n"), io.StringIO())
    assert run_attempt(quiz, record, console, book.save_quiz_attempt) == "in-progress"
    saved = book.latest_quiz_attempt("s1", "tiny")
    assert saved is not None and list(saved.data["answers"]) == ["pick-one"]


def test_a_new_attempt_after_finishing_has_its_own_seed(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    take(quiz, book, answers_for(plan_of(book, quiz), right=True))
    second, resumed = begin_attempt(book, quiz, "s1")
    assert not resumed and second.attempt == 2
    first = book.quiz_attempts(quiz="tiny", student="s1")[0]
    assert second.seed != first.seed


def test_restart_abandons_the_unfinished_attempt(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    take(quiz, book, [])
    record, resumed = begin_attempt(book, quiz, "s1", restart=True)
    assert not resumed and record.attempt == 2
    states = [a.state for a in book.quiz_attempts(quiz="tiny", student="s1")]
    assert states == ["abandoned", "in-progress"]


def test_resume_after_the_bank_changed_is_refused(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    take(quiz, book, [])
    path = tiny_bank / "tiny.yaml"
    path.write_text(path.read_text().replace("id: pick-one", "id: pick-first"))
    with pytest.raises(QuizError, match="--restart"):
        begin_attempt(book, load_quiz("tiny", tiny_bank), "s1")


def test_review_replays_the_stored_attempt(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    shown = plan_of(book, quiz)
    take(quiz, book, answers_for(shown, right=False))
    record = book.latest_quiz_attempt("s1", "tiny")
    assert record is not None
    output = io.StringIO()
    review_attempt(quiz, record, Console(io.StringIO(), output))
    text = output.getvalue()
    assert f"If you chose {shown[0].letter_of('wrong')}: Upside down" in text
    assert "Your answer: 3.5" in text and "Total: 0.5 / 5" in text
    assert text.index("Question 1 of 4") < text.index("Question 4 of 4")


# ---------------------------------------------------------------- keyless banks (student kit)


def test_student_bank_strips_the_key_of_exam_quizzes(tiny_bank: Path, tmp_path: Path) -> None:
    exam = load_quiz("tiny-exam", tiny_bank)
    kit = write_student_bank(exam, tmp_path / "kit")
    text = kit.read_text()
    for secret in ("correct:", "6.946", "Upside down", "Mass is conserved", "log-scale", "2*a**2"):
        assert secret not in text
    stripped = load_quiz_file(kit)
    assert not stripped.has_key
    practice = write_student_bank(load_quiz("tiny", tiny_bank), tmp_path / "kit")
    assert load_quiz_file(practice).has_key


def test_keyless_attempt_is_submitted_then_scored_by_the_instructor(
    tiny_bank: Path, tmp_path: Path, book: Gradebook
) -> None:
    full = load_quiz("tiny-exam", tiny_bank)
    kit = load_quiz_file(write_student_bank(full, tmp_path / "kit"))
    shown = plan_of(book, kit, "kid")
    state, output = take(kit, book, answers_for(shown, right=True), student="kid")
    assert state == "submitted" and "instructor will mark" in output
    submitted = book.latest_quiz_attempt("kid", "tiny-exam")
    assert submitted is not None and submitted.score is None and submitted.max_score == 5.0
    assert submitted.data["marks"] == {}
    marked = score_attempt(full, submitted)
    assert marked.state == "finished" and marked.score == 5.0
    assert submitted.state == "submitted"  # the original record is left alone
    with pytest.raises(QuizError):
        score_attempt(kit, submitted)


def test_score_attempt_refuses_a_mismatched_attempt(tiny_bank: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    take(quiz, book, answers_for(plan_of(book, quiz), right=True))
    record = book.latest_quiz_attempt("s1", "tiny")
    assert record is not None
    with pytest.raises(AttemptMismatch):
        score_attempt(load_quiz("tiny-exam", tiny_bank), record)


# ---------------------------------------------------------------- attempt files


def test_attempt_file_round_trip(tiny_bank: Path, tmp_path: Path, book: Gradebook) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    take(quiz, book, answers_for(plan_of(book, quiz), right=True))
    record = book.latest_quiz_attempt("s1", "tiny")
    assert record is not None
    path = write_attempt_file(record, tmp_path / "attempt.json")
    loaded = load_attempt_file(path)
    assert loaded.data == record.data and loaded.score == record.score and loaded.id is None
    assert score_attempt(quiz, loaded).score == 5.0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not a quiz attempt file"),
        ('{"format": "flowgrade-quiz-attempt", "version": 9}', "unsupported version"),
        ('{"format": "flowgrade-quiz-attempt", "version": 1, "student": 3}', "field 'student'"),
    ],
)
def test_bad_attempt_files_fail_with_one_line_naming_the_file(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(AttemptFileError) as info:
        load_attempt_file(path)
    assert str(info.value).startswith(f"{path}: ") and problem in str(info.value)
    assert "\n" not in str(info.value)


def test_attempt_file_with_stray_answers_is_refused(
    tiny_bank: Path, tmp_path: Path, book: Gradebook
) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    take(quiz, book, [])
    record = book.latest_quiz_attempt("s1", "tiny")
    assert record is not None
    path = write_attempt_file(record, tmp_path / "a.json")
    payload = json.loads(path.read_text())
    payload["data"]["answers"]["ghost"] = {"text": "A"}
    path.write_text(json.dumps(payload))
    with pytest.raises(AttemptFileError, match="unknown question 'ghost'"):
        load_attempt_file(path)
    with pytest.raises(AttemptFileError, match="no such file"):
        load_attempt_file(tmp_path / "missing.json")
