"""The zip Canvas imports as a quiz ("QTI .zip file" in Canvas's Import Course Content):

    <ident>/<ident>.xml             the QTI 1.2 assessment (grader.quiz.qti)
    <ident>/assessment_meta.xml     Canvas's quiz settings: title, description, points,
                                    practice quiz or graded, attempts, shuffling
    imsmanifest.xml                 an IMS content package manifest naming both

    data = qti_zip(quiz, seed=0, variants=1, symbolic="skip")   # -> (bytes, notes)

The manifest's resource types are the ones Canvas's own QTI export writes
(`imsqti_xmlv1p2`, and the assessment_meta.xml as associated content). The zip is
reproducible: the same bank and options give the same bytes (fixed entry times, no date).
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

from grader.quiz.model import Quiz
from grader.quiz.qti import QtiAssessment, build_assessment, text_html

MANIFEST_NAMESPACE = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
CANVAS_NAMESPACE = "http://canvas.instructure.com/xsd/cccv1p0"
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _tree(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = text
    return node


def manifest_xml(assessment: QtiAssessment) -> str:
    """imsmanifest.xml: the assessment resource and its Canvas settings as a dependency."""
    ident = assessment.identifier
    root = ET.Element("manifest", {"identifier": f"{ident}-manifest", "xmlns": MANIFEST_NAMESPACE})
    metadata = ET.SubElement(root, "metadata")
    _text(metadata, "schema", "IMS Content")
    _text(metadata, "schemaversion", "1.1.3")
    ET.SubElement(root, "organizations")
    resources = ET.SubElement(root, "resources")
    resource = ET.SubElement(resources, "resource", {"identifier": ident, "type": "imsqti_xmlv1p2"})
    ET.SubElement(resource, "file", {"href": f"{ident}/{ident}.xml"})
    ET.SubElement(resource, "dependency", {"identifierref": f"{ident}-meta"})
    meta = ET.SubElement(
        resources,
        "resource",
        {
            "identifier": f"{ident}-meta",
            "type": "associatedcontent/imscc_xmlv1p1/learning-application-resource",
            "href": f"{ident}/assessment_meta.xml",
        },
    )
    ET.SubElement(meta, "file", {"href": f"{ident}/assessment_meta.xml"})
    return _tree(root)


def assessment_meta_xml(quiz: Quiz, assessment: QtiAssessment) -> str:
    """Canvas's quiz settings: a practice quiz (answers shown, unlimited attempts) or, for
    an exam-mode quiz, a graded quiz with one attempt and the answers not shown."""
    practice = quiz.mode == "practice"
    root = ET.Element("quiz", {"identifier": assessment.identifier, "xmlns": CANVAS_NAMESPACE})
    settings = {
        "title": quiz.title,
        "description": text_html(quiz.description),
        "shuffle_answers": "true" if assessment.shuffle else "false",
        "scoring_policy": "keep_highest",
        "quiz_type": "practice_quiz" if practice else "assignment",
        "points_possible": f"{assessment.points:g}",
        "show_correct_answers": "true" if practice else "false",
        "allowed_attempts": "-1" if practice else "1",
        "one_question_at_a_time": "false",
        "cant_go_back": "false",
        "available": "false",
    }
    for tag, text in settings.items():
        _text(root, tag, text)
    return _tree(root)


def qti_zip(
    quiz: Quiz, *, seed: int = 0, variants: int = 1, symbolic: str = "skip"
) -> tuple[bytes, list[str]]:
    """The zip Canvas imports, and the notes on what Canvas cannot take over as it is."""
    assessment = build_assessment(quiz, seed=seed, variants=variants, symbolic=symbolic)
    ident = assessment.identifier
    files = {
        "imsmanifest.xml": manifest_xml(assessment),
        f"{ident}/{ident}.xml": assessment.assessment,
        f"{ident}/assessment_meta.xml": assessment_meta_xml(quiz, assessment),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            entry = zipfile.ZipInfo(name, ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, text.encode("utf-8"))
    return buffer.getvalue(), assessment.notes
