"""What the worker watches during one call: writes into tensors the student did not create,
and how often each trusted callable it was given ran.

    watch = CallWatch(args, kwargs, trusted=("grader.testing.",))
    with watch:
        value = function(*args, **kwargs)
    watch.report()   # {"calls": {"args[1].forward": 3}, "writes": [...]}

Before the call it notes the `_version` counter of every tensor reachable from the
arguments (tensors, lists, tuples, dicts, and the parameters and buffers of modules). On
each *trusted* object among the arguments (one whose class is defined in a module named
by `trusted`: the layers and conditioners the hidden tests hand over), it wraps every
public method the trusted classes define (`forward`, `inverse`, ...) on the instance:
each call is counted, and the `_version` of every tensor it returns is noted. After the
call, a counter that moved means an in-place write (`add_`, `x[...] = ...`, `+=`; views
share their base's counter, so a write through a view counts too) into an input or into
a tensor trusted code handed back — which the student did not create and must not change
(a layer that caches its log-det would drift on every call).

This is an honest-mistake detector that runs inside the untrusted worker: student code can
defeat it (write through numpy or `.data`, call `type(layer).forward` directly, patch the
watch), and
that is fine, since nothing it reports can earn a point; a hidden test only *withholds*
points when it reports a write. Cost: a Python wrapper per trusted method (a few µs per
call) and one integer per tensor.

Paths name where a thing sits in the call: `args[0]`, `args[0][2]` (third layer of the
first argument), `kwargs['clamp']`, `args[1].w1` (a parameter of a module argument).
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

MAX_REPORTED = 8


def walk(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Every (path, object) inside an argument: itself, items of sequences and dicts."""
    yield path, value
    if depth > 6:
        return
    if isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}[{key!r}]", depth + 1)


def argument_items(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """`walk` over every positional and keyword argument of a call."""
    for index, value in enumerate(args):
        yield from walk(value, f"args[{index}]")
    for name, value in kwargs.items():
        yield from walk(value, f"kwargs[{name!r}]")


def argument_tensors(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every tensor reachable from the arguments, module parameters and buffers included."""
    for path, value in argument_items(args, kwargs):
        if isinstance(value, torch.Tensor):
            yield path, value
        elif isinstance(value, nn.Module):
            for name, tensor in value.named_parameters():
                yield f"{path}.{name}", tensor
            for name, tensor in value.named_buffers():
                yield f"{path}.{name}", tensor


def _tensors_in(value: Any, path: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    for where, item in walk(value, path):
        if isinstance(item, torch.Tensor):
            yield where, item


class CallWatch:
    """Counts trusted calls and finds in-place writes into tensors the student did not make."""

    def __init__(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], trusted: tuple[str, ...]
    ) -> None:
        self._trusted = tuple(trusted)
        self._inputs = [(p, t, t._version) for p, t in argument_tensors(args, kwargs)]
        self._returned: list[tuple[str, torch.Tensor, int]] = []
        self.calls: dict[str, int] = {}
        self._patched: list[tuple[Any, str]] = []
        self._objects: list[tuple[str, Any]] = []
        seen: set[int] = set()
        for path, value in argument_items(args, kwargs):
            if id(value) not in seen and self._is_trusted(value):
                seen.add(id(value))
                self._objects.append((path, value))

    def _is_trusted(self, value: Any) -> bool:
        module = getattr(type(value), "__module__", "") or ""
        return bool(self._trusted) and module.startswith(self._trusted)

    def __enter__(self) -> CallWatch:
        for path, obj in self._objects:
            for name in _public_methods(type(obj), self._trusted):
                original = getattr(obj, name)
                try:
                    object.__setattr__(obj, name, self._wrap(original, f"{path}.{name}"))
                except (AttributeError, TypeError):  # slots, or a frozen object: unwatched
                    continue
                self._patched.append((obj, name))
        return self

    def __exit__(self, *exc: object) -> None:
        for obj, name in self._patched:
            with contextlib.suppress(AttributeError):  # the student deleted it already
                object.__delattr__(obj, name)
        self._patched.clear()

    def _wrap(self, method: Callable[..., Any], where: str) -> Callable[..., Any]:
        @functools.wraps(method)
        def watched(*args: Any, **kwargs: Any) -> Any:
            number = self.calls.get(where, 0) + 1
            self.calls[where] = number
            result = method(*args, **kwargs)
            label = f"{where} (call {number})"
            for part, tensor in _tensors_in(result):
                self._returned.append((f"{label}{part}", tensor, tensor._version))
            return result

        return watched

    def writes(self) -> dict[str, list[str]]:
        """Paths written in place: `inputs` (argument tensors, module state) and `returned`
        (tensors returned by trusted methods, as `<method path> (call n)<output index>`)."""
        inputs = [p for p, t, v in self._inputs if t._version != v]
        returned = [p for p, t, v in self._returned if t._version != v]
        return {"inputs": inputs[:MAX_REPORTED], "returned": returned[:MAX_REPORTED]}

    def report(self) -> dict[str, Any]:
        """The JSON-able summary the worker sends back with the call's result."""
        return {"calls": dict(self.calls), "writes": self.writes()}


@functools.cache
def _public_methods(cls: type, trusted: tuple[str, ...]) -> tuple[str, ...]:
    """Public plain methods that the trusted classes in `cls`'s MRO define themselves."""
    names: list[str] = []
    for klass in cls.__mro__:
        if not (getattr(klass, "__module__", "") or "").startswith(trusted):
            continue
        for name, value in vars(klass).items():
            public = not name.startswith("_") and isinstance(value, types.FunctionType)
            if public and name not in names:
                names.append(name)
    return tuple(names)
