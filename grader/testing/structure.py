"""The structure check of a hidden test: one call under the worker's watch and device check.

    expect_clean_outputs(student, reference, "factor_out", (h,), ["h"])

The call runs with `return_inputs=True` (the inputs come back as the function left them)
and `check_device=True` (the worker's virtual-device check: a tensor that a GPU run would
put on the CPU is reported). Every output must match the reference's values first —
structure points need correct values — then its shape, dtype and device; the inputs must
be unchanged, and the worker's watch must have seen no in-place write into an input or
into a tensor that trusted code (a conditioner, a level, a layer) returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from grader.testing.checks import (
    describe,
    expect_clean_call,
    expect_close,
    expect_structure,
    expect_tuple,
    expect_unchanged,
)


def expect_clean_outputs(
    student: Any,
    reference: ModuleType,
    function: str,
    args: tuple[Any, ...],
    names: Sequence[str],
) -> None:
    """Call `function(*args)` through the student proxy and check what is described above.

    `names` name the positional arguments in messages. A function whose reference returns
    a tuple must return a tuple of the same length."""
    result = student.call_full(function, args, return_inputs=True, check_device=True)
    expected = getattr(reference, function)(*args)
    got = result.value
    if isinstance(expected, tuple):
        got = expect_tuple(got, len(expected), function, f"of {len(expected)} tensors")
    else:
        got, expected = (got,), (expected,)
    inputs = f"for {describe(args[0])} inputs"
    for index, (part, want) in enumerate(zip(got, expected, strict=True)):
        output = f"output {index + 1} of {function}" if len(expected) > 1 else function
        what = f"{output} {inputs}"
        expect_close(part, want, what=f"{what} (structure points need correct values)")
        expect_structure(part, want, what=what)
    expect_unchanged(list(args), result.inputs_after, function=function, names=list(names))
    expect_clean_call(result, function=function, names=list(names))
