"""Checks for hidden tests that fail with teaching feedback instead of a bare assertion.

Every failed check raises `CheckFailed` carrying a `grader.results.Feedback`:
what was checked, how the result differed (shape, first differing element, max error)
and, when the wrong value matches a known mistake, the misconception behind it.
Nothing here prints test code or reference code.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import torch

from grader.results import Feedback

DEFAULT_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float32: (1e-4, 1e-5),
    torch.float64: (1e-8, 1e-10),
}


Misconceptions = Mapping[str, torch.Tensor] | Sequence[tuple[str, torch.Tensor]]
# Computing what each mistake would give costs as much as the check itself; a callable is
# only called when the check fails (most checks pass).
MisconceptionSource = Misconceptions | Callable[[], Misconceptions]
T = TypeVar("T")


def lazy(function: Callable[..., T], *args: Any) -> Callable[[], T]:
    """A zero-argument function that computes `function(*args)` on its first call and then
    remembers it: for misconceptions several checks share
    (`misc = lazy(_forward_misconceptions, layers, z)`, then `lambda: misc()[0]`)."""
    return functools.cache(functools.partial(function, *args))


def part_of(source: Callable[[], Sequence[T]], index: int) -> Callable[[], T]:
    """A zero-argument function returning `source()[index]` (`source` is called then)."""
    return lambda: source()[index]


class CheckFailed(AssertionError):
    """A hidden-test check failed; `feedback` is what the student reads."""

    def __init__(self, feedback: Feedback) -> None:
        super().__init__(feedback.as_text())
        self.feedback = feedback


def fail(checked: str, differs: str, hint: str | None = None) -> NoReturn:
    raise CheckFailed(Feedback(checked, differs, hint))


def describe(tensor: torch.Tensor) -> str:
    """`shape (4, 6), float64` — for the 'checked:' line of a message."""
    return f"shape {tuple(tensor.shape)}, {str(tensor.dtype).removeprefix('torch.')}"


def expect_true(condition: bool, checked: str, differs: str, hint: str | None = None) -> None:
    """Fail with the given feedback unless `condition` holds."""
    if not condition:
        fail(checked, differs, hint)


def expect_tuple(value: Any, length: int, function: str, names: str) -> tuple[Any, ...]:
    """Check that `function` returned a tuple/list of `length` items (e.g. names='(x, log_det)')."""
    if isinstance(value, tuple | list) and len(value) == length:
        return tuple(value)
    got = (
        f"a {type(value).__name__}"
        if not isinstance(value, tuple | list)
        else (f"{len(value)} values")
    )
    fail(f"what {function} returns", f"expected a tuple {names}, got {got}")
    raise AssertionError  # unreachable; keeps type checkers happy


def _as_tensor(got: Any, what: str, expected: torch.Tensor) -> torch.Tensor:
    if isinstance(got, torch.Tensor):
        return got
    kind = getattr(got, "type_name", type(got).__name__)
    fail(what, f"expected a tensor of {describe(expected)}, got {kind}")
    raise AssertionError


def _first_difference(got: torch.Tensor, expected: torch.Tensor, bad: torch.Tensor) -> str:
    index = tuple(int(i) for i in torch.nonzero(bad)[0])
    where = "[" + ", ".join(map(str, index)) + "]"
    want, have = expected[index].item(), got[index].item()
    return f"first difference at {where}: expected {want:.6g}, got {have:.6g}"


def expect_close(
    got: Any,
    expected: torch.Tensor,
    *,
    what: str,
    rtol: float | None = None,
    atol: float | None = None,
    misconceptions: MisconceptionSource | None = None,
    hint: str | None = None,
) -> None:
    """Check values (and shape) of `got` against `expected`.

    `misconceptions` maps a hint to the value a student with that misconception would
    return (a mapping, or (hint, value) pairs when one hint has several values, or a
    function returning either, called only if the check fails); the first one that
    matches `got` becomes the hint. Otherwise `hint` is used.
    Non-finite entries must appear exactly where the reference has them.
    """
    tensor = _as_tensor(got, what, expected)
    if tuple(tensor.shape) != tuple(expected.shape):
        shape_hint = _match_misconception(tensor, expected, misconceptions) or hint
        if tensor.numel() == 1 and expected.dim() == 1:
            shape_hint = shape_hint or (
                "a log-det is one number per sample, shape (B,): sum over the feature "
                "dimensions only, not over the batch"
            )
        fail(what, f"expected shape {tuple(expected.shape)}, got {tuple(tensor.shape)}", shape_hint)
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(expected.dtype, (1e-5, 1e-6))
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    got_cmp = tensor.detach().to(device="cpu", dtype=torch.float64)
    exp_cmp = expected.detach().to(device="cpu", dtype=torch.float64)
    close = torch.isclose(got_cmp, exp_cmp, rtol=rtol, atol=atol, equal_nan=True)
    if bool(close.all()):
        return
    bad = ~close
    finite = torch.isfinite(got_cmp) & torch.isfinite(exp_cmp)
    error = (got_cmp - exp_cmp).abs()[finite]
    max_error = f"; max abs error {error.max().item():.3g}" if error.numel() else ""
    count = f"{int(bad.sum())} of {bad.numel()} entries differ"
    differs = f"{count}; {_first_difference(got_cmp, exp_cmp, bad)}{max_error}"
    if not bool(torch.isfinite(got_cmp[torch.isfinite(exp_cmp)]).all()):
        differs += "; your result has inf/NaN where the reference is finite"
    named = (
        _precision_hint(tensor, got_cmp, expected, exp_cmp)
        or _batch_sum_hint(got_cmp, exp_cmp)
        or _match_misconception(tensor, expected, misconceptions, rtol, atol)
    )
    fail(what, differs, named or hint)


PRECISION = (
    "your result agrees with the reference only to float32 precision (about 7 significant "
    "digits) although the input is float64: the computation lost precision somewhere — a "
    "downcast (.float(), torch.tensor(...) or torch.zeros(...) without dtype=x.dtype, a "
    "float32 constant) or a tiny constant added (an eps); keep every step in the input's dtype"
)
BATCH_SUM = (
    "every entry of your result equals the sum over the whole batch: sum over the feature "
    "dimensions only (dim=-1), so that each sample keeps its own value"
)
BATCH_MEAN = (
    "every entry of your result equals the mean over the whole batch: each sample keeps its "
    "own value; reduce over the feature dimensions only (dim=-1)"
)


def _precision_hint(
    tensor: torch.Tensor, got64: torch.Tensor, expected: torch.Tensor, exp64: torch.Tensor
) -> str | None:
    """PRECISION when a float64 result misses float64 tolerance but meets float32's (scaled
    to the result's magnitude): the signature of a float32 step inside a float64 computation.
    Checked before any misconception, so no structural hint is blamed for rounding."""
    if expected.dtype != torch.float64 or tensor.dtype != torch.float64:
        return None
    finite = torch.isfinite(exp64)
    if not bool(finite.any()) or not bool(torch.equal(finite, torch.isfinite(got64))):
        return None
    rtol, atol = DEFAULT_TOLERANCES[torch.float32]
    scale = max(1.0, float(exp64[finite].abs().max()))
    close = torch.isclose(got64[finite], exp64[finite], rtol=rtol, atol=atol * scale)
    return PRECISION if bool(close.all()) else None


def _batch_sum_hint(got64: torch.Tensor, exp64: torch.Tensor) -> str | None:
    """BATCH_SUM (or BATCH_MEAN) when a (B,) result holds the batch's total in every entry."""
    if exp64.dim() != 1 or exp64.shape[0] < 2 or got64.shape != exp64.shape:
        return None
    rtol, atol = DEFAULT_TOLERANCES[torch.float32]
    for reduced, text in ((exp64.sum(), BATCH_SUM), (exp64.mean(), BATCH_MEAN)):
        if not bool(torch.isfinite(reduced)):
            continue
        if bool(torch.isclose(got64, reduced.expand_as(got64), rtol=rtol, atol=atol).all()):
            return text
    return None


def missing_term_misconceptions(
    total: torch.Tensor, terms: torch.Tensor, name: Callable[[int], str]
) -> list[tuple[str, torch.Tensor]]:
    """For a sum `total` = terms.sum(0) (terms: (K, *total.shape)), what leaving out one term
    gives: (hint naming term k, total - terms[k]) for every term that is not ~0 (leaving out
    a zero changes nothing, so it is no mistake to name)."""
    wrong: list[tuple[str, torch.Tensor]] = []
    total64, terms64 = total.detach().double(), terms.detach().double()
    for k in range(terms64.shape[0]):
        if bool((terms64[k].abs() <= 1e-9 * (1.0 + total64.abs())).all()):
            continue
        wrong.append(
            (
                f"one term of the sum is missing: {name(k)}; check the range of your loop "
                "and that every term is added",
                total64 - terms64[k],
            )
        )
    return wrong


def _match_misconception(
    got: torch.Tensor,
    expected: torch.Tensor,
    misconceptions: MisconceptionSource | None,
    rtol: float | None = None,
    atol: float | None = None,
) -> str | None:
    """The first misconception whose value matches `got` (within 10x the tolerance).

    A misconception whose own value passes the check (`rtol`/`atol`, the check's own
    tolerance) is never named: on that input it cannot be told apart from the right
    answer (one pass too few of a saturated sequential solve is bitwise right, say), so
    naming it would blame a near-miss on a mistake it cannot show."""
    if callable(misconceptions):
        misconceptions = misconceptions()
    match_rtol, match_atol = DEFAULT_TOLERANCES.get(expected.dtype, (1e-5, 1e-6))
    rtol = match_rtol if rtol is None else rtol
    atol = match_atol if atol is None else atol
    got64 = got.detach().to(device="cpu", dtype=torch.float64)
    expected64 = expected.detach().to(device="cpu", dtype=torch.float64)
    pairs = misconceptions.items() if isinstance(misconceptions, Mapping) else misconceptions
    for text, wrong in pairs or ():
        wrong64 = wrong.detach().to(device="cpu", dtype=torch.float64)
        if wrong64.shape != got64.shape:
            continue
        if wrong64.shape == expected64.shape and bool(
            torch.isclose(wrong64, expected64, rtol=rtol, atol=atol, equal_nan=True).all()
        ):
            continue
        if bool(
            torch.isclose(
                got64, wrong64, rtol=match_rtol * 10, atol=match_atol * 10, equal_nan=True
            ).all()
        ):
            return text
    return None


def expect_structure(got: Any, expected: torch.Tensor, *, what: str) -> None:
    """Check shape, dtype and device of `got` against the reference output `expected`."""
    tensor = _as_tensor(got, what, expected)
    if tuple(tensor.shape) != tuple(expected.shape):
        fail(what, f"expected shape {tuple(expected.shape)}, got {tuple(tensor.shape)}")
    if tensor.dtype != expected.dtype:
        fail(
            what,
            f"expected dtype {expected.dtype}, got {tensor.dtype}",
            "keep the input's dtype: create new tensors with dtype=x.dtype, device=x.device "
            "(or torch.zeros_like / new_zeros) instead of torch.tensor(...) defaults",
        )
    reported = getattr(tensor, "reported_device", str(tensor.device))
    if reported.split(":")[0] != expected.device.type:
        fail(
            what,
            f"expected a tensor on {expected.device.type}, got one on {reported}",
            "create new tensors on the input's device (device=x.device)",
        )


def expect_finite(got: torch.Tensor, *, what: str, hint: str | None = None) -> None:
    """Check that every entry is finite (where the maths is finite)."""
    finite = torch.isfinite(got.detach())
    if bool(finite.all()):
        return
    index = tuple(int(i) for i in torch.nonzero(~finite)[0])
    fail(what, f"entry {list(index)} is {got[index].item()}, expected a finite number", hint)


def expect_map_outputs(outputs: Any, points: torch.Tensor, *, function: str) -> torch.Tensor:
    """Check a map's outputs on the perturbation batch `points` before an oracle uses them:
    a tensor of the same shape, every entry finite (NaN would otherwise agree with NaN)."""
    what = f"{function} on a batch of {points.shape[0]} nearby points (for its Jacobian)"
    tensor = _as_tensor(outputs, what, points)
    if tuple(tensor.shape) != tuple(points.shape):
        fail(what, f"expected shape {tuple(points.shape)}, got {tuple(tensor.shape)}")
    expect_finite(tensor, what=what, hint="the map must be finite wherever its input is")
    return tensor


def expect_unchanged(
    before: Sequence[Any], after: Sequence[Any] | None, *, function: str, names: Sequence[str]
) -> None:
    """Check that the call left its tensor inputs as they were (no in-place modification)."""
    if after is None:
        return
    for name, old, new in zip(names, before, after, strict=False):
        if not isinstance(old, torch.Tensor) or not isinstance(new, torch.Tensor):
            continue
        same = old.shape == new.shape and bool(
            torch.equal(old.detach().cpu(), new.detach().cpu().to(old.dtype))
        )
        if not same:
            fail(
                f"that {function} leaves its input `{name}` unchanged",
                f"`{name}` was modified in place",
                IN_PLACE_INPUT,
            )


IN_PLACE_INPUT = (
    "use out-of-place operations (x * s instead of x.mul_(s), torch.cat instead of writing "
    "into x[...]) — callers still need their input"
)
IN_PLACE_RETURNED = (
    "a tensor that a layer, conditioner or function you were given returns is not yours to "
    "change: it may be cached or shared (a cached log-det would drift on every call); use "
    "out-of-place operations (total = total + log_det, not total += log_det)"
)
WRONG_DEVICE = (
    "create every new tensor on the input's device (and in its dtype): "
    "torch.eye(c, device=x.device, dtype=x.dtype), x.new_zeros(n), torch.zeros_like(x); "
    "a tensor made without device= lands on the CPU when the inputs are on a GPU"
)


def display_path(path: str, names: Sequence[str]) -> str:
    """`args[1].w1` -> `conditioner.w1` and `args[0][2]` -> `layers[2]` for names of the
    positional arguments; keyword arguments keep their name (`kwargs['clamp']` -> `clamp`)."""
    for index, name in enumerate(names):
        prefix = f"args[{index}]"
        if path == prefix or path.startswith((prefix + "[", prefix + ".", prefix + " ")):
            return name + path[len(prefix) :]
    if path.startswith("kwargs['"):
        key, _, rest = path[len("kwargs['") :].partition("']")
        return key + rest
    return path


def _returned(path: str) -> str:
    """`layers[2].forward (call 1)[1]` -> `output [1] of call 1 of layers[2].forward`."""
    match = re.fullmatch(r"(.*) \(call (\d+)\)(.*)", path)
    if match is None:
        return f"the tensor returned by {path}"
    method, number, part = match.groups()
    what = f"output {part}" if part else "the tensor returned"
    return f"{what} of call {number} of {method}"


def expect_clean_call(result: Any, *, function: str, names: Sequence[str]) -> None:
    """Check what the worker saw during a call (`CallResult`): no in-place write into an
    argument (its tensors, module parameters and buffers) or into a tensor that a trusted
    layer or conditioner returned, and — for `check_device` calls — no tensor that a GPU
    run would have put on the wrong device."""
    writes = getattr(result, "writes", {}) or {}
    for path in writes.get("inputs", []):
        name = display_path(path, names)
        fail(
            f"that {function} leaves its input `{name}` unchanged",
            f"`{name}` was written in place",
            IN_PLACE_INPUT,
        )
    for path in writes.get("returned", []):
        fail(
            f"that {function} does not write into tensors it did not create",
            f"your code wrote in place into {_returned(display_path(path, names))}",
            IN_PLACE_RETURNED,
        )
    problems = getattr(result, "device_problems", ()) or ()
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        fail(
            f"that {function} keeps every tensor on the input's device (as a GPU run needs)",
            problems[0] + more,
            WRONG_DEVICE,
        )
