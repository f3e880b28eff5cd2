"""QTI 1.2 export for Canvas: the zip's layout, the structure Canvas's importer reads, and a
parse back (with a reader written here, not the exporter's code) compared with the bank."""

from __future__ import annotations

import html
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader.quiz.cli import quiz as quiz_group
from grader.quiz.kinds import ChoiceQuestion, NumericQuestion, SymbolicQuestion
from grader.quiz.loader import PROJECT_BANK, load_bank, load_quiz
from grader.quiz.model import Quiz
from grader.quiz.qti import _draws
from grader.quiz.qti_package import qti_zip
from grader.quiz.schema import parse_quiz
from grader.quiz.shown import drawn_quiz
from grader.quiz.variants import instantiate, solve

NS = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
QUIZZES = load_bank(PROJECT_BANK)[0]

# The children each element may have, as Canvas's own QTI 1.2 export writes them (the
# format its importer reads back); order matters for `item`.
ALLOWED = {
    "questestinterop": {"assessment"},
    "assessment": {"qtimetadata", "section"},
    "qtimetadata": {"qtimetadatafield"},
    "qtimetadatafield": {"fieldlabel", "fieldentry"},
    "section": {"item", "section", "selection_ordering"},
    "selection_ordering": {"selection"},
    "selection": {"selection_number", "selection_extension"},
    "selection_extension": {"points_per_item"},
    "item": {"itemmetadata", "presentation", "resprocessing", "itemfeedback"},
    "itemmetadata": {"qtimetadata"},
    "presentation": {"material", "response_lid", "response_str"},
    "material": {"mattext"},
    "response_lid": {"render_choice"},
    "render_choice": {"response_label"},
    "response_label": {"material"},
    "response_str": {"render_fib"},
    "render_fib": {"response_label"},
    "resprocessing": {"outcomes", "respcondition"},
    "outcomes": {"decvar"},
    "respcondition": {"conditionvar", "setvar", "displayfeedback"},
    "conditionvar": {"varequal", "and", "or", "not", "other"},
    "and": {"varequal", "not", "vargte", "varlte"},
    "or": {"varequal", "and"},
    "not": {"varequal"},
    "itemfeedback": {"flow_mat"},
    "flow_mat": {"material"},
}
ITEM_ORDER = ["itemmetadata", "presentation", "resprocessing", "itemfeedback"]
CANVAS_TYPES = {"multiple_choice_question", "multiple_answers_question", "numerical_question",
                "essay_question"}  # fmt: skip


def _tag(node: ET.Element) -> str:
    return node.tag.removeprefix(NS)


def _text(node: ET.Element | None) -> str:
    """The plain text of an HTML mattext: tags dropped, <br/> and paragraphs as newlines."""
    assert node is not None
    markup = node.text or ""
    assert node.get("texttype") == "text/html"
    markup = markup.replace("<br/>", "\n").replace("</p><p>", "\n\n")
    assert not re.search(r"<(?!/?p>)", markup), markup  # only <p> and <br/>: no raw markup
    return html.unescape(re.sub(r"</?p>", "", markup))


def _children(node: ET.Element, tag: str) -> list[ET.Element]:
    return [c for c in node if _tag(c) == tag]


def _one(node: ET.Element, path: str) -> ET.Element:
    found = node.find(path.replace("q:", NS))
    assert found is not None, path
    return found


def read_package(data: bytes) -> tuple[dict[str, str], ET.Element]:
    """The manifest's resources (identifier -> href/type) and the assessment root."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = ET.fromstring(archive.read("imsmanifest.xml"))
    mns = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
    resources: dict[str, str] = {}
    for resource in manifest.iter(f"{mns}resource"):
        files = [f.get("href") for f in resource.iter(f"{mns}file")]
        assert all(name in archive.namelist() for name in files), files
        resources[resource.get("type", "")] = files[0] or ""
    assessment = ET.fromstring(archive.read(resources["imsqti_xmlv1p2"]))
    ET.fromstring(archive.read(resources[next(t for t in resources if "associated" in t)]))
    return resources, assessment


def check_structure(root: ET.Element) -> None:
    """Every element where Canvas's structure allows it; every reference resolves."""
    assert _tag(root) == "questestinterop" and root.tag.startswith(NS)
    for parent in root.iter():
        allowed = ALLOWED.get(_tag(parent), set())
        for child in parent:
            assert _tag(child) in allowed, f"<{_tag(child)}> inside <{_tag(parent)}>"
    for item in root.iter(f"{NS}item"):
        tags = [_tag(c) for c in item]
        assert tags == sorted(tags, key=ITEM_ORDER.index), tags
        feedback = {f.get("ident") for f in _children(item, "itemfeedback")}
        links = {d.get("linkrefid") for d in item.iter(f"{NS}displayfeedback")}
        assert links == feedback, (links, feedback)
        labels = [r.get("ident") for r in item.iter(f"{NS}response_label")]
        meta = _metadata(item)
        assert meta["question_type"] in CANVAS_TYPES
        if meta["question_type"].startswith("multiple_"):
            assert meta["original_answer_ids"].split(",") == labels
            for var in item.iter(f"{NS}varequal"):
                assert var.text in labels and var.get("respident") == "response1"
        decvar = _one(item, "q:resprocessing/q:outcomes/q:decvar")
        assert decvar.attrib == {"maxvalue": "100", "minvalue": "0", "varname": "SCORE",
                                 "vartype": "Decimal"}  # fmt: skip


def _metadata(item: ET.Element) -> dict[str, str]:
    fields = _one(item, "q:itemmetadata/q:qtimetadata")
    return {
        _one(f, "q:fieldlabel").text or "": _one(f, "q:fieldentry").text or ""
        for f in _children(fields, "qtimetadatafield")
    }


def read_item(item: ET.Element) -> dict[str, Any]:
    """What a reader of Canvas's QTI learns from one item."""
    meta = _metadata(item)
    feedback = {
        f.get("ident"): _text(_one(f, "q:flow_mat/q:material/q:mattext"))
        for f in _children(item, "itemfeedback")
    }
    out: dict[str, Any] = {
        "type": meta["question_type"],
        "points": float(meta["points_possible"]),
        "stem": _text(_one(item, "q:presentation/q:material/q:mattext")),
        "general": feedback.get("general_fb", ""),
        "correct_feedback": feedback.get("correct_fb", ""),
        "incorrect": feedback.get("general_incorrect_fb", ""),
    }
    scoring = [c for c in item.iter(f"{NS}respcondition") if c.find(f"{NS}setvar") is not None]
    if out["type"] == "essay_question":  # graded by hand: nothing sets SCORE
        assert not scoring
        return out
    assert len(scoring) == 1 and _one(scoring[0], "q:setvar").text == "100"
    condition = _one(scoring[0], "q:conditionvar")
    labels = list(item.iter(f"{NS}response_label"))
    if out["type"].startswith("multiple_"):
        out["options"] = [
            (r.get("ident"), _text(_one(r, "q:material/q:mattext")), r.get("rshuffle") == "No")
            for r in labels
        ]
        out["option_feedback"] = {
            ident: feedback.get(f"{ident}_fb", "") for ident, _, _ in out["options"]
        }
        wrong = {v.text for n in condition.iter(f"{NS}not") for v in n}
        out["correct"] = [v.text for v in condition.iter(f"{NS}varequal") if v.text not in wrong]
    elif out["type"] == "numerical_question":
        out["exact"] = Decimal(_one(condition, ".//q:varequal").text or "")
        low, high = condition.find(f".//{NS}vargte"), condition.find(f".//{NS}varlte")
        out["low"] = Decimal(low.text or "") if low is not None else out["exact"]
        out["high"] = Decimal(high.text or "") if high is not None else out["exact"]
    return out


def _items(root: ET.Element) -> dict[str, dict[str, Any]]:
    return {item.get("title", ""): read_item(item) for item in root.iter(f"{NS}item")}


# ---------------------------------------------------------------- the bank round trip


@pytest.mark.parametrize("quiz", QUIZZES, ids=lambda q: q.name)
def test_bank_round_trips_through_qti(quiz: Quiz) -> None:
    data, notes = qti_zip(quiz, seed=4)
    _, root = read_package(data)
    check_structure(root)
    items = _items(root)
    drawn = drawn_quiz(quiz, 4)
    for question in drawn.questions:
        if isinstance(question, SymbolicQuestion):
            assert question.id not in items
            assert any(n.startswith(f"{question.id}: skipped") for n in notes)
            continue
        item = items.pop(question.id)
        assert item["stem"] == question.stem and item["points"] == question.points
        assert item["general"] == question.explanation
        if isinstance(question, ChoiceQuestion):
            ident = f"flowgrade-{quiz.name}-{question.id}-"
            assert [(i.removeprefix(ident), t, p) for i, t, p in item["options"]] == [
                (o.id, o.text, o.pinned) for o in question.options
            ]
            assert [i.removeprefix(ident) for i in item["correct"]] == list(question.correct_ids)
            expected = {ident + o.id: o.feedback for o in question.options}
            assert item["option_feedback"] == expected
            kind = "multiple_choice_question" if question.kind == "single" else "multiple_answers"
            assert item["type"].startswith(kind)
        else:
            assert isinstance(question, NumericQuestion)
            answer = Decimal(repr(float(question.answer)))  # type: ignore[arg-type]
            margin = Decimal(repr(question.margin))
            assert (item["exact"], item["low"], item["high"]) == (
                answer, answer - margin, answer + margin
            )  # fmt: skip
            assert item["correct_feedback"] == question.correct_feedback
            for mistake in question.misconceptions:
                assert mistake.feedback in item["incorrect"]
    assert not items, f"items that are no question of the bank: {list(items)}"


def test_manifest_and_canvas_settings() -> None:
    exam = next(q for q in QUIZZES if q.mode == "exam")
    data, _ = qti_zip(exam)
    resources, _ = read_package(data)
    assert set(resources) == {
        "imsqti_xmlv1p2",
        "associatedcontent/imscc_xmlv1p1/learning-application-resource",
    }
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(archive.namelist())[0] == "flowgrade-checkpoint/assessment_meta.xml"
    meta = ET.fromstring(archive.read("flowgrade-checkpoint/assessment_meta.xml"))
    values = {_tag(c).split("}")[-1]: c.text for c in meta}
    assert values["quiz_type"] == "assignment" and values["allowed_attempts"] == "1"
    assert values["show_correct_answers"] == "false" and values["title"] == exam.title
    symbolic = sum(q.points for q in exam.questions if isinstance(q, SymbolicQuestion))
    assert float(values["points_possible"] or 0) == exam.max_score - symbolic
    assert qti_zip(exam)[0] == data, "the same bank gives the same bytes"


# ---------------------------------------------------------------- escaping, kinds, options


STEM = (
    "Is a < b && b > c? Inline $x^2$, a ]]> marker, \"quotes\" and 'apostrophes'."
    "\n\nSecond paragraph\nwith a line break."
)
MATHS: dict[str, Any] = {
    "title": "Maths & <markup>",
    "mode": "practice",
    "questions": [
        {
            "id": "ineq",
            "kind": "single",
            "stem": STEM,
            "explanation": "Because 0 < 1 & 1 < 2.",
            "options": [
                {"id": "agree", "text": "<b>yes</b> & more", "correct": True,
                 "feedback": "x < y, so $p$ holds"},
                {"id": "disagree", "text": "no > never", "feedback": "&amp; is not an entity here"},
            ],
        },
        {
            "id": "tiny",
            "kind": "numeric",
            "stem": "log(0.8) < 0: compute 32*32*log(0.8) to 0.1%",
            "answer": -228.5,
            "tolerance": 0.01,
            "relative": 0.001,
            "correct_feedback": "Right & exact",
            "misconceptions": [
                {"id": "sign", "value": 228.5, "feedback": "Sign: log x < 0 for x < 1"}
            ],
        },
        {
            "id": "expr",
            "kind": "symbolic",
            "stem": "log-det of x -> a*x",
            "answer": "log(a)",
            "symbols": {"a": {"positive": True}},
            "explanation": "d/dx (a x) = a",
        },
    ],
}  # fmt: skip


def _maths() -> Quiz:
    return parse_quiz(MATHS, "maths.yaml", "maths")


def test_maths_and_markup_arrive_as_typed() -> None:
    quiz = _maths()
    _, root = read_package(qti_zip(quiz)[0])
    check_structure(root)
    items = _items(root)
    single = items["ineq"]
    assert single["stem"] == quiz.question("ineq").stem
    assert "\n\nSecond paragraph\nwith a line break." in single["stem"]
    assert [t for _, t, _ in single["options"]] == ["<b>yes</b> & more", "no > never"]
    assert single["general"] == "Because 0 < 1 & 1 < 2."
    assert set(single["option_feedback"].values()) == {
        "x < y, so $p$ holds",
        "&amp; is not an entity here",
    }
    number = items["tiny"]
    # margin = max(0.01, 0.001 * 228.5) = 0.2285, written exactly
    assert (number["low"], number["exact"], number["high"]) == (
        Decimal("-228.7285"), Decimal("-228.5"), Decimal("-228.2715")
    )  # fmt: skip
    assert number["correct_feedback"] == "Right & exact"
    assert number["incorrect"] == "If your answer was 228.5: Sign: log x < 0 for x < 1"


def test_symbolic_questions_become_hand_graded_essays_on_request() -> None:
    quiz = _maths()
    data, notes = qti_zip(quiz, symbolic="essay")
    _, root = read_package(data)
    check_structure(root)
    essay = _items(root)["expr"]
    assert essay["type"] == "essay_question"
    assert essay["stem"].startswith("log-det of x -> a*x") and "expression in a" in essay["stem"]
    assert essay["general"].startswith("Answer: log(a)") and "d/dx (a x) = a" in essay["general"]
    assert any("essay" in n and n.startswith("expr:") for n in notes)
    with pytest.raises(ValueError, match="symbolic"):
        qti_zip(quiz, symbolic="drop")


def test_templates_become_a_group_canvas_draws_from() -> None:
    quiz = next(q for q in QUIZZES if q.name == "jacobians-and-coupling")
    question = quiz.question("coupling-forward-variant")
    _, root = read_package(qti_zip(quiz, seed=2, variants=3)[0])
    check_structure(root)
    groups = [s for s in root.iter(f"{NS}section") if s.get("ident", "").endswith("-group")]
    group = next(g for g in groups if g.get("title", "").startswith(question.id))
    assert _one(group, ".//q:selection_number").text == "1"
    assert float(_one(group, ".//q:points_per_item").text or 0) == question.points
    items = [read_item(i) for i in _children(group, "item")]
    assert len(items) == 3 and len({i["stem"] for i in items}) == 3
    for item, params in zip(items, _draws(question, 2, 3), strict=True):
        key = float(solve(question, params).answer)
        assert item["exact"] == Decimal(repr(key))
        assert item["stem"] == instantiate(question, params, with_key=False).stem


def test_cli_writes_the_zip_and_says_what_canvas_cannot_take(tmp_path: Path) -> None:
    target = tmp_path / "out.zip"
    result = CliRunner().invoke(
        quiz_group,
        ["export", "change-of-variables", "--format", "qti", "-o", str(target)],
    )
    assert result.exit_code == 0, result.output
    assert "cov-affine-logpdf: skipped" in result.stderr
    assert f"wrote {target}" in result.stdout
    read_package(target.read_bytes())


def test_cli_refuses_a_bank_without_key(tiny_bank: Path, tmp_path: Path) -> None:
    quiz = load_quiz("tiny", tiny_bank)
    from grader.quiz.serialize import write_quiz

    write_quiz(quiz, tmp_path / "kit" / "tiny.yaml", with_key=False)
    result = CliRunner().invoke(
        quiz_group, ["--bank", str(tmp_path / "kit"), "export", "tiny", "--format", "qti"]
    )
    assert result.exit_code == 1 and "QTI export needs the bank with its key" in result.output
