"""GIFT (Moodle's plain-text question format): export the bank, import GIFT into our format.

    text = export_gift(quiz, seed=0)
    quiz = import_gift(text, name="imported", source="file.gift")   # validated like a bank file

Mapping (GIFT syntax: `::title:: stem { answers ####general feedback }`):

    single    { =right#feedback ~wrong#feedback }
    multi     { ~%50%right#fb ~%-50%wrong#fb }  weights +-100/|C|: Moodle's sum floored at 0
              is our net-correct rule; the question's own rule travels in the metadata
    numeric   {# =answer:tolerance#feedback =%0%mistake:tolerance#misconception feedback }
    symbolic  { =answer#feedback =%0%mistake#feedback }   short answer (Moodle compares text)
    explanation -> general feedback (####)

Everything GIFT cannot say (ids, kinds, rules, points, objectives, symbols, tolerances)
goes in a `// flowgrade: {json}` comment before each question, which Moodle ignores, so
our own export round-trips exactly. Template questions are exported as the variant drawn
with `seed`. GIFT from elsewhere (no metadata) imports multiple choice, multiple answer,
true/false and numeric questions; essays, matching and short answers are refused with
the question named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grader.quiz.errors import QuizFormatError
from grader.quiz.kinds import (
    AnswerQuestion,
    ChoiceQuestion,
    MultiSelect,
    NumericQuestion,
    SingleChoice,
    SymbolicQuestion,
)
from grader.quiz.model import Option, Question, Quiz
from grader.quiz.schema import parse_quiz
from grader.quiz.serialize import question_to_data
from grader.quiz.shown import drawn_quiz

QUIZ_META = "// flowgrade quiz:"
QUESTION_META = "// flowgrade:"
SPECIAL = "\\~=#{}:"


def escape(text: str) -> str:
    """Escape GIFT's special characters; newlines become `\\n`."""
    out = "".join("\\" + c if c in SPECIAL else c for c in text)
    return out.replace("\r\n", "\n").replace("\n", "\\n")


def unescape(text: str) -> str:
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            nxt = text[index + 1]
            out.append("\n" if nxt == "n" else nxt)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out).strip()


# ---------------------------------------------------------------- export


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _percent(weight: float) -> str:
    return f"{weight:.5f}".rstrip("0").rstrip(".")


@dataclass
class _Gift:
    """What one kind contributes to a GIFT question: metadata, opener, answer lines."""

    meta: dict[str, Any]
    answers: list[str]
    opener: str = "{"


class _GiftWriter:
    """The GIFT form of each question kind (a `QuestionVisitor`)."""

    def single(self, question: SingleChoice) -> _Gift:
        return _Gift(_choice_meta(question), _choice_answers(question, _single_mark))

    def multi(self, question: MultiSelect) -> _Gift:
        weight = 100.0 / max(1, len(question.correct_ids))
        return _Gift(
            _choice_meta(question),
            _choice_answers(question, lambda o: f"~%{_percent(weight if o.correct else -weight)}%"),
        )

    def numeric(self, question: NumericQuestion) -> _Gift:
        tolerance = _number(question.tolerance)
        meta = {"tolerance": question.tolerance, "relative": question.relative}
        entries = [(question.answer, question.correct_feedback)]
        entries += [(m.value, m.feedback) for m in question.misconceptions]
        bodies = [f"{_number(float(value))}:{tolerance}" for value, _ in entries]  # type: ignore[arg-type]
        return _Gift(
            {**meta, **_mistake_meta(question)},
            _value_answers(bodies, [f for _, f in entries]),
            "{#",
        )

    def symbolic(self, question: SymbolicQuestion) -> _Gift:
        entries = [(question.answer, question.correct_feedback)]
        entries += [(m.expression, m.feedback) for m in question.misconceptions]
        bodies = [escape(str(value)) for value, _ in entries]
        return _Gift(_mistake_meta(question), _value_answers(bodies, [f for _, f in entries]))


def _single_mark(option: Option) -> str:
    return "=" if option.correct else "~"


def _choice_meta(question: ChoiceQuestion) -> dict[str, Any]:
    return {
        "options": [o.id for o in question.options],
        "pinned": [o.id for o in question.options if o.pinned],
    }


def _mistake_meta(question: AnswerQuestion) -> dict[str, Any]:
    return (
        {"misconceptions": [m.id for m in question.misconceptions]}
        if question.misconceptions
        else {}
    )


def _choice_answers(question: ChoiceQuestion, mark: Callable[[Option], str]) -> list[str]:
    lines = []
    for option in question.options:
        feedback = f"#{escape(option.feedback)}" if option.feedback else ""
        lines.append(f"\t{mark(option)}{escape(option.text)}{feedback}")
    return lines


def _value_answers(bodies: list[str], feedback: list[str]) -> list[str]:
    """The key first (`=`), then each mistake at 0% (`=%0%`), each with its feedback."""
    lines = []
    for index, (body, text) in enumerate(zip(bodies, feedback, strict=True)):
        prefix = "=" if index == 0 else "=%0%"
        lines.append(f"\t{prefix}{body}" + (f"#{escape(text)}" if text else ""))
    return lines


def _meta(question: Question, extra: dict[str, Any]) -> dict[str, Any]:
    data = question_to_data(question)
    meta: dict[str, Any] = {"kind": question.kind}
    for key in ("points", "objectives", "pitfalls", "rule", "shuffle", "symbols", "functions"):
        if key in data:
            meta[key] = data[key]
    return {**meta, **extra}


def export_question(question: Question) -> str:
    """One question as GIFT, preceded by its metadata comment."""
    parts = question.accept(_GiftWriter())
    meta = json.dumps(_meta(question, parts.meta), ensure_ascii=False)
    lines = [f"{QUESTION_META} {meta}"]
    lines.append(f"::{escape(question.id)}::[plain]{escape(question.stem)}{parts.opener}")
    lines += parts.answers
    if question.explanation:
        lines.append(f"\t####{escape(question.explanation)}")
    lines.append("}")
    return "\n".join(lines)


def export_gift(quiz: Quiz, *, seed: int = 0) -> str:
    """The quiz as GIFT; template questions appear as their variant drawn with `seed`."""
    header = {"title": quiz.title, "mode": quiz.mode, "description": quiz.description}
    parts = [
        f"{QUIZ_META} {json.dumps(header, ensure_ascii=False)}",
        f"$CATEGORY: $course$/flowgrade/{quiz.name}",
    ]
    parts += [export_question(question) for question in drawn_quiz(quiz, seed).questions]
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- import: blocks


@dataclass
class _Block:
    """The raw text of one GIFT question and the metadata comment before it, if any."""

    text: str
    line: int
    meta: dict[str, Any] | None = None


@dataclass
class _Entry:
    """One answer entry inside the braces: `=`/`~`, weight, text and feedback."""

    mark: str
    text: str
    feedback: str = ""
    weight: float | None = None


@dataclass
class _Answers:
    entries: list[_Entry] = field(default_factory=list)
    general: str = ""
    numeric: bool = False


def _json_comment(line: str, prefix: str, source: str, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line[len(prefix) :])
    except json.JSONDecodeError:
        raise QuizFormatError(source, f"line {number}: unreadable flowgrade metadata") from None
    if not isinstance(value, dict):
        raise QuizFormatError(source, f"line {number}: flowgrade metadata must be an object")
    return value


def _blocks(text: str, source: str) -> tuple[dict[str, Any], list[_Block]]:
    header: dict[str, Any] = {}
    blocks: list[_Block] = []
    current: list[str] = []
    start, meta = 0, None

    def close() -> None:
        nonlocal current, meta
        if current:
            blocks.append(_Block("\n".join(current), start, meta))
        current, meta = [], None

    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            close()
        elif stripped.startswith(QUIZ_META):
            header = _json_comment(stripped, QUIZ_META, source, number)
        elif stripped.startswith(QUESTION_META):
            close()
            meta = _json_comment(stripped, QUESTION_META, source, number)
        elif stripped.startswith("//") or stripped.startswith("$CATEGORY"):
            continue
        else:
            if not current:
                start = number
            current.append(line)
    close()
    return header, blocks


def _find(text: str, char: str, start: int = 0) -> int:
    """Index of the first unescaped `char` at or after `start`, or -1."""
    index = start
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == char:
            return index
        index += 1
    return -1


def _split_block(block: _Block, source: str) -> tuple[str, str, str]:
    """(title, stem, raw answer text) of one block."""
    text = block.text.strip()
    title = ""
    if text.startswith("::"):
        end = text.find("::", 2)
        while end != -1 and text[end - 1] == "\\":
            end = text.find("::", end + 1)
        if end == -1:
            raise QuizFormatError(source, f"line {block.line}: unclosed ::title::")
        title, text = unescape(text[2:end]), text[end + 2 :].lstrip()
    text = re.sub(r"^\[(html|moodle|plain|markdown)\]", "", text)
    opening = _find(text, "{")
    closing = _find(text, "}", opening + 1) if opening != -1 else -1
    if opening == -1 or closing == -1:
        raise QuizFormatError(source, f"line {block.line}: no {{answer}} block", title or None)
    stem = unescape(text[:opening] + " " + text[closing + 1 :])
    return title, stem, text[opening + 1 : closing]


def _parse_answers(raw: str) -> _Answers:
    answers = _Answers()
    body = raw.strip()
    if body.startswith("#"):
        answers.numeric, body = True, body[1:]
    general = body.find("####")
    while general != -1 and general > 0 and body[general - 1] == "\\":
        general = body.find("####", general + 1)
    if general != -1:
        answers.general, body = unescape(body[general + 4 :]), body[:general]
    pieces, index, last = [], 0, None
    while index < len(body):
        char = body[index]
        if char == "\\":
            index += 2
            continue
        if char in "=~":
            if last is not None:
                pieces.append(body[last:index])
            last = index
        index += 1
    if last is not None:
        pieces.append(body[last:])
    elif body.strip():
        pieces.append("=" + body.strip())  # a bare numeric answer such as {#3.14:0.01}
    for piece in pieces:
        answers.entries.append(_entry(piece))
    return answers


def _entry(piece: str) -> _Entry:
    mark, rest = piece[0], piece[1:].strip()
    weight = None
    match = re.match(r"%(-?\d+(?:\.\d+)?)%", rest)
    if match:
        weight, rest = float(match.group(1)), rest[match.end() :]
    hash_at = _find(rest, "#")
    feedback = ""
    if hash_at != -1:
        rest, feedback = rest[:hash_at], unescape(rest[hash_at + 1 :])
    return _Entry(mark, unescape(rest), feedback, weight)


# ---------------------------------------------------------------- import: questions


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64].strip("-")
    return slug or fallback


def _numeric_value(text: str) -> tuple[float, float]:
    """`3.14:0.01` -> (3.14, 0.01); `3.1..3.2` -> (3.15, 0.05); `3` -> (3, 0)."""
    text = text.strip()
    if ".." in text:
        low, high = (float(v) for v in text.split("..", 1))
        return (low + high) / 2, abs(high - low) / 2
    if ":" in text:
        value, tolerance = text.split(":", 1)
        return float(value), float(tolerance)
    return float(text), 0.0


def _question_data(title: str, stem: str, answers: _Answers, meta: dict[str, Any] | None,
                   fallback_id: str) -> dict[str, Any]:  # fmt: skip
    meta = meta or {}
    data: dict[str, Any] = {"id": _slug(title, fallback_id), "stem": stem}
    for key in ("points", "objectives", "pitfalls"):
        if key in meta:
            data[key] = meta[key]
    if answers.general:
        data["explanation"] = answers.general
    kind = meta.get("kind") or _guess_kind(answers)
    data["kind"] = kind
    if kind in ("single", "multi"):
        data.update(_choice_data(answers, meta, kind))
    else:
        data.update(_value_data(answers, meta, kind))
    return data


def _guess_kind(answers: _Answers) -> str:
    if answers.numeric:
        return "numeric"
    entries = answers.entries
    if not entries:
        raise ValueError("essay questions (empty answer block) are not supported")
    if any("->" in e.text for e in entries):
        raise ValueError("matching questions are not supported")
    if len(entries) == 1 and entries[0].text.upper() in ("T", "F", "TRUE", "FALSE"):
        return "true-false"
    if any(e.weight is not None and e.mark == "~" for e in entries):
        return "multi"
    if all(e.mark == "=" for e in entries):
        raise ValueError("short-answer questions are not supported (no symbolic metadata)")
    return "single"


def _choice_data(answers: _Answers, meta: dict[str, Any], kind: str) -> dict[str, Any]:
    ids = meta.get("options") or [chr(ord("a") + i) for i in range(len(answers.entries))]
    if len(ids) != len(answers.entries):
        raise ValueError("the metadata lists a different number of options")
    pinned = set(meta.get("pinned", []))
    options = []
    for option_id, entry in zip(ids, answers.entries, strict=True):
        correct = entry.mark == "=" if kind == "single" else (entry.weight or 0) > 0
        option: dict[str, Any] = {"id": option_id, "text": entry.text, "correct": correct}
        if entry.feedback:
            option["feedback"] = entry.feedback
        if option_id in pinned:
            option["pin"] = True
        options.append(option)
    data: dict[str, Any] = {"options": options}
    if meta.get("shuffle") is False:
        data["shuffle"] = False
    if kind == "multi":
        data["rule"] = meta.get("rule", "net-correct")
    return data


def _true_false(answers: _Answers) -> dict[str, Any]:
    entry = answers.entries[0]
    truth = entry.text.upper() in ("T", "TRUE")
    return {
        "kind": "single",
        "shuffle": False,
        "options": [
            {"id": "true", "text": "True", "correct": truth},
            {"id": "false", "text": "False", "correct": not truth},
        ],
    }


def _value_data(answers: _Answers, meta: dict[str, Any], kind: str) -> dict[str, Any]:
    right = [e for e in answers.entries if e.weight is None or e.weight >= 100]
    wrong = [e for e in answers.entries if e not in right]
    if not right:
        raise ValueError("no answer with full credit")
    data: dict[str, Any] = {}
    ids = meta.get("misconceptions") or [f"mistake-{i + 1}" for i in range(len(wrong))]
    if kind == "numeric":
        value, tolerance = _numeric_value(right[0].text)
        data["answer"] = value
        data["tolerance"] = meta.get("tolerance", tolerance)
        if meta.get("relative"):
            data["relative"] = meta["relative"]
        items = [
            {"id": i, "value": _numeric_value(e.text)[0], "feedback": e.feedback or "Not correct."}
            for i, e in zip(ids, wrong, strict=True)
        ]
    else:
        data["answer"] = right[0].text
        data["symbols"] = meta.get("symbols", {})
        if "functions" in meta:
            data["functions"] = meta["functions"]
        items = [
            {"id": i, "expression": e.text, "feedback": e.feedback or "Not correct."}
            for i, e in zip(ids, wrong, strict=True)
        ]
    if right[0].feedback:
        data["correct_feedback"] = right[0].feedback
    if items:
        data["misconceptions"] = items
    return data


def import_gift(text: str, name: str, source: str = "<gift>") -> Quiz:
    """Parse GIFT into a Quiz (validated by the bank schema); errors name the question."""
    header, blocks = _blocks(text, source)
    questions = []
    for number, block in enumerate(blocks, start=1):
        title, stem, raw = _split_block(block, source)
        label = title or f"#{number}"
        try:
            answers = _parse_answers(raw)
            if block.meta is None and not answers.numeric and _guess_kind(answers) == "true-false":
                data = {"id": _slug(title, f"q{number}"), "stem": stem, **_true_false(answers)}
                if answers.general:
                    data["explanation"] = answers.general
            else:
                data = _question_data(title, stem, answers, block.meta, f"q{number}")
        except ValueError as err:
            problem = f"line {block.line}: {err}".splitlines()[0]
            raise QuizFormatError(source, problem, label) from None
        questions.append(data)
    quiz_data: dict[str, Any] = {
        "title": header.get("title") or name,
        "mode": header.get("mode", "practice"),
        "questions": questions,
    }
    if header.get("description"):
        quiz_data["description"] = header["description"]
    return parse_quiz(quiz_data, source, name)
