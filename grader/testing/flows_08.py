"""The masked autoregressive conditioner that exercise-08's hidden tests hand to student code.

`MaskedConditioner(v)` maps v (B, d) to (log_scale, shift), each (B, d), where entry i of
both depends on v_<i only (v_1, ..., v_(i-1); entry 1 is a constant). It is a one-hidden-
layer MADE: every hidden unit h has a degree k_h in 1..d-1, sees the inputs v_1..v_(k_h)
and feeds the outputs i > k_h. The masks are multiplied into the weights, so a masked input
contributes an exact 0: output i is bitwise the same whatever v_i, ..., v_d hold. The hidden
layer is a tanh, so the log-scales stay bounded however large v is (a sequential pass
cannot overflow through the conditioner).

Counting calls, without wall time. The class lives in a trusted module, so the worker's
watch (`grader.runner.watch.CallWatch`) wraps its `forward` on the instance during every
call of a student function: `conditioner(v)` and `conditioner.forward(v)` are both
counted, and the count reaches the hidden test as `result.calls["args[1].forward"]` of
the `CallResult`. It also counts its own calls: with `call_limit` set, the call after the
limit raises `ConditionerCallLimit` (a BaseException, so an `except Exception` in student
code does not hide it) with a message that says what happened. The count starts at 0 in
every copy the worker unpickles (one per call of a student function), and a public kit
replaying a recorded call gets the same limit, so the kit enforces it too. Only honest
mistakes are in scope: code that calls `type(conditioner).forward` directly escapes both.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn


class ConditionerCallLimit(BaseException):
    """Raised in the worker when a student function calls the conditioner too often."""


def hidden_degrees(d: int, hidden: int) -> Tensor:
    """The degree k_h of each hidden unit: 1, 2, ..., d-1, 1, 2, ... (all 1 when d = 1)."""
    return torch.arange(hidden) % max(d - 1, 1) + 1


class MaskedConditioner(nn.Module):
    """v (B, d) -> (log_scale (B, d), shift (B, d)); entry i depends on v_<i only.

    `scale` multiplies the raw log-scale and `offset` is added to it (tests provoke huge
    log-scales with them); `call_limit` (None: unlimited) is how many calls one call of a
    student function may make."""

    def __init__(
        self,
        d: int,
        seed: int,
        hidden: int = 16,
        scale: float = 0.5,
        offset: float = 0.0,
        call_limit: int | None = None,
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        degrees = hidden_degrees(d, hidden)
        inputs = torch.arange(1, d + 1)
        self.register_buffer("mask_in", (inputs[None, :] <= degrees[:, None]).double())
        out_mask = (degrees[None, :] < inputs[:, None]).double()
        self.register_buffer("mask_out", torch.cat([out_mask, out_mask]))

        def draw(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        # no grad by default: the gradient call mode turns it on where a test asks for it
        self.w1 = nn.Parameter(draw(hidden, d) * 1.5 / max(d, 1) ** 0.5, requires_grad=False)
        self.b1 = nn.Parameter(draw(hidden) * 0.3, requires_grad=False)
        self.w2 = nn.Parameter(draw(2 * d, hidden) * 1.5 / hidden**0.5, requires_grad=False)
        self.b2 = nn.Parameter(draw(2 * d) * 0.3, requires_grad=False)
        self.d = d
        self.scale = scale
        self.offset = offset
        self.call_limit = call_limit

    def limited(self, calls: int) -> MaskedConditioner:
        """A copy with the same weights that allows `calls` calls per student call."""
        limited = copy.deepcopy(self)
        limited.call_limit = calls
        return limited

    def forward(self, v: Tensor) -> tuple[Tensor, Tensor]:
        self._count_call()
        dtype = v.dtype
        weight_in = (self.w1 * self.mask_in).to(dtype)
        weight_out = (self.w2 * self.mask_out).to(dtype)
        hidden = torch.tanh(v @ weight_in.T + self.b1.to(dtype))
        out = hidden @ weight_out.T + self.b2.to(dtype)
        log_scale = self.scale * out[..., : self.d] + self.offset
        return log_scale, out[..., self.d :].clone()

    def _count_call(self) -> None:
        calls = self.__dict__.get("_calls", 0) + 1
        self.__dict__["_calls"] = calls
        limit = getattr(self, "call_limit", None)
        if limit is not None and calls > limit:
            allowed = "once" if limit == 1 else f"{limit} times"
            raise ConditionerCallLimit(
                f"the conditioner was called a {_ordinal(calls)} time in one call of your "
                f"function; this check allows it {allowed} (d = {self.d})"
            )

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its call count: every unpickled copy starts counting at 0."""
        state = dict(self.__dict__)
        state.pop("_calls", None)
        return state


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
