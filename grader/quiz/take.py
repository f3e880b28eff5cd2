"""Taking a quiz: start or resume an attempt, ask each question, mark, save as it goes.

This is the session logic behind `grade quiz take`, free of click so that tests drive it
with plain text streams. One answer is read per line, so it works the same on a terminal,
over a pipe and in CI. The attempt is saved after every answer; end of input or Ctrl-C
leaves it "in-progress" and the next `take` resumes it with the same order and numbers.

An attempt's `data` (the gradebook's QuizAttemptRecord.data)::

    format: 1
    questions: [{id, order: [option ids as shown], params: {template numbers}}]
    answers:   {question id: {text, chosen: [option ids] | value | expression, at}}
    marks:     {question id: {fraction, points, score, feedback: [feedback ids]}}

States: in-progress, finished (marked), submitted (answered against a bank without key;
`score_attempt` marks it later), abandoned (replaced by `--restart`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from grader.gradebook import Gradebook, QuizAttemptRecord
from grader.gradebook.store import now
from grader.quiz.answers import InvalidAnswer, parse_answer
from grader.quiz.errors import AttemptMismatch, QuizError
from grader.quiz.model import Quiz
from grader.quiz.render import (
    feedback_view,
    terminal_feedback,
    terminal_question,
    terminal_summary,
)
from grader.quiz.scoring import Mark, mark_answer
from grader.quiz.shown import ShownQuestion, prepare_attempt_questions, shown_questions
from grader.quiz.shuffle import attempt_seed

DATA_FORMAT = 1


class Paused(Exception):
    """The input ended (or Ctrl-C was pressed) before the quiz was complete."""


@dataclass
class Console:
    """Where questions go and answers come from; `colour` only when the output is a TTY."""

    input: IO[str]
    output: IO[str]
    colour: bool = False

    def say(self, text: str = "") -> None:
        self.output.write(text if text.endswith("\n") else text + "\n")
        self.output.flush()

    def ask(self, prompt: str) -> str:
        self.output.write(prompt)
        self.output.flush()
        line = self.input.readline()
        if not line:
            self.output.write("\n")
            raise Paused
        if not getattr(self.input, "isatty", lambda: False)():
            self.output.write(line if line.endswith("\n") else line + "\n")
        return line.rstrip("\r\n")


# ---------------------------------------------------------------- starting


def new_attempt(quiz: Quiz, student: str, attempt: int) -> QuizAttemptRecord:
    """A fresh attempt record (not saved): seeded option orders and template numbers."""
    seed = attempt_seed(student, quiz.name, attempt)
    data = {
        "format": DATA_FORMAT,
        "questions": prepare_attempt_questions(quiz, seed),
        "answers": {},
        "marks": {},
    }
    return QuizAttemptRecord(student, quiz.name, attempt, seed, quiz.mode, data=data)


def begin_attempt(
    book: Gradebook, quiz: Quiz, student: str, *, restart: bool = False
) -> tuple[QuizAttemptRecord, bool]:
    """The attempt to work on and whether it is resumed: the in-progress one, else a new one.

    With `restart`, an in-progress attempt is marked abandoned and a new one begins.
    """
    latest = book.latest_quiz_attempt(student, quiz.name)
    if latest is not None and latest.state == "in-progress":
        if not restart:
            try:
                shown_questions(quiz, latest.data.get("questions", []))
            except AttemptMismatch as err:
                raise QuizError(f"{err}; run with --restart to begin a new attempt") from None
            return latest, True
        latest.state = "abandoned"
        book.save_quiz_attempt(latest)
    record = new_attempt(quiz, student, 1 if latest is None else latest.attempt + 1)
    book.save_quiz_attempt(record)
    return record, False


# ---------------------------------------------------------------- asking


def ask_question(shown: ShownQuestion, total: int, console: Console) -> dict[str, Any]:
    """Show one question and read lines until one is a valid answer."""
    console.say()
    console.say(terminal_question(shown, total, colour=console.colour))
    while True:
        text = console.ask("Your answer: ")
        try:
            answer = parse_answer(shown, text)
        except InvalidAnswer as err:
            console.say(f"  {err}")
            continue
        answer["at"] = now()
        return answer


def run_attempt(
    quiz: Quiz,
    record: QuizAttemptRecord,
    console: Console,
    save: Callable[[QuizAttemptRecord], object],
) -> str:
    """Ask every unanswered question, then finish. Returns the record's final state.

    `save` is called after every answer and at the end (e.g. Gradebook.save_quiz_attempt).
    Practice mode shows each answer's feedback at once; exam mode shows it at the end; a
    bank without key records the answers as "submitted", unmarked.
    """
    shown = shown_questions(quiz, record.data["questions"])
    answers: dict[str, Any] = record.data.setdefault("answers", {})
    marks: dict[str, Any] = record.data.setdefault("marks", {})
    if answers:
        console.say(f"Resuming attempt {record.attempt}: {len(answers)} of {len(shown)} answered.")
    immediate = quiz.mode == "practice" and quiz.has_key
    try:
        for item in shown:
            if item.id in answers:
                continue
            answer = ask_question(item, len(shown), console)
            answers[item.id] = answer
            if immediate:
                mark = mark_answer(item.question, answer)
                marks[item.id] = mark.to_data()
                console.say(
                    terminal_feedback(feedback_view(item, answer, mark), colour=console.colour)
                )
            save(record)
    except (Paused, KeyboardInterrupt):
        save(record)
        return record.state
    finish_attempt(quiz, record, shown)
    save(record)
    show_results(quiz, record, console, detailed=quiz.has_key and not immediate, shown=shown)
    return record.state


def finish_attempt(
    quiz: Quiz, record: QuizAttemptRecord, shown: list[ShownQuestion] | None = None
) -> None:
    """Mark every answer (when the bank has its key) and close the attempt."""
    shown = shown or shown_questions(quiz, record.data["questions"])
    answers = record.data.get("answers", {})
    marks = record.data.setdefault("marks", {})
    record.finished_at = now()
    record.max_score = float(sum(item.question.points for item in shown))
    if not quiz.has_key:
        record.state, record.score = "submitted", None
        return
    for item in shown:
        if item.id not in marks:
            answer = answers.get(item.id)
            mark = mark_answer(item.question, answer) if answer else Mark(0.0, item.question.points)
            marks[item.id] = mark.to_data()
    record.score = round(sum(float(m["score"]) for m in marks.values()), 6)
    record.state = "finished"


def show_results(
    quiz: Quiz,
    record: QuizAttemptRecord,
    console: Console,
    *,
    detailed: bool,
    shown: list[ShownQuestion] | None = None,
) -> None:
    """Print the feedback of every question (when `detailed`) and the score summary."""
    shown = shown or shown_questions(quiz, record.data["questions"])
    answers = record.data.get("answers", {})
    marks = record.data.get("marks", {})
    rows = []
    for item in shown:
        stored = marks.get(item.id)
        view = feedback_view(item, answers.get(item.id), Mark.from_data(stored) if stored else None)
        rows.append((item, view))
        if detailed:
            console.say()
            console.say(terminal_question(item, len(shown), colour=console.colour))
            console.say(terminal_feedback(view, colour=console.colour))
    console.say()
    console.say(terminal_summary(quiz, rows, record.state, colour=console.colour))


def review_attempt(quiz: Quiz, record: QuizAttemptRecord, console: Console) -> None:
    """Replay a stored attempt: each question as shown, the answer given, its feedback."""
    header = f"Attempt {record.attempt} of {record.student} at {quiz.name} ({record.state})"
    console.say(header)
    if record.state == "in-progress":
        console.say(f"Not finished yet: `grade quiz take {quiz.name}` continues it.")
    show_results(quiz, record, console, detailed=True)


# ---------------------------------------------------------------- instructor side


def score_attempt(quiz: Quiz, record: QuizAttemptRecord) -> QuizAttemptRecord:
    """Mark a (submitted) attempt against the full bank; returns a new, finished record.

    Uses the attempt's stored option orders and template numbers, so the key is the one
    for what this student saw. Raises QuizError when the bank has no key, and
    AttemptMismatch when the attempt does not fit this quiz.
    """
    if not quiz.has_key:
        raise QuizError(f"quiz {quiz.name}: this bank has no key; use the instructor's bank")
    if record.quiz != quiz.name:
        raise AttemptMismatch(f"the attempt is for quiz {record.quiz!r}, not {quiz.name!r}")
    marked = dataclasses.replace(record, data=copy.deepcopy(record.data))
    marked.data["marks"] = {}
    finished_at = record.finished_at
    finish_attempt(quiz, marked)
    marked.finished_at = finished_at or marked.finished_at
    return marked
