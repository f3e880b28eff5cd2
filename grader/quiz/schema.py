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

from collections.abc import Mapping
from typing import Any

from grader.quiz.errors import QuizFormatError
from grader.quiz.kinds import QUESTION_TYPES
from grader.quiz.model import MODES, KeyedDraw, Misconception, ParamSpec, Question, Quiz
from grader.quiz.model import Variant as VariantSpec
from grader.quiz.solvers import SOLVERS
from grader.quiz.syllabus import OBJECTIVES, PITFALLS
from grader.quiz.where import Where, is_number

QUIZ_KEYS = {"title", "mode", "description", "key", "questions"}
COMMON_KEYS = {"id", "kind", "stem", "points", "explanation", "objectives", "pitfalls"}
TEMPLATE_KINDS = tuple(kind for kind, cls in QUESTION_TYPES.items() if cls.templatable)
TEMPLATE_KEYS = {"solver", "params", "variants"}
ROW_KEYS = {"params", "answer", "misconceptions"}
KEY_FIELDS = ("answer", "correct_feedback", "misconceptions", "explanation")


# ---------------------------------------------------------------- quiz


def parse_quiz(data: Any, source: str, name: str) -> Quiz:
    """Validate one bank file's parsed YAML and build the Quiz (or raise QuizFormatError)."""
    where = Where(source)
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
    where = Where(source, label)
    data = where.mapping(raw, "a question")
    question_id = where.identifier(
        data.get("id"), "'id' must be lower-case letters, digits and '-' (e.g. coupling-logdet)"
    )
    kind = data.get("kind")
    cls = QUESTION_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise where.fail(f"'kind' must be one of {', '.join(QUESTION_TYPES)}, not {kind!r}")
    allowed = COMMON_KEYS | cls.keys | {"template"}
    where.known_keys(data, allowed, f"a {kind} question")
    if not has_key:
        _forbid_key_fields(where, data)
    points = where.number(data, "points", 1.0, 0.0)
    if points <= 0:
        raise where.fail("'points' must be positive")
    variant = _template(where, data, cls, has_key)
    fields = cls.kind_fields(where, data, has_key, templated=variant is not None)
    if variant is not None and variant.table:
        _check_table_misconceptions(where, variant.table, fields["misconceptions"])
    return cls(
        id=question_id,
        stem=where.text(data, "stem"),
        points=points,
        explanation=where.text(data, "explanation", required=False),
        objectives=_objectives(where, data),
        pitfalls=_pitfalls(where, data),
        variant=variant,
        **fields,
    )


def _forbid_key_fields(where: Where, data: Mapping[str, Any]) -> None:
    for key in KEY_FIELDS:
        if data.get(key) not in (None, "", []):
            raise where.fail(f"the quiz has key: false but the question has {key!r}")
    for option in data.get("options") or []:
        if isinstance(option, Mapping) and ("correct" in option or option.get("feedback")):
            raise where.fail("the quiz has key: false but an option has 'correct' or 'feedback'")


def _objectives(where: Where, data: Mapping[str, Any]) -> tuple[int, ...]:
    values = where.items(data, "objectives")
    for value in values:
        if value not in OBJECTIVES or isinstance(value, bool):
            valid = ", ".join(map(str, OBJECTIVES))
            raise where.fail(f"objective {value!r} is not one of {valid}")
    return tuple(values)


def _pitfalls(where: Where, data: Mapping[str, Any]) -> tuple[str, ...]:
    values = where.items(data, "pitfalls")
    for value in values:
        if value not in PITFALLS:
            raise where.fail(f"pitfall {value!r} is not one of {', '.join(PITFALLS)}")
    return tuple(values)


# ---------------------------------------------------------------- templates


def _template(
    where: Where, data: Mapping[str, Any], cls: type[Question], has_key: bool
) -> VariantSpec | None:
    if "template" not in data:
        return None
    if not cls.templatable:
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
    table = _table(where, spec["variants"], specs, cls) if has_table else ()
    return VariantSpec(specs, solver, table)


def _param(where: Where, name: str, raw: Any) -> ParamSpec:
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


def _table(
    where: Where, raw: Any, specs: tuple[ParamSpec, ...], cls: type[Question]
) -> tuple[KeyedDraw, ...]:
    if not isinstance(raw, list) or not raw:
        raise where.fail("template 'variants' must list at least one variant")
    return tuple(_row(where, item, n, specs, cls) for n, item in enumerate(raw, start=1))


def _row(
    where: Where, raw: Any, n: int, specs: tuple[ParamSpec, ...], cls: type[Question]
) -> KeyedDraw:
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
        if not is_number(value) or not _drawable(spec, value):
            raise where.fail(f"variant {n}: parameter {spec.name} = {value!r} is not in its range")
        params[spec.name] = value
    answer = row.get("answer")
    wrong = where.mapping(row.get("misconceptions", {}), f"'misconceptions' of variant {n}")
    key, mistakes = cls.table_key(where, f"variant {n}", answer, wrong)
    return KeyedDraw(params, key, mistakes)


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
    where: Where, table: tuple[KeyedDraw, ...], misconceptions: tuple[Misconception, ...]
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
