"""Gradient checks for hidden tests: the student's gradients against the reference's.

    spec = gradient_spec(rng, expected_outputs, wrt=(0,), params=True)
    expect_same_gradients(student, reference, "affine_coupling_forward", (z, conditioner),
                          spec, names=["z", "conditioner"], outputs=["x", "log_det"])

(`expect_same_gradients` is `student_gradients` + `reference_gradients` +
`expect_gradients`, which a test may also call one by one.)

The student's call runs in the worker's gradient call mode (`grader.runner.gradients`);
the reference runs the same function in this trusted process, on copies of the same
float64 arguments, through the same code path, so both gradients come from autograd with
the same cotangents. A training step needs these gradients: a log-det that is detached
(or computed under `torch.no_grad()`, through numpy or `.item()`) gives the right values
and trains nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

from grader.runner.client import CallResult, GradientResult
from grader.runner.errors import NUMPY_HINT, StudentRaised
from grader.runner.gradients import GradientSpec, gradient_call
from grader.runner.tensor_pickle import as_received
from grader.testing.checks import display_path, expect_close, expect_tuple, fail

DIFFERENTIABLE = (
    "keep the computation in torch from the inputs to the output: .detach(), .item(), "
    "float(...), torch.no_grad() and numpy all cut the gradient a training step needs"
)
DETACHED = "it was detached (.detach(), .item(), torch.no_grad() or numpy break the gradient)"
WRONG_GRADIENT = (
    "right values, wrong gradient: part of the computation was detached (.detach(), "
    "torch.no_grad(), numpy or .item() on the way), so a training step would ignore it"
)


def gradient_spec(
    rng: torch.Generator,
    outputs: Sequence[torch.Tensor] | torch.Tensor,
    wrt: Sequence[int | str],
    *,
    params: bool = False,
) -> GradientSpec:
    """Random float64 cotangents shaped like the reference `outputs` (a tuple of tensors,
    or one tensor for a function returning one), for the arguments `wrt` (positions, or
    keyword names)."""
    if isinstance(outputs, torch.Tensor):
        pairs = [((), outputs)]
    else:
        pairs = [((index,), value) for index, value in enumerate(outputs)]
    cotangents = tuple(
        (path, torch.randn(tuple(value.shape), generator=rng, dtype=torch.float64))
        for path, value in pairs
    )
    paths = tuple(("args", w) if isinstance(w, int) else ("kwargs", w) for w in wrt)
    return GradientSpec(paths, cotangents, params)


@dataclass(frozen=True)
class ReferenceCall:
    """What the reference returned in the gradient call mode, and its gradients."""

    value: Any
    gradients: tuple[GradientResult, ...]


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, tuple | list):
        return type(value)(_detached(v) for v in value)
    return value


def reference_gradients(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    spec: GradientSpec,
    kwargs: dict[str, Any] | None = None,
) -> ReferenceCall:
    """What `function` gives through the same gradient call mode, in this process, on copies
    of the arguments (the caller's objects are left as they are)."""
    copied = as_received((tuple(args), dict(kwargs or {})))
    value, report = gradient_call(function, *copied, spec)
    gradients = tuple(
        GradientResult(
            entry["output"],
            entry["state"],
            {k: None if g is None else g.detach().cpu() for k, g in entry.get("wrt", {}).items()},
        )
        for entry in report
    )
    return ReferenceCall(_detached(value), gradients)


def _is_zero(gradient: torch.Tensor | None) -> bool:
    return gradient is None or not bool(gradient.detach().abs().gt(0).any())


def _output_label(output: str, outputs: Sequence[str]) -> str:
    """`value[1]` -> `log_det` for output names `("x", "log_det")`; `value` -> the first."""
    if output == "value" and len(outputs) == 1:
        return outputs[0]
    for index, name in enumerate(outputs):
        if output == f"value[{index}]":
            return name
    return output


def expect_gradients(
    result: CallResult,
    reference: ReferenceCall,
    *,
    function: str,
    names: Sequence[str],
    outputs: Sequence[str],
    masks: Mapping[str, torch.Tensor] | None = None,
    hint: str | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Each output's gradient with respect to each input matches the reference's.

    The returned values must match first (gradient points need correct values). `names`
    name the positional arguments and `outputs` the returned values (for messages);
    `masks[path]` restricts the comparison for one input to where the mask is True (e.g.
    the lower triangle of a triangular input, where the function is defined); `hint` is
    shown when gradients exist but differ (default: WRONG_GRADIENT)."""
    _expect_values(result.value, reference.value, function, outputs)
    got_by_output = {g.output: g for g in result.gradients or ()}
    for expected in reference.gradients:
        label = _output_label(expected.output, outputs)
        got = got_by_output.get(expected.output)
        depends = [p for p, g in expected.wrt.items() if not _is_zero(g)]
        checked = f"the gradient of the {label} returned by {function}"
        if got is None or got.state == "missing":
            fail(checked, f"no {label} came back to differentiate")
        if got.state != "ok":
            if not depends:
                continue  # the reference's output is constant too: nothing to train
            first = display_path(depends[0], names)
            fail(checked, _not_differentiable(label, first, got), _repair(got))
        for path, want in expected.wrt.items():
            shown = display_path(path, names)
            have = got.wrt.get(path)
            if have is None:
                if _is_zero(want):
                    continue
                fail(
                    f"{checked} with respect to {shown}",
                    f"your {label} does not depend on {shown} in a differentiable way: part "
                    "of the computation was detached (.detach(), torch.no_grad(), numpy or "
                    ".item() on the way)",
                    DIFFERENTIABLE,
                )
            reference_grad = want if want is not None else torch.zeros_like(have)
            what = f"{checked} with respect to {shown}"
            mask = (masks or {}).get(path)
            _compare(have, reference_grad, mask, what, hint or WRONG_GRADIENT, rtol, atol)


def _expect_values(got: Any, expected: Any, function: str, outputs: Sequence[str]) -> None:
    """The values of a gradient call, output by output (gradients of wrong values say nothing)."""
    needs = "gradient points need correct values"
    if isinstance(expected, torch.Tensor):
        expect_close(got, expected, what=f"{function} values ({needs})")
        return
    items = expect_tuple(got, len(expected), function, "(" + ", ".join(outputs) + ")")
    for name, have, want in zip(outputs, items, expected, strict=False):
        if isinstance(want, torch.Tensor):
            expect_close(have, want, what=f"{name} from {function} ({needs})")


def _compare(
    have: Any,
    want: torch.Tensor,
    mask: torch.Tensor | None,
    what: str,
    hint: str | None,
    rtol: float,
    atol: float,
) -> None:
    if mask is not None and isinstance(have, torch.Tensor) and have.shape == want.shape:
        have, want = have[mask], want[mask]
    dtype = have.dtype if isinstance(have, torch.Tensor) else want.dtype
    expect_close(have, want.to(dtype), what=what, rtol=rtol, atol=atol, hint=hint)


IN_PLACE_SAVED = (
    "an in-place operation (+=, x[...] = ..., a method ending in _) changed a tensor that "
    "autograd had saved for the backward pass; use out-of-place operations"
)


def _repair(got: GradientResult) -> str:
    if got.state == "error" and "inplace" in got.detail.replace("-", "").replace(" ", ""):
        return IN_PLACE_SAVED
    return DIFFERENTIABLE


def _not_differentiable(label: str, wrt: str, got: GradientResult) -> str:
    if got.state == "detached":
        return f"your {label} is not differentiable with respect to {wrt}: {DETACHED}"
    if got.state == "not-tensor":
        kind = got.detail or "object"
        if kind == "ndarray":
            return f"your {label} is a numpy array: numpy breaks the gradient with respect to {wrt}"
        if kind in ("float", "int"):
            return (
                f"your {label} is a Python number ({kind}), e.g. from .item() or float(): "
                f"it has no gradient with respect to {wrt}"
            )
        return f"your {label} is a {kind}, not a tensor: it has no gradient with respect to {wrt}"
    if got.state == "shape":
        return f"your {label} has shape {got.detail}, so its gradient cannot be compared"
    if got.state == "error":
        return f"back-propagating through your {label} raised {got.detail}"
    return f"your {label} could not be differentiated ({got.state})"


def student_gradients(
    student: Any,
    function: str,
    args: tuple[Any, ...],
    spec: GradientSpec,
    kwargs: dict[str, Any] | None = None,
) -> CallResult:
    """`student.call_full(function, args, gradients=spec)`, with torch's refusal to turn a
    tensor that requires grad into numpy (a call that trains cannot use numpy) reported as
    the gradient failure it is."""
    try:
        return student.call_full(function, args, kwargs, gradients=spec)
    except StudentRaised as err:
        if "numpy" not in err.detail:
            raise
        fail(
            f"calling {function} with inputs that require grad (as in training)",
            f"your code raised {err.detail}",
            NUMPY_HINT,
        )


def expect_same_gradients(
    student: Any,
    reference: ModuleType,
    function: str,
    args: tuple[Any, ...],
    spec: GradientSpec,
    *,
    label: str | None = None,
    **compare: Any,
) -> None:
    """`function`'s gradients from the student's call against the reference module's, on
    the same arguments and cotangents: `student_gradients` + `reference_gradients` +
    `expect_gradients(..., **compare)` (names, outputs, masks, hint, tolerances).
    `label` names the call in messages (default: the function's name)."""
    expect_gradients(
        student_gradients(student, function, args, spec),
        reference_gradients(getattr(reference, function), args, spec),
        function=label or function,
        **compare,
    )
