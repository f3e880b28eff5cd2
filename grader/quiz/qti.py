"""QTI 1.2 export in the form Canvas imports: the items of one quiz as an assessment.

    package = export_qti(quiz, seed=0, variants=1, symbolic="skip")
    package.assessment        # the questestinterop XML (text)
    package.notes             # what Canvas cannot take over as it is, one line each

The element names and nesting follow Canvas's own QTI 1.2 export, which its importer
reads back (`question_type`, `points_possible` and `original_answer_ids` in the item
metadata; `response_lid`/`response_str` with `response1`; a `SCORE` decvar set to 100 by
the correct condition; `itemfeedback` idents `general_fb`, `correct_fb`,
`general_incorrect_fb` and `<answer ident>_fb`, shown by `displayfeedback`):

    single     multiple_choice_question   one varequal sets SCORE; per-option feedback
    multi      multiple_answers_question  and(varequal right, not(varequal wrong)); Canvas
                                          scores it (right - wrong picks) / right options,
                                          at least 0: our net-correct rule
    numeric    numerical_question         or(varequal exact, and(vargte lo, varlte hi)) with
                                          margin max(tolerance, relative*|answer|) (an
                                          exact answer with a margin); mistakes' feedback
                                          goes into the incorrect feedback (Canvas's
                                          numerical answers are all right answers)
    symbolic   (none in Canvas)           skipped with a note (default), or
                                          symbolic="essay": an essay question graded by hand,
                                          the key in the feedback shown after submission
    explanation -> general feedback (general_fb); correct_feedback -> correct_fb

Texts are plain text in the bank; they go out as HTML (escaped, line breaks kept) inside
`mattext texttype="text/html"`, so maths such as `a < b & c`, `$x$` arrives as typed.
Template questions are exported as drawn (`seed`, the same draw as GIFT); with
`variants` > 1 as a question group of that many distinct draws, of which Canvas picks one
per student (`selection_number` 1), each with the key the solver computed for it.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal

from grader.quiz.kinds import (
    AnswerQuestion,
    ChoiceQuestion,
    MultiSelect,
    NumericQuestion,
    SingleChoice,
    SymbolicQuestion,
)
from grader.quiz.model import Question, Quiz
from grader.quiz.question import plain_number
from grader.quiz.shuffle import derive_seed
from grader.quiz.variants import draw_params, instantiate

QTI_NAMESPACE = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
QTI_SCHEMA = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd"
SYMBOLIC_MODES = ("skip", "essay")
RESPONSE = "response1"
MAX_DRAW_TRIES = 8  # per wanted variant, before settling for fewer distinct draws


@dataclass
class QtiAssessment:
    """One quiz as a QTI 1.2 assessment, and the notes for the instructor."""

    identifier: str
    title: str
    assessment: str
    points: float
    notes: list[str] = field(default_factory=list)
    shuffle: bool = True


def text_html(text: str) -> str:
    """Plain bank text as HTML: escaped, paragraphs on blank lines, line breaks kept."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br/>".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def _number(value: float | Decimal) -> str:
    """A number as QTI writes it: no exponent, no trailing zeros beyond one decimal."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text if "." in text else text + ".0"
    return repr(float(value))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def _material(parent: ET.Element, text: str) -> None:
    _sub(_sub(parent, "material"), "mattext", text_html(text), texttype="text/html")


def _metadata(item: ET.Element, fields: dict[str, str]) -> None:
    meta = _sub(_sub(item, "itemmetadata"), "qtimetadata")
    for label, entry in fields.items():
        row = _sub(meta, "qtimetadatafield")
        _sub(row, "fieldlabel", label)
        _sub(row, "fieldentry", entry)


def _feedback(item: ET.Element, ident: str, text: str) -> None:
    flow = _sub(_sub(item, "itemfeedback", ident=ident), "flow_mat")
    _material(flow, text)


def _condition(
    resprocessing: ET.Element, *, stop: bool, feedback: str | None = None
) -> tuple[ET.Element, ET.Element]:
    """A respcondition and its conditionvar; `feedback` names the itemfeedback it shows."""
    condition = _sub(resprocessing, "respcondition", **{"continue": "No" if stop else "Yes"})
    variable = _sub(condition, "conditionvar")
    if feedback:
        _sub(condition, "displayfeedback", feedbacktype="Response", linkrefid=feedback)
    return condition, variable


def _set_score(condition: ET.Element) -> None:
    """Full marks: SCORE = 100 (placed before any displayfeedback, as Canvas writes it)."""
    setvar = ET.Element("setvar", {"action": "Set", "varname": "SCORE"})
    setvar.text = "100"
    condition.insert(1, setvar)


class _Items:
    """The QTI item of each question kind (a `QuestionVisitor`); None: not exported."""

    def __init__(self, ident: str, symbolic: str, notes: list[str]) -> None:
        self.ident = ident
        self.symbolic_mode = symbolic
        self.notes = notes

    # ------------------------------------------------------------ kinds

    def single(self, question: SingleChoice) -> ET.Element:
        item, resprocessing = self._choice(question, "multiple_choice_question", "Single")
        (correct,) = question.correct_ids
        condition, variable = _condition(resprocessing, stop=True)
        _sub(variable, "varequal", self._option_ident(correct), respident=RESPONSE)
        _set_score(condition)
        return self._finish(
            item,
            resprocessing,
            general=question.explanation,
            options=self._option_feedback(question),
        )

    def multi(self, question: MultiSelect) -> ET.Element:
        item, resprocessing = self._choice(question, "multiple_answers_question", "Multiple")
        condition, variable = _condition(resprocessing, stop=True)
        both = _sub(variable, "and")
        for option in question.options:
            parent = both if option.correct else _sub(both, "not")
            _sub(parent, "varequal", self._option_ident(option.id), respident=RESPONSE)
        _set_score(condition)
        if question.rule != "net-correct":
            self.notes.append(
                f"{question.id}: Canvas scores multiple answers as (right - wrong picks) / "
                f"right options (flowgrade's net-correct), not by this question's "
                f"{question.rule} rule"
            )
        return self._finish(
            item,
            resprocessing,
            general=question.explanation,
            options=self._option_feedback(question),
        )

    def numeric(self, question: NumericQuestion) -> ET.Element:
        answer_ident = f"{self.ident}-answer"
        item = self._item(question, "numerical_question", answer_ident)
        presentation = _sub(item, "presentation")
        _material(presentation, question.stem)
        response = _sub(presentation, "response_str", ident=RESPONSE, rcardinality="Single")
        _sub(_sub(response, "render_fib", fibtype="Decimal"), "response_label", ident="answer1")
        resprocessing = self._resprocessing(item, question.explanation)
        feedback = "correct_fb" if question.correct_feedback else None
        condition, variable = _condition(resprocessing, stop=True, feedback=feedback)
        exact = Decimal(repr(float(question.answer)))  # type: ignore[arg-type]
        margin = Decimal(repr(question.margin))
        either = _sub(variable, "or") if margin else variable
        _sub(either, "varequal", _number(exact), respident=RESPONSE)
        if margin:
            window = _sub(either, "and")
            _sub(window, "vargte", _number(exact - margin), respident=RESPONSE)
            _sub(window, "varlte", _number(exact + margin), respident=RESPONSE)
        _set_score(condition)
        return self._finish(
            item,
            resprocessing,
            general=question.explanation,
            correct=question.correct_feedback,
            incorrect=_mistakes_text(question),
        )

    def symbolic(self, question: SymbolicQuestion) -> ET.Element | None:
        if self.symbolic_mode == "skip":
            self.notes.append(
                f"{question.id}: skipped (a symbolic answer checked with sympy has no Canvas "
                "question type; export with --symbolic essay to grade it by hand in Canvas)"
            )
            return None
        self.notes.append(
            f"{question.id}: exported as an essay question, graded by hand in Canvas "
            "(the key is in the feedback shown after submission)"
        )
        item = self._item(question, "essay_question", "")
        presentation = _sub(item, "presentation")
        _material(presentation, f"{question.stem}\n\nAnswer with {question.answer_with()}.")
        response = _sub(presentation, "response_str", ident=RESPONSE, rcardinality="Single")
        _sub(_sub(response, "render_fib"), "response_label", ident="answer1", rshuffle="No")
        general = "\n\n".join(filter(None, [_key_text(question), question.explanation]))
        resprocessing = self._resprocessing(item, general)
        _condition(resprocessing, stop=True)[1].append(ET.Element("other"))
        return self._finish(item, resprocessing, general=general)

    # ------------------------------------------------------------ shared parts

    def _option_ident(self, option_id: str) -> str:
        return f"{self.ident}-{option_id}"

    def _item(self, question: Question, question_type: str, answer_ids: str) -> ET.Element:
        item = ET.Element("item", {"ident": self.ident, "title": question.id})
        _metadata(
            item,
            {
                "question_type": question_type,
                "points_possible": str(plain_number(float(question.points))),
                "original_answer_ids": answer_ids,
                "assessment_question_identifierref": f"{self.ident}-ref",
            },
        )
        return item

    def _choice(
        self, question: ChoiceQuestion, question_type: str, cardinality: str
    ) -> tuple[ET.Element, ET.Element]:
        idents = [self._option_ident(o.id) for o in question.options]
        item = self._item(question, question_type, ",".join(idents))
        presentation = _sub(item, "presentation")
        _material(presentation, question.stem)
        response = _sub(presentation, "response_lid", ident=RESPONSE, rcardinality=cardinality)
        choices = _sub(response, "render_choice", shuffle="Yes" if question.shuffle else "No")
        for option, ident in zip(question.options, idents, strict=True):
            label = _sub(choices, "response_label", ident=ident)
            if option.pinned:
                label.set("rshuffle", "No")  # QTI's way to keep "None of the above" in place
            _material(label, option.text)
        resprocessing = self._resprocessing(item, question.explanation)
        for option, ident in zip(question.options, idents, strict=True):
            if option.feedback:
                _, variable = _condition(resprocessing, stop=False, feedback=f"{ident}_fb")
                _sub(variable, "varequal", ident, respident=RESPONSE)
        return item, resprocessing

    def _resprocessing(self, item: ET.Element, general: str) -> ET.Element:
        resprocessing = _sub(item, "resprocessing")
        _sub(
            _sub(resprocessing, "outcomes"),
            "decvar",
            maxvalue="100",
            minvalue="0",
            varname="SCORE",
            vartype="Decimal",
        )
        if general:
            _condition(resprocessing, stop=False, feedback="general_fb")[1].append(
                ET.Element("other")
            )
        return resprocessing

    def _finish(
        self,
        item: ET.Element,
        resprocessing: ET.Element,
        *,
        general: str,
        correct: str = "",
        incorrect: str = "",
        options: tuple[tuple[str, str], ...] = (),
    ) -> ET.Element:
        """The incorrect-answer condition, then every feedback text the item shows."""
        if incorrect:
            _condition(resprocessing, stop=False, feedback="general_incorrect_fb")[1].append(
                ET.Element("other")
            )
        for ident, text in (
            ("general_fb", general),
            ("correct_fb", correct),
            ("general_incorrect_fb", incorrect),
            *options,
        ):
            if text:
                _feedback(item, ident, text)
        return item

    def _option_feedback(self, question: ChoiceQuestion) -> tuple[tuple[str, str], ...]:
        return tuple(
            (f"{self._option_ident(o.id)}_fb", o.feedback) for o in question.options if o.feedback
        )


def _mistakes_text(question: AnswerQuestion) -> str:
    """Each recognised mistake and its feedback, for the incorrect-answer feedback."""
    return "\n\n".join(
        f"If your answer was {answered}: {feedback}"
        for answered, feedback in question.key_feedback().mistakes
    )


def _key_text(question: AnswerQuestion) -> str:
    """The key of a hand-graded question, with what each recognised mistake means."""
    lines = [f"Answer: {question.answer}"]
    if question.correct_feedback:
        lines.append(question.correct_feedback)
    lines += [f"If the answer was {a}: {f}" for a, f in question.key_feedback().mistakes]
    return "\n".join(lines)


# ---------------------------------------------------------------- the assessment


def _draws(question: Question, seed: int, variants: int) -> list[dict[str, float]]:
    """Distinct parameter sets of a template: the GIFT/sheet draw for `seed` first."""
    assert question.variant is not None
    draws: list[dict[str, float]] = []
    for k in range(variants * MAX_DRAW_TRIES):
        draw_seed = seed if k == 0 else derive_seed("qti-variant", seed, k)
        params = draw_params(question.variant, draw_seed, question.id)
        if params not in draws:
            draws.append(params)
        if len(draws) == variants:
            break
    return draws


def _group(section: ET.Element, ident: str, question: Question, count: int) -> ET.Element:
    """A question group from which Canvas picks one item per student."""
    group = _sub(section, "section", ident=f"{ident}-group", title=f"{question.id} (variants)")
    selection = _sub(_sub(group, "selection_ordering"), "selection")
    _sub(selection, "selection_number", "1")
    _sub(
        _sub(selection, "selection_extension"),
        "points_per_item",
        str(plain_number(float(question.points))),
    )
    return group


def build_assessment(
    quiz: Quiz, *, seed: int = 0, variants: int = 1, symbolic: str = "skip"
) -> QtiAssessment:
    """`quiz` as a Canvas QTI 1.2 assessment (see the module docstring)."""
    if symbolic not in SYMBOLIC_MODES:
        raise ValueError(f"symbolic must be one of {', '.join(SYMBOLIC_MODES)}, not {symbolic!r}")
    if variants < 1:
        raise ValueError("variants must be at least 1")
    identifier = f"flowgrade-{quiz.name}"
    root = ET.Element(
        "questestinterop",
        {
            "xmlns": QTI_NAMESPACE,
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:schemaLocation": f"{QTI_NAMESPACE} {QTI_SCHEMA}",
        },
    )
    assessment = _sub(root, "assessment", ident=identifier, title=quiz.title)
    meta = _sub(assessment, "qtimetadata")
    row = _sub(meta, "qtimetadatafield")
    _sub(row, "fieldlabel", "cc_maxattempts")
    _sub(row, "fieldentry", "1" if quiz.mode == "exam" else "unlimited")
    section = _sub(assessment, "section", ident="root_section")
    notes: list[str] = []
    points = 0.0
    for question in quiz.questions:
        ident = f"{identifier}-{question.id}"
        if question.variant is None:
            item = question.accept(_Items(ident, symbolic, notes))
            if item is not None:
                section.append(item)
                points += question.points
            continue
        draws = _draws(question, seed, variants)
        parent = section if len(draws) == 1 else _group(section, ident, question, len(draws))
        exported = False
        for k, params in enumerate(draws):
            concrete = instantiate(question, params, with_key=True)
            item_ident = ident if len(draws) == 1 else f"{ident}-v{k + 1}"
            item = concrete.accept(_Items(item_ident, symbolic, notes if k == 0 else []))
            if item is not None:
                parent.append(item)
                exported = True
        if exported:
            points += question.points
            if len(draws) < variants:
                notes.append(f"{question.id}: only {len(draws)} distinct variants exist")
    ET.indent(root)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    choice = [q for q in quiz.questions if isinstance(q, ChoiceQuestion)]
    shuffle = all(q.shuffle and not any(o.pinned for o in q.options) for q in choice)
    if not shuffle and any(q.shuffle for q in choice):
        notes.append(
            "answers are not shuffled in Canvas: shuffling is one setting for the whole quiz "
            "there, and a pinned option (e.g. 'None of the above') or a question with "
            "shuffle: false must stay in place"
        )
    return QtiAssessment(identifier, quiz.title, text + "\n", points, notes, shuffle)
