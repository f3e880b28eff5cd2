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

from grader.quiz.model import KeyedDraw, ParamSpec, Question, Quiz
from grader.quiz.question import plain_number
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
    """One question's bank entry: the common keys around its kind's own (`kind_data`)."""
    data: dict[str, Any] = {"id": question.id, "kind": question.kind, "stem": question.stem}
    if question.points != 1.0:
        data["points"] = plain_number(question.points)
    if question.objectives:
        data["objectives"] = list(question.objectives)
    if question.pitfalls:
        data["pitfalls"] = list(question.pitfalls)
    data.update(question.kind_data(with_key))
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


def _keyed_draw(row: KeyedDraw) -> dict[str, Any]:
    data: dict[str, Any] = {
        "params": {name: plain_number(value) for name, value in row.params.items()},
        "answer": plain_number(row.answer),
    }
    if row.misconceptions:
        data["misconceptions"] = {k: plain_number(v) for k, v in row.misconceptions.items()}
    return data


def _param(spec: ParamSpec) -> dict[str, Any]:
    data: dict[str, Any]
    if spec.kind == "choice":
        data = {"choice": [plain_number(v) for v in spec.values]}
    else:
        data = {spec.kind: [plain_number(spec.low), plain_number(spec.high)]}
        if spec.kind == "uniform":
            data["decimals"] = spec.decimals
    if spec.nonzero:
        data["nonzero"] = True
    return data


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
