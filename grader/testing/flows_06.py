"""Watched inputs for exercise-06's cost test: dense Jacobian work is refused at once.

A planar layer's log-det needs O(d) work per sample (one dot product and a scalar), yet a
common first answer builds the dense d x d Jacobian I + u psi^T and calls slogdet: O(d^2)
memory and O(d^3) time. The cost test hands the student's function `WatchedInput`s; each
becomes a `WatchedTensor` when it is unpickled in the worker. A watched tensor behaves like
a plain one, and so does everything computed from it (the watch spreads to every result of
an operation that takes a watched tensor), except that

* a determinant or a factorisation of a matrix computed from it
  (`flows_02.WHOLE_MATRIX_DECOMPOSITIONS`: slogdet, det, LU, solve, ...) and
* any result with more than `limit` elements (an outer product u psi^T of shape
  (B, d, d) has B d^2; an O(d) answer never exceeds a few B d)

raise `DenseJacobian` (a BaseException, so an `except Exception` in student code does not
hide it) naming the call and the shape, instead of running into the time limit. Tensors
made without a watched input (`torch.eye(d)`) are plain, but adding one to a watched
tensor is caught. Dense work the watch cannot see (numpy on a copy) still meets the time
limit. Copied for the reference (`copy.deepcopy`, as release recording does), a watched
input is a plain tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.overrides import get_default_nowrap_functions, resolve_name

from grader.testing.flows_02 import WHOLE_MATRIX_DECOMPOSITIONS

_NO_WRAP = get_default_nowrap_functions()


class DenseJacobian(BaseException):
    """Raised in the worker when student code does O(d^2) or O(d^3) work on a watched input."""


class WatchedTensor(Tensor):
    """A tensor whose descendants are watched too; see the module docstring.

    `watch_limit` is the largest number of elements a result may have."""

    watch_limit: int

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: tuple[type, ...],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        given = (*args, *kwargs.values())
        watched = [a for a in _tensors(given) if isinstance(a, WatchedTensor)]
        if getattr(func, "__name__", "") in WHOLE_MATRIX_DECOMPOSITIONS:
            shape = next((tuple(a.shape) for a in watched), ())
            raise DenseJacobian(f"{_name(func)} of a {shape} matrix built from the inputs")
        with torch._C.DisableTorchFunctionSubclass():
            result = func(*args, **kwargs)
        if func in _NO_WRAP or not watched:
            return result
        limit = max(getattr(a, "watch_limit", 0) for a in watched)
        return _watch_results(result, limit, func)

    def __deepcopy__(self, memo: dict[int, object]) -> Tensor:
        """A plain copy: copying is no mistake (only dense work is)."""
        copied = self.as_subclass(Tensor).clone()
        memo[id(self)] = copied
        return copied


def _tensors(values: tuple[Any, ...]) -> list[Tensor]:
    """The tensors among `values`, one level into lists and tuples (torch.cat([a, b]))."""
    found: list[Tensor] = []
    for value in values:
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, list | tuple):
            found += [v for v in value if isinstance(v, Tensor)]
    return found


def _name(func: Callable[..., Any]) -> str:
    return resolve_name(func) or getattr(func, "__name__", repr(func))


def _watch_results(result: Any, limit: int, func: Callable[..., Any]) -> Any:
    """Every tensor in `result` (nested tuples/lists too) as a watched tensor with `limit`."""
    if isinstance(result, Tensor):
        if result.numel() > limit:
            raise DenseJacobian(
                f"{_name(func)}, which built a tensor of shape {tuple(result.shape)} "
                f"({result.numel()} entries) from the inputs"
            )
        watched = result.as_subclass(WatchedTensor)
        watched.watch_limit = limit
        return watched
    if isinstance(result, tuple | list):
        return type(result)([_watch_results(r, limit, func) for r in result])
    return result


def watch(values: Tensor, limit: int) -> WatchedTensor:
    """`values` (same storage) as a watched tensor whose results may have `limit` entries."""
    watched = values.as_subclass(WatchedTensor)
    watched.watch_limit = limit
    return watched


class WatchedInput:
    """Stands for `watch(values, limit)`: pickled to a worker it arrives as that watched
    tensor; deep-copied (release recording hands a copy to the reference) it is a plain
    copy of `values`. Not frozen: a recorded input is rebuilt attribute by attribute."""

    def __init__(self, values: Tensor, limit: int) -> None:
        self.values = values
        self.limit = limit

    def __reduce__(self) -> tuple[Callable[[Tensor, int], WatchedTensor], tuple[Tensor, int]]:
        return watch, (self.values, self.limit)

    def __deepcopy__(self, memo: dict[int, object]) -> Tensor:
        copied = self.values.detach().clone()
        memo[id(self)] = copied
        return copied
