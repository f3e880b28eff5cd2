"""Validation of a quiz bank file's data against the schema, producing the typed model.

    parse_quiz(data, source="quizzes/coupling.yaml", name="coupling") -> Quiz

Every problem raises QuizFormatError naming the file, the question id and what is wrong
(unknown keys included, so typos such as `anwser` are caught). The bank format::

    title: str                   mode: practice | exam        description: str (optional)
    key: true                    (false in a student-kit copy: no answers, no feedback)
    questions:
      - id: lower-case-id        kind: single | multi | numeric | symbolic
        stem: str                points: 1          explanation: str
        objectives: [1..5]       pitfalls: [ids from grader.quiz.syllabus.PITFALLS]
        options: [{id, text, correct: bool, feedback, pin: bool}]      # single / multi
        shuffle: true            rule: all-or-nothing | net-correct | coverage | each-answer
        answer: 0.58             tolerance: 0.005   relative: 0.0      # numeric
        answer: "k*log(a)"       symbols: {a: {positive: true}}        # symbolic
        functions: [log, exp]    correct_feedback: str
        misconceptions: [{id, feedback, value | expression}]
        template: {solver: name, params: {p: {uniform: [lo, hi], decimals: 2} |
                                              {integer: [lo, hi]} | {choice: [..]}}}

A student-kit copy of a practice quiz replaces a template's solver by a table of keyed
draws made at release time (`grader.quiz.tables`)::

        template: {params: {...}, variants: [{params: {p: 0.5}, answer: 1.2,
                                              misconceptions: {id: 0.7}}, ...]}

Every row names exactly the template's parameters (values its spec can draw) and gives a
value for exactly the question's misconception ids. A bank with key: false has no table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from grader.quiz.errors import QuizFormatError
from grader.quiz.model import (
    KINDS,
    MODES,
    RULES,
    KeyedDraw,
    Misconception,
    Option,
    ParamSpec,
    Question,
    Quiz,
)
from grader.quiz.model import Variant as VariantSpec
from grader.quiz.shuffle import is_pinned_text
from grader.quiz.solvers import SOLVERS
from grader.quiz.syllabus import OBJECTIVES, PITFALLS
from grader.symbolic import ASSUMPTIONS, FUNCTION_NAMES

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
QUIZ_KEYS = {"title", "mode", "description", "key", "questions"}
COMMON_KEYS = {"id", "kind", "stem", "points", "explanation", "objectives", "pitfalls"}
KIND_KEYS = {
    "single": {"options", "shuffle"},
    "multi": {"options", "shuffle", "rule"},
    "numeric": {"answer", "tolerance", "relative", "correct_feedback", "misconceptions"},
    "symbolic": {"answer", "symbols", "functions", "correct_feedback", "misconceptions"},
}
TEMPLATE_KINDS = ("numeric", "symbolic")
TEMPLATE_KEYS = {"solver", "params", "variants"}
ROW_KEYS = {"params", "answer", "misconceptions"}
KEY_FIELDS = ("answer", "correct_feedback", "misconceptions", "explanation")


class _Where:
    """The file and question being read, so every error names both."""

    def __init__(self, source: str, question: str | None = None) -> None:
        self.source = source
        self.question = question

    def fail(self, problem: str) -> QuizFormatError:
        return QuizFormatError(self.source, problem, self.question)

    def mapping(self, value: Any, what: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"{what} must be a mapping (key: value), not {_type(value)}")
        return value

    def known_keys(self, data: Mapping[str, Any], allowed: set[str], what: str) -> None:
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            expected = ", ".join(sorted(allowed))
            raise self.fail(f"unknown key {unknown[0]!r} in {what} (expected one of: {expected})")

    def text(self, data: Mapping[str, Any], key: str, *, required: bool = True) -> str:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(f"missing {key!r}")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(f"{key!r} must be non-empty text")
        return value.strip()

    def number(self, data: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{key!r} must be a number, not {_type(value)}")
        if value < minimum:
            raise self.fail(f"{key!r} must be at least {minimum:g}")
        return float(value)

    def boolean(self, data: Mapping[str, Any], key: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key!r} must be true or false")
        return value

    def items(self, data: Mapping[str, Any], key: str) -> list[Any]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{key!r} must be a list")
        return value


def _type(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


# ---------------------------------------------------------------- quiz


def parse_quiz(data: Any, source: str, name: str) -> Quiz:
    """Validate one bank file's parsed YAML and build the Quiz (or raise QuizFormatError)."""
    where = _Where(source)
    top = where.mapping(data, "the quiz file")
    where.known_keys(top, QUIZ_KEYS, "the quiz")
    mode = top.get("mode", "practice")
    if mode not in MODES:
        raise where.fail(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    has_key = where.boolean(top, "key", True)
    raw_questions = where.items(top, "questions")
    if not raw_questions:
        raise where.fail("'questions' must list at least one question")
    questions: list[Question] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_questions, start=1):
        question = _parse_question(raw, source, index, has_key)
        if question.id in seen:
            raise QuizFormatError(source, "duplicate question id", question.id)
        seen.add(question.id)
        questions.append(question)
    return Quiz(
        name=name,
        title=where.text(top, "title"),
        mode=mode,
        questions=tuple(questions),
        description=where.text(top, "description", required=False),
        has_key=has_key,
    )


# ---------------------------------------------------------------- questions


def _parse_question(raw: Any, source: str, index: int, has_key: bool) -> Question:
    label = str(raw.get("id")) if isinstance(raw, Mapping) and raw.get("id") else f"#{index}"
    where = _Where(source, label)
    data = where.mapping(raw, "a question")
    question_id = data.get("id")
    if not isinstance(question_id, str) or not ID_PATTERN.fullmatch(question_id):
        raise where.fail("'id' must be lower-case letters, digits and '-' (e.g. coupling-logdet)")
    kind = data.get("kind")
    if kind not in KINDS:
        raise where.fail(f"'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    allowed = COMMON_KEYS | KIND_KEYS[kind] | {"template"}
    where.known_keys(data, allowed, f"a {kind} question")
    if not has_key:
        _forbid_key_fields(where, data)
    fields: dict[str, Any] = {
        "id": question_id,
        "kind": kind,
        "stem": where.text(data, "stem"),
        "points": where.number(data, "points", 1.0, 0.0),
        "explanation": where.text(data, "explanation", required=False),
        "objectives": _objectives(where, data),
        "pitfalls": _pitfalls(where, data),
    }
    if fields["points"] <= 0:
        raise where.fail("'points' must be positive")
    variant = _template(where, data, kind, has_key)
    if kind in ("single", "multi"):
        fields.update(_choice_fields(where, data, kind, has_key))
    else:
        fields.update(_answer_fields(where, data, kind, has_key, templated=variant is not None))
    if variant is not None and variant.table:
        _check_table_misconceptions(where, variant.table, fields["misconceptions"])
    return Question(variant=variant, **fields)


def _forbid_key_fields(where: _Where, data: Mapping[str, Any]) -> None:
    for key in KEY_FIELDS:
        if data.get(key) not in (None, "", []):
            raise where.fail(f"the quiz has key: false but the question has {key!r}")
    for option in data.get("options") or []:
        if isinstance(option, Mapping) and ("correct" in option or option.get("feedback")):
            raise where.fail("the quiz has key: false but an option has 'correct' or 'feedback'")


def _objectives(where: _Where, data: Mapping[str, Any]) -> tuple[int, ...]:
    values = where.items(data, "objectives")
    for value in values:
        if value not in OBJECTIVES or isinstance(value, bool):
            valid = ", ".join(map(str, OBJECTIVES))
            raise where.fail(f"objective {value!r} is not one of {valid}")
    return tuple(values)


def _pitfalls(where: _Where, data: Mapping[str, Any]) -> tuple[str, ...]:
    values = where.items(data, "pitfalls")
    for value in values:
        if value not in PITFALLS:
            raise where.fail(f"pitfall {value!r} is not one of {', '.join(PITFALLS)}")
    return tuple(values)


def _choice_fields(
    where: _Where, data: Mapping[str, Any], kind: str, has_key: bool
) -> dict[str, Any]:
    raw_options = enumerate(where.items(data, "options"))
    options = tuple(_option(where, raw, n, has_key) for n, raw in raw_options)
    if len(options) < 2:
        raise where.fail("a choice question needs at least two options")
    ids = [o.id for o in options]
    if len(set(ids)) != len(ids):
        raise where.fail(f"duplicate option id in {ids}")
    correct = [o for o in options if o.correct]
    if has_key and kind == "single" and len(correct) != 1:
        raise where.fail(
            f"a single-choice question needs exactly one correct option, not {len(correct)}"
        )
    if has_key and kind == "multi" and not correct:
        raise where.fail("a multiple-select question needs at least one correct option")
    fields: dict[str, Any] = {"options": options, "shuffle": where.boolean(data, "shuffle", True)}
    if kind == "multi":
        rule = data.get("rule")
        if rule not in RULES:
            raise where.fail(
                f"'rule' (partial credit) must be one of {', '.join(RULES)}, not {rule!r}"
            )
        fields["rule"] = rule
    return fields


def _option(where: _Where, raw: Any, index: int, has_key: bool) -> Option:
    data = where.mapping(raw, f"option {index + 1}")
    where.known_keys(data, {"id", "text", "correct", "feedback", "pin"}, "an option")
    option_id = data.get("id")
    if not isinstance(option_id, str) or not ID_PATTERN.fullmatch(option_id):
        raise where.fail(f"option {index + 1}: 'id' must be lower-case letters, digits and '-'")
    correct = data.get("correct")
    if correct is not None and not isinstance(correct, bool):
        raise where.fail(f"option {option_id}: 'correct' must be true or false")
    text = where.text(data, "text")
    return Option(
        id=option_id,
        text=text,
        correct=bool(correct) if has_key else None,
        feedback=where.text(data, "feedback", required=False),
        pinned=where.boolean(data, "pin", False) or is_pinned_text(text),
    )


def _answer_fields(
    where: _Where, data: Mapping[str, Any], kind: str, has_key: bool, templated: bool
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "correct_feedback": where.text(data, "correct_feedback", required=False),
        "misconceptions": _misconceptions(where, data, kind, templated),
    }
    answer = data.get("answer")
    if kind == "numeric":
        fields["tolerance"] = where.number(data, "tolerance", 0.0, 0.0)
        fields["relative"] = where.number(data, "relative", 0.0, 0.0)
        if answer is not None and (isinstance(answer, bool) or not isinstance(answer, int | float)):
            raise where.fail("'answer' of a numeric question must be a number")
        fields["answer"] = None if answer is None else float(answer)
    else:
        if answer is not None and (not isinstance(answer, str) or not answer.strip()):
            raise where.fail("'answer' of a symbolic question must be an expression in quotes")
        fields["answer"] = answer
        fields["symbols"] = _symbols(where, data)
        fields["functions"] = _functions(where, data)
    if has_key and not templated and fields["answer"] is None:
        raise where.fail("missing 'answer'")
    if templated and answer is not None:
        raise where.fail("a template's answer is computed by its solver; remove 'answer'")
    return fields


def _misconceptions(
    where: _Where, data: Mapping[str, Any], kind: str, templated: bool
) -> tuple[Misconception, ...]:
    result = []
    field = "value" if kind == "numeric" else "expression"
    for raw in where.items(data, "misconceptions"):
        item = where.mapping(raw, "a misconception")
        where.known_keys(item, {"id", "feedback", field}, "a misconception")
        item_id = item.get("id")
        if not isinstance(item_id, str) or not ID_PATTERN.fullmatch(item_id):
            raise where.fail("a misconception needs an 'id' of lower-case letters, digits and '-'")
        value = item.get(field)
        if templated and value is not None:
            raise where.fail(f"misconception {item_id}: a template's solver computes the {field}")
        if not templated and value is None:
            raise where.fail(f"misconception {item_id}: missing {field!r}")
        if field == "value" and value is not None and not isinstance(value, int | float):
            raise where.fail(f"misconception {item_id}: 'value' must be a number")
        if field == "expression" and value is not None and not isinstance(value, str):
            raise where.fail(f"misconception {item_id}: 'expression' must be text in quotes")
        result.append(
            Misconception(
                id=item_id,
                feedback=where.text(item, "feedback"),
                value=float(value) if field == "value" and value is not None else None,
                expression=value if field == "expression" else None,
            )
        )
    return tuple(result)


def _symbols(where: _Where, data: Mapping[str, Any]) -> dict[str, dict[str, bool]]:
    raw = where.mapping(data.get("symbols", {}), "'symbols'")
    symbols: dict[str, dict[str, bool]] = {}
    for name, assumptions in raw.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
            raise where.fail(f"symbol name {name!r} must be letters and digits")
        if name in FUNCTION_NAMES:
            raise where.fail(f"symbol {name!r} clashes with a function name")
        spec = where.mapping(assumptions or {}, f"assumptions of symbol {name}")
        for key, value in spec.items():
            if key not in ASSUMPTIONS or not isinstance(value, bool):
                raise where.fail(f"symbol {name}: assumption {key!r} must be one of {ASSUMPTIONS}")
        symbols[name] = dict(spec)
    return symbols


def _functions(where: _Where, data: Mapping[str, Any]) -> tuple[str, ...] | None:
    if "functions" not in data:
        return None
    names = where.items(data, "functions")
    for name in names:
        if name not in FUNCTION_NAMES:
            raise where.fail(f"function {name!r} is not one of {', '.join(FUNCTION_NAMES)}")
    return tuple(names)


# ---------------------------------------------------------------- templates


def _template(
    where: _Where, data: Mapping[str, Any], kind: str, has_key: bool
) -> VariantSpec | None:
    if "template" not in data:
        return None
    if kind not in TEMPLATE_KINDS:
        raise where.fail(f"only {' and '.join(TEMPLATE_KINDS)} questions can be templates")
    spec = where.mapping(data["template"], "'template'")
    where.known_keys(spec, TEMPLATE_KEYS, "'template'")
    solver = spec.get("solver")
    has_table = "variants" in spec
    if has_table and not has_key:
        raise where.fail("the quiz has key: false but the template has 'variants' (answers)")
    if has_table and solver is not None:
        raise where.fail("a template has a 'solver' or a 'variants' table, not both")
    if solver is None and has_key and not has_table:
        raise where.fail("a template needs a 'solver' that computes its answer")
    if solver is not None and solver not in SOLVERS:
        raise where.fail(f"unknown solver {solver!r}; valid solvers: {', '.join(sorted(SOLVERS))}")
    params = where.mapping(spec.get("params"), "template 'params'")
    if not params:
        raise where.fail("a template needs at least one parameter")
    specs = tuple(_param(where, str(n), p) for n, p in params.items())
    table = _table(where, spec["variants"], specs, kind) if has_table else ()
    return VariantSpec(specs, solver, table)


def _param(where: _Where, name: str, raw: Any) -> ParamSpec:
    spec = where.mapping(raw, f"parameter {name}")
    where.known_keys(spec, {"uniform", "integer", "choice", "decimals", "nonzero"}, name)
    kinds = [k for k in ("uniform", "integer", "choice") if k in spec]
    if len(kinds) != 1:
        raise where.fail(f"parameter {name}: give exactly one of uniform, integer, choice")
    kind = kinds[0]
    values = spec[kind]
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ):
        raise where.fail(f"parameter {name}: {kind} needs a list of numbers")
    nonzero = where.boolean(spec, "nonzero", False)
    decimals = spec.get("decimals", 2)
    if not isinstance(decimals, int) or not 0 <= decimals <= 6:
        raise where.fail(f"parameter {name}: 'decimals' must be an integer from 0 to 6")
    if kind == "choice":
        return ParamSpec(name, "choice", values=tuple(float(v) for v in values), nonzero=nonzero)
    if len(values) != 2 or values[0] > values[1]:
        raise where.fail(f"parameter {name}: {kind} needs [low, high] with low <= high")
    return ParamSpec(name, kind, float(values[0]), float(values[1]), decimals, nonzero=nonzero)


# ---------------------------------------------------------------- variant tables


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _table(
    where: _Where, raw: Any, specs: tuple[ParamSpec, ...], kind: str
) -> tuple[KeyedDraw, ...]:
    if not isinstance(raw, list) or not raw:
        raise where.fail("template 'variants' must list at least one variant")
    return tuple(_row(where, item, n, specs, kind) for n, item in enumerate(raw, start=1))


def _row(where: _Where, raw: Any, n: int, specs: tuple[ParamSpec, ...], kind: str) -> KeyedDraw:
    row = where.mapping(raw, f"variant {n}")
    where.known_keys(row, ROW_KEYS, f"variant {n}")
    values = where.mapping(row.get("params"), f"'params' of variant {n}")
    names = [spec.name for spec in specs]
    extra = [str(name) for name in values if name not in names]
    if extra:
        raise where.fail(f"variant {n}: unknown parameter {extra[0]!r} (expected {names})")
    params: dict[str, float] = {}
    for spec in specs:
        if spec.name not in values:
            raise where.fail(f"variant {n}: missing parameter {spec.name!r}")
        value = values[spec.name]
        if not _is_number(value) or not _drawable(spec, value):
            raise where.fail(f"variant {n}: parameter {spec.name} = {value!r} is not in its range")
        params[spec.name] = value
    answer = row.get("answer")
    wrong = where.mapping(row.get("misconceptions", {}), f"'misconceptions' of variant {n}")
    if kind == "numeric":
        if not _is_number(answer) or not all(_is_number(v) for v in wrong.values()):
            raise where.fail(f"variant {n}: the answer and misconception values must be numbers")
        return KeyedDraw(params, float(answer), {str(k): float(v) for k, v in wrong.items()})
    texts = [answer, *wrong.values()]
    if not all(isinstance(t, str) and t.strip() for t in texts):
        raise where.fail(
            f"variant {n}: the answer and misconceptions must be expressions in quotes"
        )
    return KeyedDraw(params, str(answer), {str(k): str(v) for k, v in wrong.items()})


def _drawable(spec: ParamSpec, value: float) -> bool:
    """Whether `spec` could have drawn `value` (uniform: within rounding of its range)."""
    if spec.nonzero and value == 0:
        return False
    if spec.kind == "choice":
        return value in spec.values
    if spec.kind == "integer":
        return float(value).is_integer() and spec.low <= value <= spec.high
    slack = 0.5 * 10.0**-spec.decimals
    return spec.low - slack <= value <= spec.high + slack


def _check_table_misconceptions(
    where: _Where, table: tuple[KeyedDraw, ...], misconceptions: tuple[Misconception, ...]
) -> None:
    expected = {m.id for m in misconceptions}
    for n, row in enumerate(table, start=1):
        missing = sorted(expected - set(row.misconceptions))
        if missing:
            raise where.fail(f"variant {n}: no value for misconception {missing[0]!r}")
        extra = sorted(set(row.misconceptions) - expected)
        if extra:
            raise where.fail(
                f"variant {n}: misconception {extra[0]!r} is not one of the question's"
            )
