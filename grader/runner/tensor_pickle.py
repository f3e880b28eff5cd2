"""Pickling a call's arguments for a worker, with tensors carried as raw CPU bytes.

Only the trusted -> worker direction uses pickle (see `protocol`). torch's own tensor
pickling saves every storage through `torch.save` into an in-memory archive and loads it
back with `torch.load`: about 0.2 ms per tensor on each side, which for the ~800 tensors
(module parameters included) that one submission's hidden tests send was the largest
single cost of grading. Here a dense strided tensor on any device is reduced to

    rebuild_tensor(dtype name, shape, bytes of its CPU copy)

and an `nn.Parameter` to `rebuild_parameter(<that tensor>, requires_grad)`; anything else
(sparse, quantized, conjugate-view or other subclassed tensors) keeps torch's own pickling.
An `nn.Module` without its own `__getstate__`/`__setstate__` is sent as
`rebuild_module(class, state)`, where `state` leaves out the bookkeeping entries that
still hold what `nn.Module.__init__` sets (empty hook dicts, `training=True`): a four-layer flow
pickles in 0.1 ms instead of 0.34 ms.
Arguments always travel on the CPU: the worker moves them to the grading device. Pickling
only reads the caller's objects, so a module on the GPU is sent without being copied or
moved first.

What does not survive, by design: autograd (a plain tensor arrives detached, with
`requires_grad=False`; a parameter keeps its flag), storage sharing between two different
tensors (each arrives with its own copy; the *same* tensor object passed twice stays one
object, as the pickle memo sees it once), and strides and memory format (tensors arrive
contiguous).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import torch

PROTOCOL = 5


def dumps(value: Any) -> bytes:
    """`pickle.dumps(value)` with the compact tensor reduction described above."""
    buffer = io.BytesIO()
    _TensorPickler(buffer, protocol=PROTOCOL).dump(value)
    return buffer.getvalue()


def as_received(value: Any) -> Any:
    """`value` as a worker receives it: the same pickle round trip a request takes (fresh,
    detached tensor copies; modules with copied state). For running trusted code on the
    arguments exactly as student code gets them (the release recorder, reference gradients)."""
    return pickle.loads(dumps(value))


def rebuild_tensor(dtype: str, shape: tuple[int, ...], data: bytes) -> torch.Tensor:
    """The tensor `_reduce_plain` took apart: a fresh, writable, resizable, contiguous CPU
    tensor with its own storage (as `torch.load` would give)."""
    kind = getattr(torch, dtype)
    tensor = torch.empty(shape, dtype=kind)
    if data:  # copied, not wrapped: storage over a foreign buffer cannot be resized
        tensor.view(-1).view(torch.uint8).copy_(
            torch.frombuffer(bytearray(data), dtype=torch.uint8)
        )
    return tensor


def rebuild_parameter(data: Any, requires_grad: bool) -> torch.nn.Parameter:
    return torch.nn.Parameter(data, requires_grad=requires_grad)


def rebuild_module(cls: type[torch.nn.Module], state: dict[str, Any]) -> torch.nn.Module:
    """A module of class `cls` with default bookkeeping and then `state` (see `_reduce_module`)."""
    module = cls.__new__(cls)
    torch.nn.Module.__init__(module)
    module.__dict__.update(state)
    return module


class _TensorPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is torch.Tensor and _plain(obj):
            return _reduce_plain(obj)
        if kind is torch.nn.Parameter and _plain(obj):
            return rebuild_parameter, (obj.detach(), obj.requires_grad)
        if isinstance(obj, torch.nn.Module) and _plain_module(kind):
            return _reduce_module(obj)
        return NotImplemented


def _plain(tensor: torch.Tensor) -> bool:
    """A dense, strided tensor with no lazy conjugate/negative bit: bytes say it all."""
    return (
        tensor.layout == torch.strided
        and not tensor.is_quantized
        and not tensor.is_conj()
        and not tensor.is_neg()
    )


_MODULE_DEFAULTS = vars(torch.nn.Module())
_ALWAYS_SENT = ("_parameters", "_buffers", "_modules")


def _plain_module(kind: type) -> bool:
    """Pickled by nn.Module's own state protocol (no class-specific pickling to respect)."""
    return (
        kind.__getstate__ is torch.nn.Module.__getstate__
        and kind.__setstate__ is torch.nn.Module.__setstate__
        and kind.__reduce_ex__ is object.__reduce_ex__
        and kind.__reduce__ is object.__reduce__
    )


def _reduce_module(module: torch.nn.Module) -> tuple[Any, tuple[Any, ...]]:
    """`rebuild_module(class, state)`: every entry of the module's `__dict__` except those
    equal to what `nn.Module.__init__` sets (empty hook dicts, `training=True`)."""
    state = {
        name: value
        for name, value in module.__dict__.items()
        if name in _ALWAYS_SENT or not _is_default(name, value)
    }
    return rebuild_module, (type(module), state)


def _is_default(name: str, value: Any) -> bool:
    if name not in _MODULE_DEFAULTS:
        return False
    default = _MODULE_DEFAULTS[name]
    return type(value) is type(default) and value == default


def _reduce_plain(tensor: torch.Tensor) -> tuple[Any, tuple[Any, ...]]:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    dtype = str(tensor.dtype).removeprefix("torch.")
    return rebuild_tensor, (dtype, tuple(tensor.shape), data)
