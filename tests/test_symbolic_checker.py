"""The long-lived symbolic checker gives the fork's answers and keeps its limits."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sympy
from density_symbols import GAUSSIAN, NO_JACOBIAN, SYMBOLS, a

from grader import symbolic
from grader.symbolic import (
    SymbolicTimeout,
    equivalent,
    first_equivalent,
    parse_expression,
)
from grader.symbolic_checker import SymbolicChecker

ANSWERS = [
    "exp(-(x-b)**2/(2*a**2))/(a*(2*pi)**(1/2))",
    "exp(-(x - b)**2/(2*a**2))/sqrt(2*pi)",
    "exp(-(x - b)**2/(2*a**2))/(3.14*a)",
    "0.398942280401433*exp(-0.5*(x - b)**2/a**2)/a",
]


@pytest.fixture
def checker(monkeypatch: pytest.MonkeyPatch) -> Iterator[SymbolicChecker]:
    """`keep_checker_process()` for one test; the helper is stopped afterwards."""
    monkeypatch.setattr(symbolic, "_checker", None)
    symbolic.keep_checker_process()
    kept = symbolic._checker
    assert isinstance(kept, SymbolicChecker)
    yield kept
    kept.close()


def decide_all(candidates: list[sympy.Expr]) -> list[int | None]:
    return [first_equivalent(parse_expression(t, SYMBOLS), candidates, seed=3) for t in ANSWERS]


def test_the_helper_decides_as_the_fork_does(checker: SymbolicChecker) -> None:
    through_helper = decide_all([GAUSSIAN, NO_JACOBIAN])
    symbolic._checker = None
    through_fork = decide_all([GAUSSIAN, NO_JACOBIAN])
    symbolic._checker = checker
    assert through_helper == through_fork == [0, 1, None, 0]


def test_one_helper_serves_every_decision(checker: SymbolicChecker) -> None:
    assert equivalent(GAUSSIAN, GAUSSIAN)
    first = checker._process
    assert first is not None and first.poll() is None
    assert not equivalent(GAUSSIAN, NO_JACOBIAN)
    assert checker._process is first


def test_a_runaway_evaluation_is_killed_and_the_next_one_gets_a_fresh_helper(
    checker: SymbolicChecker,
) -> None:
    tower = parse_expression("exp(exp(exp(exp(exp(exp(a))))))", SYMBOLS)  # a > 0
    equivalent(a, a)  # the helper is running and has sympy imported
    start = time.perf_counter()
    with pytest.raises(SymbolicTimeout):
        equivalent(tower, a, timeout_s=0.5)
    assert time.perf_counter() - start < 3.0
    assert checker._process is None  # killed
    assert equivalent(GAUSSIAN, GAUSSIAN)


@pytest.mark.skipif(sys.platform != "linux", reason="the memory cap uses RLIMIT_AS on Linux")
def test_the_helper_runs_under_a_memory_cap(checker: SymbolicChecker) -> None:
    assert equivalent(a, a)
    process = checker._process
    assert process is not None
    limits = Path(f"/proc/{process.pid}/limits").read_text().splitlines()
    line = next(entry for entry in limits if entry.startswith("Max address space"))
    soft = line.split()[3]
    assert soft != "unlimited"
    assert int(soft) < 16 << 30  # its size after importing sympy plus the 2 GiB headroom


def test_the_helper_goes_when_its_grader_closes_the_pipe(checker: SymbolicChecker) -> None:
    assert equivalent(a, a)
    process = checker._process
    assert process is not None and process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=10) == 0


def test_a_failed_decision_replaces_the_helper(checker: SymbolicChecker) -> None:
    """After an error reply nothing of that decision (a grown heap, a cache) may remain."""
    assert equivalent(a, a)
    first = checker._process
    with pytest.raises(symbolic.SymbolicInputError):
        checker.first_equivalent("not an expression", [GAUSSIAN], 10.0, 1)
    assert checker._process is None and first is not None and first.poll() is not None
    assert equivalent(GAUSSIAN, GAUSSIAN)
