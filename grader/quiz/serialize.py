"""Writing quizzes back to bank data: the inverse of `grader.quiz.schema.parse_quiz`.

    quiz_to_data(quiz)                    -> dict (what the YAML file holds)
    quiz_to_data(quiz, with_key=False)    -> the same without answers, feedback, solvers
    write_quiz(quiz, path)                -> YAML via yaml.safe_dump
    write_student_bank(quiz, directory)   -> the copy a student kit ships (templates of
                                             practice quizzes as precomputed tables)

`parse_quiz(quiz_to_data(q))` rebuilds `q` exactly (the GIFT round trip relies on it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.quiz.model import KeyedDraw, Misconception, Option, ParamSpec, Question, Quiz
from grader.quiz.tables import with_variant_tables


def quiz_to_data(quiz: Quiz, *, with_key: bool = True) -> dict[str, Any]:
    """The bank-file data of `quiz`; `with_key=False` removes everything that gives answers."""
    keep_key = with_key and quiz.has_key
    data: dict[str, Any] = {"title": quiz.title, "mode": quiz.mode}
    if quiz.description:
        data["description"] = quiz.description
    if not keep_key:
        data["key"] = False
    data["questions"] = [question_to_data(q, with_key=keep_key) for q in quiz.questions]
    return data


def question_to_data(question: Question, *, with_key: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {"id": question.id, "kind": question.kind, "stem": question.stem}
    if question.points != 1.0:
        data["points"] = _plain(question.points)
    if question.objectives:
        data["objectives"] = list(question.objectives)
    if question.pitfalls:
        data["pitfalls"] = list(question.pitfalls)
    if question.is_choice:
        data["options"] = [_option(o, with_key) for o in question.options]
        if not question.shuffle:
            data["shuffle"] = False
        if question.rule is not None:
            data["rule"] = question.rule
    else:
        data.update(_answer_fields(question, with_key))
    if question.variant is not None:
        template: dict[str, Any] = {"params": {p.name: _param(p) for p in question.variant.params}}
        if with_key and question.variant.solver:
            template = {"solver": question.variant.solver, **template}
        if with_key and question.variant.table:
            template["variants"] = [_keyed_draw(row) for row in question.variant.table]
        data["template"] = template
    if with_key and question.explanation:
        data["explanation"] = question.explanation
    return data


def _option(option: Option, with_key: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"id": option.id, "text": option.text}
    if with_key:
        data["correct"] = bool(option.correct)
        if option.feedback:
            data["feedback"] = option.feedback
    if option.pinned:
        data["pin"] = True
    return data


def _answer_fields(question: Question, with_key: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if question.kind == "symbolic":
        data["symbols"] = {name: dict(a) for name, a in question.symbols.items()}
        if question.functions is not None:
            data["functions"] = list(question.functions)
    if not with_key:
        return data
    if question.answer is not None:
        data["answer"] = _plain(question.answer)
    if question.kind == "numeric":
        if question.tolerance:
            data["tolerance"] = _plain(question.tolerance)
        if question.relative:
            data["relative"] = _plain(question.relative)
    if question.correct_feedback:
        data["correct_feedback"] = question.correct_feedback
    if question.misconceptions:
        data["misconceptions"] = [_misconception(m) for m in question.misconceptions]
    return data


def _misconception(item: Misconception) -> dict[str, Any]:
    data: dict[str, Any] = {"id": item.id}
    if item.value is not None:
        data["value"] = _plain(item.value)
    if item.expression is not None:
        data["expression"] = item.expression
    data["feedback"] = item.feedback
    return data


def _keyed_draw(row: KeyedDraw) -> dict[str, Any]:
    data: dict[str, Any] = {
        "params": {name: _plain(value) for name, value in row.params.items()},
        "answer": _plain(row.answer),
    }
    if row.misconceptions:
        data["misconceptions"] = {k: _plain(v) for k, v in row.misconceptions.items()}
    return data


def _param(spec: ParamSpec) -> dict[str, Any]:
    data: dict[str, Any]
    if spec.kind == "choice":
        data = {"choice": [_plain(v) for v in spec.values]}
    else:
        data = {spec.kind: [_plain(spec.low), _plain(spec.high)]}
        if spec.kind == "uniform":
            data["decimals"] = spec.decimals
    if spec.nonzero:
        data["nonzero"] = True
    return data


def _plain(value: float | str) -> float | int | str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def dump_yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def write_quiz(quiz: Quiz, path: Path, *, with_key: bool = True) -> Path:
    """Write `quiz` as a bank file at `path` (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_yaml(quiz_to_data(quiz, with_key=with_key)), encoding="utf-8")
    return path


def write_student_bank(quiz: Quiz, directory: Path) -> Path:
    """Write the student-kit copy of `quiz` to `directory/<name>.yaml`.

    Exam-mode quizzes lose their key (answers, option correctness, feedback, explanations,
    solvers); option ids, pinning and template parameter specs are kept, so a student's
    shown order and numbers are the same as the instructor's `score_attempt` will reproduce.
    Practice quizzes keep their key, since they exist to give feedback at once; their
    templates' solvers are replaced by tables of keyed draws (`grader.quiz.tables`), because
    solvers may call the reference solutions, which the kit does not ship.
    """
    if quiz.mode == "exam":
        return write_quiz(quiz, directory / f"{quiz.name}.yaml", with_key=False)
    return write_quiz(with_variant_tables(quiz), directory / f"{quiz.name}.yaml")
