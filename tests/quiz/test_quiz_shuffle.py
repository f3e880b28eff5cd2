"""Seeded option shuffling: reproducible, different per student, pinned options last."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from grader.quiz.model import Option
from grader.quiz.shuffle import attempt_seed, is_pinned_text, shuffled_order

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = [Option(f"o{i}", f"option {i}") for i in range(6)] + [
    Option("all", "All of the above", pinned=True),
    Option("none", "None of the above", pinned=True),
]


def test_same_seed_same_order() -> None:
    seed = attempt_seed("alice", "coupling", 1)
    assert shuffled_order(OPTIONS, seed, "q1") == shuffled_order(OPTIONS, seed, "q1")


def test_order_is_a_permutation_with_pinned_last() -> None:
    for student in ("alice", "bob", "carol", "dave"):
        order = shuffled_order(OPTIONS, attempt_seed(student, "quiz", 1), "q1")
        assert sorted(order) == sorted(o.id for o in OPTIONS)
        assert order[-2:] == ["all", "none"]


def test_order_depends_on_student_quiz_attempt_and_question() -> None:
    base = shuffled_order(OPTIONS, attempt_seed("alice", "quiz", 1), "q1")
    variants = [
        shuffled_order(OPTIONS, attempt_seed(s, q, n), qid)
        for s, q, n, qid in [
            ("bob", "quiz", 1, "q1"),
            ("alice", "other", 1, "q1"),
            ("alice", "quiz", 2, "q1"),
            ("alice", "quiz", 1, "q2"),
        ]
    ]
    # 6! = 720 orders: each of these differs from the base unless by a 1-in-720 chance
    assert sum(v != base for v in variants) >= 3


def test_shuffle_false_keeps_bank_order_but_still_pins() -> None:
    options = [Option("n", "None of the above", pinned=True), Option("a", "a"), Option("b", "b")]
    assert shuffled_order(options, 123, "q", shuffle=False) == ["a", "b", "n"]


def test_pinned_text_detection() -> None:
    for text in ("All of the above", "none of the above.", "Both of the above", "NONE OF THESE"):
        assert is_pinned_text(text)
    for text in ("Above all", "None of the scales is zero", "all"):
        assert not is_pinned_text(text)


def test_seed_is_stable_across_processes() -> None:
    code = (
        "from grader.quiz.shuffle import attempt_seed, shuffled_order;"
        "from grader.quiz.model import Option;"
        "opts=[Option(f'o{i}', str(i)) for i in range(6)];"
        "seed=attempt_seed('alice','quiz',3);"
        "print(seed, shuffled_order(opts, seed, 'q'))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    options = [Option(f"o{i}", str(i)) for i in range(6)]
    seed = attempt_seed("alice", "quiz", 3)
    assert outputs.pop().strip() == f"{seed} {shuffled_order(options, seed, 'q')}"
