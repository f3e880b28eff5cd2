"""Finding tensors that a GPU run would put on the wrong device, on a machine without a GPU.

On a GPU the grader moves every argument to `cuda`; a tensor the student creates without
`device=` (`torch.eye(c)`, `torch.zeros(B)`, a module-level constant, `torch.from_numpy`)
lands on the CPU, and the first operation that mixes it with an input raises "Expected all
tensors to be on the same device". On a CPU-only machine both are the CPU, so the slip
passes unseen. `VirtualDevice` replays the GPU's rules on the CPU, with real values:

* every tensor reachable from the arguments (module parameters and buffers included) is
  *on the device*; so is the result of any operation with such an operand, and of any
  factory or `.to(...)` given an explicit device (or another tensor) to follow;
* a result made from no tensor on the device and without an explicit device (a factory
  call without `device=`, `torch.from_numpy`, `.cpu()`, or a tensor that existed before
  the call) is *on the default device*, and remembers where it was made (function and
  line of the student's file);
* an operation whose operands include both is a mix, as on a GPU, with CUDA's exceptions:
  a 0-dim tensor (`torch.tensor(math.pi)`) is a legal operand next to device tensors
  (CUDA accepts CPU scalars), and index tensors in `x[idx]` / `x[idx] = v` may live on
  the CPU; `.numpy()` of a device tensor is a mix too (it fails on a GPU);
* after the call, every returned tensor must be on the device.

The values computed are the ordinary CPU values: nothing is moved and nothing is faked,
so a correct submission computes exactly what it computes without the check. Each
operation pays a Python handler (measured: see README's Speed section), so the worker runs
it only for calls that ask for it (`check_device`), and only when it grades on the CPU: on a
GPU the device itself applies the rules.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode, resolve_name

from grader.runner.watch import argument_tensors, walk

MAX_PROBLEMS = 3
SUBSCRIPT = frozenset({"__getitem__", "__setitem__", "index_put", "index_put_"})
TO_NUMPY = frozenset({"numpy", "__array__"})


def _operands(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[torch.Tensor]:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, tuple | list):
            for item in value:
                if isinstance(item, torch.Tensor):
                    yield item


def _placement(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What an explicit placement says: a tensor to follow, True (a device was named),
    False (`.cpu()`), or None (no placement: the operands decide)."""
    if kwargs.get("device") is not None:
        return True
    if name == "cpu":
        return False
    if name == "cuda":
        return True
    if name == "to":
        for value in args[1:]:
            if isinstance(value, torch.Tensor):
                return value
            if isinstance(value, torch.device | str):
                return True
        other = kwargs.get("other")
        return other if isinstance(other, torch.Tensor) else None
    return None


class VirtualDevice(TorchFunctionMode):
    """A TorchFunctionMode that labels tensors as on the device or on the default device
    and records every operation that a GPU would refuse (see the module docstring)."""

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any], student_file: str) -> None:
        super().__init__()
        # strong references for the call's duration: an id is never reused meanwhile
        self._on: dict[int, torch.Tensor] = {id(t): t for _, t in argument_tensors(args, kwargs)}
        self._origin: dict[int, tuple[torch.Tensor, str]] = {}
        self._file = student_file
        self.problems: list[str] = []

    # ------------------------------------------------------------------ labels

    def _is_on(self, tensor: torch.Tensor) -> bool:
        return self._on.get(id(tensor)) is tensor

    def _origin_of(self, tensor: torch.Tensor) -> str:
        known = self._origin.get(id(tensor))
        if known is not None and known[0] is tensor:
            return known[1]
        return (
            "a tensor that was not computed from the inputs (made at import time, or "
            "with .cpu(), numpy or torch.from_numpy)"
        )

    def _student_line(self) -> str:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename == self._file:
                return f" at line {frame.f_lineno}"
            frame = frame.f_back  # type: ignore[assignment]
        return ""

    def _problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS and text not in self.problems:
            self.problems.append(text)

    # ------------------------------------------------------------------ the handler

    def __torch_function__(
        self,
        func: Any,
        types: tuple[type, ...],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        copied = getattr(func, "__name__", "") == "cpu" and isinstance(result, torch.Tensor)
        if copied and self._is_on(result):  # on a GPU .cpu() copies; here it returned self
            result = result.clone()
        if type(result) is torch.Size:
            return result
        if not isinstance(result, torch.Tensor | tuple | list):
            name = getattr(func, "__name__", "")
            tensor = args[0] if args else None
            if name in TO_NUMPY and isinstance(tensor, torch.Tensor) and self._is_on(tensor):
                self._problem(
                    f".{name}() of a tensor on the input's device{self._student_line()}: "
                    "on a GPU this raises (numpy needs a CPU tensor); stay in torch"
                )
            return result
        self._label(func, args, kwargs, result)
        return result

    def _label(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> None:
        name = getattr(func, "__name__", "")
        placement = _placement(name, args, kwargs)
        if isinstance(placement, torch.Tensor):
            on = self._is_on(placement)
        elif placement is not None:
            on = bool(placement)
        else:
            operands = list(_operands(args, kwargs))
            if name in SUBSCRIPT and args:  # index tensors may stay on the CPU
                operands = [args[0], *(args[2:3] if name.startswith("__set") else ())]
                operands = [t for t in operands if isinstance(t, torch.Tensor)]
            on_device = [t for t in operands if self._is_on(t)]
            if on_device:
                stray = next((t for t in operands if not self._is_on(t) and t.dim() > 0), None)
                if stray is not None:
                    self._mix(func, stray)
            on = bool(on_device)
        results = [t for _, t in walk(result, "") if isinstance(t, torch.Tensor)]
        if on:
            for tensor in results:
                self._on[id(tensor)] = tensor
            return
        origin = self._made_by(func, args, placement)
        for tensor in results:
            if not self._is_on(tensor) and id(tensor) not in self._origin:
                self._origin[id(tensor)] = (tensor, origin)

    def _made_by(self, func: Any, args: tuple[Any, ...], placement: Any) -> str:
        shown = resolve_name(func) or getattr(func, "__name__", "an operation")
        if placement is False:
            return f".cpu(){self._student_line()}"
        if any(isinstance(t, torch.Tensor) for t in _operands(args, {})):
            return f"{shown}(...){self._student_line()} of tensors on the default device"
        literal = all(isinstance(a, int | float | bool) for a in args) and len(args) <= 4
        inside = ", ".join(repr(a) for a in args) if literal else "..."
        return f"{shown}({inside}){self._student_line()}, made without device="

    def _mix(self, func: Any, stray: torch.Tensor) -> None:
        shown = resolve_name(func) or getattr(func, "__name__", "an operation")
        self._problem(
            f"{shown}{self._student_line()} combines an input-device tensor with "
            f"{self._origin_of(stray)}, which is on the default device (the CPU): on a GPU "
            "this raises 'Expected all tensors to be on the same device'"
        )

    def check_outputs(self, value: Any) -> None:
        """Record every returned tensor that is not on the device."""
        for path, tensor in walk(value, "value"):
            if isinstance(tensor, torch.Tensor) and not self._is_on(tensor):
                self._problem(
                    f"the returned {path} is on the default device (the CPU), not the input's: "
                    f"it is {self._origin_of(tensor)}"
                )
