"""Shared fixtures for the quiz tests: a tiny bank with one question of every kind."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

TINY = textwrap.dedent(
    """\
    title: Tiny quiz
    mode: practice
    questions:
      - id: pick-one
        kind: single
        objectives: [1]
        stem: Which is the inverse-map factor?
        options:
          - id: right
            text: "|det J_inv|"
            correct: true
            feedback: "Yes, the inverse's volume change."
          - {id: wrong, text: "|det J_f|", feedback: "Upside down: divide by |det J_f|."}
          - {id: other, text: "1", feedback: "Only for volume-preserving maps."}
          - {id: none, text: "None of the above", feedback: "One option is right."}
        explanation: Mass is conserved.
      - id: pick-many
        kind: multi
        rule: net-correct
        objectives: [2]
        stem: Which are triangular?
        options:
          - {id: ar, text: "autoregressive Jacobian", correct: true, feedback: "AR is triangular."}
          - {id: cp, text: "coupling Jacobian", correct: true, feedback: "Block-triangular."}
          - {id: dn, text: "dense Jacobian", feedback: "Dense is not triangular."}
      - id: number
        kind: numeric
        points: 2
        stem: What is 3 * exp(0.5) + 2?
        answer: 6.946164
        tolerance: 0.005
        misconceptions:
          - {id: log-scale, value: 3.5, feedback: "You used the log-scale as the scale."}
        explanation: Scale, then shift.
      - id: expression
        kind: symbolic
        stem: log-density of N(b, a^2) at x
        answer: "-log(2*pi*a**2)/2 - (x - b)**2/(2*a**2)"
        symbols: {a: {positive: true}, b: {real: true}, x: {real: true}}
        misconceptions:
          - id: no-jac
            expression: "-log(2*pi)/2 - (x - b)**2/(2*a**2)"
            feedback: "Missing -log a."
        explanation: z = (x - b)/a.
    """
)


@pytest.fixture
def tiny_bank(tmp_path: Path) -> Path:
    """A bank folder with `tiny.yaml` (practice) and `tiny-exam.yaml` (the same, exam mode)."""
    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "tiny.yaml").write_text(TINY, encoding="utf-8")
    exam = TINY.replace("title: Tiny quiz\nmode: practice", "title: Tiny exam\nmode: exam")
    (bank / "tiny-exam.yaml").write_text(exam, encoding="utf-8")
    return bank


@pytest.fixture
def tiny_yaml() -> str:
    """The text of the tiny practice quiz."""
    return TINY
