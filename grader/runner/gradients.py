"""The gradient call mode: run a function with chosen inputs requiring grad, back-propagate
grader-chosen cotangents through its outputs, and say what came back.

    spec = GradientSpec(wrt=(("args", 0),), params=True,
                        cotangents=(((1,), torch.randn(4)),))   # through value[1]
    value, report = gradient_call(function, args, kwargs, spec)
    report == [{"output": "value[1]", "state": "ok",
                "wrt": {"args[0]": <tensor or None>, "args[1].w1": ..., ...}}]

The worker runs it for student code and sends every gradient back as a plain array (the
result channel stays a JSON header plus raw buffers); the trusted side runs the same function
on the reference in float64 and compares. One `torch.autograd.grad` per output, so each
output is judged alone ("your log_det is not differentiable with respect to z").

`state` of an output:
    ok            gradients computed; an entry is None when the output does not depend on
                  that input at all (no path in the autograd graph)
    detached      the output is a tensor that does not require grad although inputs do
                  (.detach(), .item(), torch.no_grad() or a trip through numpy)
    not-tensor    the output is not a tensor (`type` says what: ndarray, float, ...)
    shape         its shape differs from the cotangent's (`shape` says which)
    error         back-propagation raised (`error`: e.g. an in-place write into a tensor
                  autograd saved)
    missing       the output path does not exist in the returned value

Chosen inputs are made leaves that require grad before the call (`requires_grad_` on the
tensors the worker received); with `params`, so are the parameters of every module among
the arguments (their names: `args[1].w1`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from grader.runner.watch import walk

ArgumentPath = tuple[str, int | str]  # ("args", 0) or ("kwargs", "clamp")
OutputPath = tuple[int, ...]  # () for the value itself, (1,) for value[1]


@dataclass(frozen=True)
class GradientSpec:
    """Which inputs to differentiate and which cotangent to pull back through each output."""

    wrt: tuple[ArgumentPath, ...]
    cotangents: tuple[tuple[OutputPath, torch.Tensor], ...]
    params: bool = False


def argument_name(path: ArgumentPath) -> str:
    kind, key = path
    return f"args[{key}]" if kind == "args" else f"kwargs[{key!r}]"


def output_name(path: OutputPath) -> str:
    return "value" + "".join(f"[{i}]" for i in path)


def _leaves(
    args: tuple[Any, ...], kwargs: dict[str, Any], spec: GradientSpec
) -> dict[str, torch.Tensor]:
    leaves: dict[str, torch.Tensor] = {}
    for path in spec.wrt:
        kind, key = path
        value = args[key] if kind == "args" else kwargs[key]  # type: ignore[index]
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            leaves[argument_name(path)] = value.requires_grad_(True)
    if spec.params:
        named = [(f"args[{i}]", a) for i, a in enumerate(args)]
        named += [(f"kwargs[{k!r}]", a) for k, a in kwargs.items()]
        for root, value in named:
            for where, item in walk(value, root):
                if isinstance(item, nn.Module):
                    for name, parameter in item.named_parameters():
                        if parameter.is_floating_point():
                            leaves[f"{where}.{name}"] = parameter.requires_grad_(True)
    return leaves


def _at(value: Any, path: OutputPath) -> tuple[bool, Any]:
    for index in path:
        if not isinstance(value, tuple | list) or not -len(value) <= index < len(value):
            return False, None
        value = value[index]
    return True, value


def gradient_call(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    spec: GradientSpec,
) -> tuple[Any, list[dict[str, Any]]]:
    """Call `function` with the leaves of `spec` requiring grad; -> (value, report).
    Exceptions of the call itself propagate; those of back-propagation are reported."""
    leaves = _leaves(args, kwargs, spec)
    with torch.enable_grad():
        value = function(*args, **kwargs)
    report = [_pull_back(value, path, cotangent, leaves) for path, cotangent in spec.cotangents]
    return value, report


def _pull_back(
    value: Any, path: OutputPath, cotangent: torch.Tensor, leaves: dict[str, torch.Tensor]
) -> dict[str, Any]:
    entry: dict[str, Any] = {"output": output_name(path)}
    found, output = _at(value, path)
    if not found:
        return {**entry, "state": "missing"}
    if not isinstance(output, torch.Tensor):
        return {**entry, "state": "not-tensor", "type": type(output).__name__[:60]}
    if tuple(output.shape) != tuple(cotangent.shape):
        return {**entry, "state": "shape", "shape": list(output.shape)}
    if not output.requires_grad:
        return {**entry, "state": "detached"}
    names = list(leaves)
    # <cotangent, output> is a scalar whose gradient is the vector-Jacobian product; passing
    # `grad_outputs` instead makes torch import torch.fx's symbolic shapes, and with them
    # sympy (1.2-1.5 s on the first call of a process).
    pulled = (output * cotangent.to(device=output.device, dtype=output.dtype)).sum()
    try:
        grads = torch.autograd.grad(
            pulled, [leaves[n] for n in names], retain_graph=True, allow_unused=True
        )
    except Exception as err:  # reported to the student in plain words
        return {**entry, "state": "error", "error": f"{type(err).__name__}: {err}"[:600]}
    wrt = {n: (None if g is None else g.detach()) for n, g in zip(names, grads, strict=True)}
    return {**entry, "state": "ok", "wrt": wrt}
