"""Bank files are validated: a malformed file gets one line naming file, question and problem."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.quiz.errors import QuizFormatError, UnknownQuiz
from grader.quiz.loader import load_bank, load_quiz, load_quiz_file
from grader.quiz.serialize import quiz_to_data

Mutation = Callable[[dict[str, Any]], None]


def _q(data: dict[str, Any], question_id: str) -> dict[str, Any]:
    return next(q for q in data["questions"] if q["id"] == question_id)


def _set(question_id: str, key: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        _q(data, question_id)[key] = value

    return mutate


def _drop(question_id: str, key: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        del _q(data, question_id)[key]

    return mutate


def _two_correct(data: dict[str, Any]) -> None:
    _q(data, "pick-one")["options"][1]["correct"] = True


def _duplicate_id(data: dict[str, Any]) -> None:
    _q(data, "number")["id"] = "pick-one"


def _duplicate_option(data: dict[str, Any]) -> None:
    _q(data, "pick-many")["options"][1]["id"] = "ar"


CASES: list[tuple[Mutation, str | None, str]] = [
    (_set("pick-one", "kind", "essay"), "pick-one", "'kind' must be one of"),
    (_set("number", "anwser", 3), "number", "unknown key 'anwser'"),
    (_drop("number", "answer"), "number", "missing 'answer'"),
    (_set("number", "answer", "six"), "number", "must be a number"),
    (_set("number", "tolerance", -1), "number", "'tolerance' must be at least 0"),
    (_two_correct, "pick-one", "exactly one correct option, not 2"),
    (_drop("pick-many", "rule"), "pick-many", "'rule' (partial credit) must be one of"),
    (_set("pick-many", "rule", "generous"), "pick-many", "must be one of all-or-nothing"),
    (_duplicate_id, "pick-one", "duplicate question id"),
    (_duplicate_option, "pick-many", "duplicate option id"),
    (_set("pick-one", "objectives", [9]), "pick-one", "objective 9 is not one of"),
    (_set("pick-one", "pitfalls", ["typo"]), "pick-one", "pitfall 'typo' is not one of"),
    (_set("pick-one", "stem", ""), "pick-one", "'stem' must be non-empty text"),
    (_set("pick-one", "options", [{"id": "x", "text": "only"}]), "pick-one", "at least two"),
    (_set("expression", "symbols", {"x": {"huge": True}}), "expression", "assumption 'huge'"),
    (_set("expression", "functions", ["eval"]), "expression", "function 'eval' is not one of"),
    (
        _set("number", "template", {"solver": "nope", "params": {"a": {"integer": [1, 2]}}}),
        "number",
        "unknown solver 'nope'",
    ),
    (
        _set("pick-one", "template", {"solver": "glow-logdet", "params": {}}),
        "pick-one",
        "only numeric and symbolic",
    ),
    (_set("number", "points", 0), "number", "'points' must be positive"),
    (_set("number", "misconceptions", [{"id": "m", "feedback": "f"}]), "number", "missing 'value'"),
]


@pytest.mark.parametrize(("mutate", "question", "problem"), CASES)
def test_malformed_question_names_file_question_and_problem(
    tmp_path: Path, tiny_yaml: str, mutate: Mutation, question: str | None, problem: str
) -> None:
    data = yaml.safe_load(tiny_yaml)
    mutate(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(QuizFormatError) as info:
        load_quiz_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: question {question}: ")
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("title: x\nquestions: [\n", "line"),
        ("- just\n- a list\n", "must be a mapping"),
        ("title: x\nmode: quiz\nquestions: []\n", "mode must be one of practice, exam"),
        ("title: x\nquestions: []\n", "at least one question"),
        ("title: x\ncolour: red\nquestions: []\n", "unknown key 'colour'"),
    ],
)
def test_malformed_file_level_problems(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(QuizFormatError, match=problem) as info:
        load_quiz_file(path)
    assert str(info.value).startswith(str(path))


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("title: !!python/object/apply:os.system ['echo hacked']\n", encoding="utf-8")
    with pytest.raises(QuizFormatError, match="YAML"):
        load_quiz_file(path)


def test_unknown_quiz_lists_valid_names(tiny_bank: Path) -> None:
    with pytest.raises(UnknownQuiz, match="valid quizzes: tiny, tiny-exam"):
        load_quiz("nope", tiny_bank)


def test_load_bank_reports_broken_files_and_keeps_the_rest(tiny_bank: Path) -> None:
    (tiny_bank / "broken.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    (tiny_bank / "_draft.yaml").write_text("ignored: true\n", encoding="utf-8")
    quizzes, errors = load_bank(tiny_bank)
    assert [q.name for q in quizzes] == ["tiny", "tiny-exam"]
    assert len(errors) == 1 and "broken.yaml" in str(errors[0])


def test_pinned_options_are_detected(tiny_bank: Path) -> None:
    question = load_quiz("tiny", tiny_bank).question("pick-one")
    assert [o.id for o in question.options if o.pinned] == ["none"]


def test_serialised_data_parses_back_to_the_same_quiz(tiny_bank: Path) -> None:
    from grader.quiz.schema import parse_quiz

    quiz = load_quiz("tiny", tiny_bank)
    again = parse_quiz(copy.deepcopy(quiz_to_data(quiz)), "again", "tiny")
    assert again.questions == quiz.questions


def test_keyless_bank_refuses_key_fields(tmp_path: Path, tiny_yaml: str) -> None:
    data = yaml.safe_load(tiny_yaml)
    data["key"] = False
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(QuizFormatError, match="key: false"):
        load_quiz_file(path)


def test_each_kind_is_its_own_class(tiny_bank: Path) -> None:
    from grader.quiz.kinds import QUESTION_TYPES
    from grader.quiz.serialize import question_to_data

    quiz = load_quiz("tiny", tiny_bank)
    kinds = {type(q).__name__: q.kind for q in quiz.questions}
    assert kinds == {
        "SingleChoice": "single",
        "MultiSelect": "multi",
        "NumericQuestion": "numeric",
        "SymbolicQuestion": "symbolic",
    }
    for question in quiz.questions:
        assert type(question) is QUESTION_TYPES[question.kind]
        assert question_to_data(question)["kind"] == question.kind

    class Names:
        def single(self, q: object) -> str:
            return "single"

        def multi(self, q: object) -> str:
            return "multi"

        def numeric(self, q: object) -> str:
            return "numeric"

        def symbolic(self, q: object) -> str:
            return "symbolic"

    assert [q.accept(Names()) for q in quiz.questions] == [q.kind for q in quiz.questions]
