"""Cost tests: one call into student code under a short time limit, with named refusals.

A cost test hands the student's function inputs large enough that the wrong algorithm
(a dense determinant instead of an O(d) formula) is slow, and watched so that torch work
of that kind is refused at once by raising a `refusal` exception in the worker
(`flows_02.WholeMatrixDecomposition`, `flows_06.DenseJacobian`). Either way the student
reads what was expected, what their code did and the hint, instead of a bare timeout.
"""

from __future__ import annotations

from typing import Any

from grader.runner.client import CallResult
from grader.runner.errors import StudentRaised, StudentTimeout
from grader.testing.checks import fail


def call_within(
    student: Any,
    function: str,
    args: tuple[Any, ...],
    *,
    timeout: float,
    what: str,
    quick: str,
    requirement: str,
    refusal: type[BaseException],
    hint: str,
) -> CallResult:
    """`student.call_full(function, args)` within `timeout` seconds.

    `what` names the call ("planar_forward for z of shape (2, 3000), float64"), `quick` says
    how long the right algorithm takes, `requirement` what it must not do; a timeout or a
    `refusal` raised in the worker fails the check with `hint`. Any other error is the
    caller's to handle, as in any call."""
    try:
        return student.call_full(function, args, timeout=timeout)
    except StudentTimeout:
        fail(
            f"{what} within {timeout:g} s ({quick})",
            f"your function ran for more than {timeout:g} s and was stopped",
            hint,
        )
    except StudentRaised as err:
        refused = err.detail.removeprefix(f"{refusal.__name__}: ")
        if refused == err.detail:
            raise
        fail(f"{what}: {requirement}", f"your function computed {refused} and was stopped", hint)
