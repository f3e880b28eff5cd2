"""Hidden tests for exercise-07 (multi-scale flows, dequantisation, bits per dimension). 10 points.

Inputs are drawn per test from the run's seed; expected values come from `solutions`,
cross-checked by independent oracles: squeeze against an index map built here entry by
entry from the stated formula, the two-level log-likelihood against log N(z) - log|det
dx/dz| of the model's generative map (autograd Jacobian + slogdet, with the index maps,
not the reference, for squeezing), and bits per dimension against hand-computed values.
The level flows are `grader.testing.flows_07.ChannelMixSinhArcsinh` (no graded answer of
any exercise inside).

Issue 11's classes of slips: extreme magnitudes where the maths is finite (factored-out
values and data far in the tails, whose densities underflow while their logs do not;
bits per dimension of very unlikely data), gradients of squeeze, unsqueeze, factor_out and
the model's log-likelihood against the reference's (float64), and a structure test of
every function under the virtual-device check and the worker's watch for in-place writes
into what the levels return.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest
import torch
from torch import Tensor

from grader.runner.errors import StudentRaised
from grader.testing import (
    describe,
    expect_close,
    expect_finite,
    expect_structure,
    expect_true,
    expect_tuple,
    expect_unchanged,
)
from grader.testing.checks import MisconceptionSource, expect_clean_call, fail, lazy
from grader.testing.flows_07 import ChannelMixSinhArcsinh
from grader.testing.gradients import (
    expect_same_gradients,
    gradient_spec,
)
from grader.testing.structure import expect_clean_outputs

Device = torch.device | str
LOG_TWO_PI = math.log(2 * math.pi)
LOG_TWO = math.log(2.0)
# (B, C, H, W, dtype): C >= 2 somewhere, so a channel-major / position-major mix-up shows
SQUEEZE_CASES = [
    (1, 1, 2, 2, torch.float64),
    (2, 3, 4, 6, torch.float32),
    (3, 2, 6, 4, torch.float64),
    (2, 4, 8, 2, torch.float32),
]
# (B, C, H, W, dtype, scale of x): the last case lies far in the tails, where the latents'
# density underflows to 0 while its log is an ordinary number
MODEL_CASES = [
    (2, 1, 4, 4, torch.float64, 1.0),
    (3, 3, 8, 4, torch.float32, 1.0),
    (1, 2, 4, 8, torch.float64, 1.0),
    (2, 1, 4, 4, torch.float64, 40.0),
]
# log p_y of very unlikely data: exp(log p_y) underflows to 0 in both dtypes
UNLIKELY = (-2.0e3, -5.0e4)

POSITION_MAJOR = (
    "wrong channel order: channel 4c + 2i + j holds pixel (2h + i, 2w + j) of channel c "
    "(the four pixels of one channel's patch are neighbours); you grouped by patch position "
    "first (channel (2i + j) C + c)"
)
IJ_SWAPPED = (
    "wrong channel order: the row offset i comes first, channel 4c + 2i + j; you put the "
    "column offset first (4c + 2j + i)"
)
PLAIN_RESHAPE = (
    "a reshape alone does not squeeze: each output channel must hold one position of every "
    "2 x 2 patch; reshape to (B, C, H/2, 2, W/2, 2), permute, then reshape"
)
QUADRANTS = (
    "squeeze works on 2 x 2 patches of neighbouring pixels: y[b, 4c + 2i + j, h, w] = "
    "x[b, c, 2h + i, 2w + j]; you cut the image into four quadrants instead"
)
NUMBER_LOG_DET = (
    "return one log-det per sample, a (B,) tensor on the input's device (x.new_zeros(B)), "
    "not the number 0"
)
NOT_ZERO_LOG_DET = (
    "squeeze only moves entries: it is a permutation, its Jacobian a permutation matrix "
    "with |det| = 1, so log|det| = 0 for every sample"
)
UNSQUEEZE_MESSAGE = "unsqueeze needs a channel count divisible by 4, got C={C}"
INDEX_MAP = (
    "check the index map: y[b, 4c + 2i + j, h, w] = x[b, c, 2h + i, 2w + j] for i, j in {0, 1}"
)
NOT_EXACT = (
    "squeeze and unsqueeze only move values, so they must reproduce them exactly "
    "(inf and NaN included): index or permute; do not multiply by a permutation matrix"
)
FIRST_HALF_OUT = (
    "the second half of the channels leaves the flow: kept = h[:, :C/2], factored = h[:, C/2:]"
)
BATCH_SUM = (
    "a log-density is one number per sample, shape (B,): sum over the factored dimensions "
    "(C/2, H, W) only, not over the batch"
)
BATCH_MEAN = "one number per sample, shape (B,): do not average over the batch"
MEAN_NOT_SUM = (
    "the log-density of independent entries is the SUM of their log-densities, not the mean"
)
NO_CONSTANT = "each entry's log N(v; 0, 1) includes the constant -1/2 log(2 pi)"
NOT_SUMMED = "sum over all factored dimensions (C/2, H and W), not over the channels only"
NOT_LOG = "return the log-density, not the density (work in log space: exp underflows)"
LOG_OF_DENSITY = (
    "work in log space: exp(-v^2 / 2) underflows to 0 for |v| > 38 in float64, and its log "
    "is -inf, while -v^2 / 2 - 1/2 log(2 pi) is an ordinary number"
)
WHOLE_H = "score only the factored half under N(0, I); the kept half goes on to the next level"
NO_FACTORED = (
    "the factored-out half z1 is part of the latent: add its standard normal log-density "
    "(from factor_out after level 1) to the total"
)
NO_LOG_DETS = (
    "change of variables: add both levels' log|det dz/dx| (from their .inverse) to the "
    "latents' log-densities"
)
LOG_DET_SUBTRACTED = (
    "each level's .inverse already returns log|det dz/dx|: add it, do not subtract it"
)
ONE_LOG_DET = "both levels change volume: add the log-dets of level_1 AND level_2"
FORWARD_FOR_DENSITY = "density evaluation goes x -> z: call each level's .inverse, not its .forward"
WRONG_HALF_MODEL = (
    "the second half of level 1's output is factored out; the first half is squeezed and "
    "goes through level 2"
)
DIVIDE_255 = "dequantisation divides by 256: the 256 bins [k, k+1) of [0, 256) map onto [0, 1)"
NOISE_NOT_SCALED = "scale the sum: y = (x + u) / 256, the noise too, not x / 256 + u"
NOISE_IGNORED = (
    "add the given noise u: y = (x + u) / 256 (a fixed +0.5 or no noise at all is not "
    "dequantisation)"
)
NO_EIGHT = (
    "you left out the +8: p_y is a density on [0, 1)^D, while the data live on [0, 256)^D; "
    "v = 256 y has p_v = p_y / 256^D, i.e. log2 256 = 8 bits per dimension more"
)
MINUS_EIGHT = (
    "the 256-bin term is +8 bits per dimension: p_v(v) = p_y(y) / 256^D lowers the density, "
    "so -log2 p_v rises by 8 per dimension"
)
NO_LOG_TWO = "bits, not nats: divide the natural log by log 2 (log2 p = log p / log 2)"
LN_256 = "in bits the 256-bin term is log2 256 = 8, and log p must be divided by log 2 as well"
BPD_SIGN = "bits per dimension is -log2 p / D: a higher likelihood gives fewer bits"
D_WITH_BATCH = "D = C * H * W counts the dimensions of ONE sample, not of the whole batch"
NOT_PER_DIM = "divide by D = C * H * W: bits per dimension, not bits per image"
BITS_LOG_SPACE = (
    "stay in log space: exp(log p) underflows to 0 for very unlikely data (log p below about "
    "-745 in float64, -104 in float32) and log2(0) = -inf, while log p itself is an ordinary "
    "number; convert nats to bits by dividing log p by log 2"
)


# ------------------------------------------------------------------ index maps (oracle)


@functools.cache
def _squeeze_sources(channels: int, height: int, width: int) -> Tensor:
    """For y = squeeze(x) of one sample: the flat index into x of every entry of y, in y's
    flat order, written entry by entry from y[4c + 2i + j, h, w] = x[c, 2h + i, 2w + j]."""
    sources = torch.empty(4 * channels, height // 2, width // 2, dtype=torch.long)
    for c in range(channels):
        for i in range(2):
            for j in range(2):
                for h in range(height // 2):
                    for w in range(width // 2):
                        row, col = 2 * h + i, 2 * w + j
                        sources[4 * c + 2 * i + j, h, w] = (c * height + row) * width + col
    return sources.reshape(-1)


def _squeeze_by_map(x: Tensor) -> Tensor:
    batch, channels, height, width = x.shape
    sources = _squeeze_sources(channels, height, width).to(x.device)
    return x.reshape(batch, -1)[:, sources].reshape(batch, 4 * channels, height // 2, width // 2)


def _unsqueeze_by_map(y: Tensor) -> Tensor:
    batch, channels, height, width = y.shape
    sources = _squeeze_sources(channels // 4, 2 * height, 2 * width).to(y.device)
    flat = torch.empty(batch, sources.numel(), dtype=y.dtype, device=y.device)
    flat[:, sources] = y.reshape(batch, -1)
    return flat.reshape(batch, channels // 4, 2 * height, 2 * width)


# ------------------------------------------------------------------ misconceptions


def _squeeze_variants(x: Tensor) -> dict[str, Tensor]:
    """What typical wrong squeezes return for x (B, C, H, W)."""
    batch, channels, height, width = x.shape
    patches = x.reshape(batch, channels, height // 2, 2, width // 2, 2)
    quadrants = x.reshape(batch, channels, 2, height // 2, 2, width // 2)
    shape = (batch, 4 * channels, height // 2, width // 2)
    return {
        POSITION_MAJOR: patches.permute(0, 3, 5, 1, 2, 4).reshape(shape),
        IJ_SWAPPED: patches.permute(0, 1, 5, 3, 2, 4).reshape(shape),
        PLAIN_RESHAPE: x.reshape(shape),
        QUADRANTS: quadrants.permute(0, 1, 2, 4, 3, 5).reshape(shape),
    }


def _unsqueeze_variants(y: Tensor) -> dict[str, Tensor]:
    """What the inverses of the wrong squeezes return for y (B, 4C, H, W)."""
    batch, channels, height, width = y.shape
    probe = torch.arange(batch * channels * height * width, dtype=torch.float64)
    probe = probe.reshape(batch, channels // 4, 2 * height, 2 * width)
    wrong = {}
    for hint, squeezed in _squeeze_variants(probe).items():
        sources = squeezed.reshape(batch, -1)[0].long()  # wrong squeeze: y = x[sources]
        order = torch.argsort(sources).to(y.device)
        wrong[hint] = y.reshape(batch, -1)[:, order].reshape(probe.shape)
    return wrong


def _log_normal(v: Tensor) -> Tensor:
    """Standard normal log-density summed over everything but the batch, in float64."""
    flat = v.double().reshape(v.shape[0], -1)
    return -0.5 * (flat * flat).sum(-1) - 0.5 * flat.shape[-1] * LOG_TWO_PI


def _factor_misconceptions(h: Tensor) -> dict[str, Tensor]:
    half = h.shape[1] // 2
    kept, factored = h[:, :half].double(), h[:, half:].double()
    correct = _log_normal(factored)
    per_entry = -0.5 * factored * factored - 0.5 * LOG_TWO_PI
    return {
        FIRST_HALF_OUT: _log_normal(kept),
        BATCH_SUM: correct.sum(),
        BATCH_MEAN: correct.mean(),
        MEAN_NOT_SUM: per_entry.reshape(h.shape[0], -1).mean(-1),
        NO_CONSTANT: correct + 0.5 * factored[0].numel() * LOG_TWO_PI,
        NOT_SUMMED: per_entry.sum(1),
        f"{NOT_SUMMED} (you summed over the channels and H only)": per_entry.sum((1, 2)),
        NOT_LOG: correct.exp(),
        WHOLE_H: _log_normal(h),
    }


def _model_misconceptions(x: Tensor, level_1: Any, level_2: Any, reference: Any) -> dict:
    """log p(x) (B,) as typical wrong assemblies of the two-level model compute it."""
    x = x.double()
    squeeze = reference.squeeze

    def assemble(method: str, second_half_out: bool = True) -> dict[str, Tensor]:
        h1, ld1 = getattr(level_1, method)(squeeze(x)[0])
        half = h1.shape[1] // 2
        kept, z1 = (h1[:, :half], h1[:, half:]) if second_half_out else (h1[:, half:], h1[:, :half])
        z2, ld2 = getattr(level_2, method)(squeeze(kept)[0])
        return {"lp1": _log_normal(z1), "lp2": _log_normal(z2), "ld1": ld1, "ld2": ld2, "h1": h1}

    right = assemble("inverse")
    lp1, lp2, ld1, ld2 = right["lp1"], right["lp2"], right["ld1"], right["ld2"]
    correct = lp1 + lp2 + ld1 + ld2
    wrong = {
        NO_FACTORED: lp2 + ld1 + ld2,
        NO_LOG_DETS: lp1 + lp2,
        LOG_DET_SUBTRACTED: lp1 + lp2 - ld1 - ld2,
        f"{ONE_LOG_DET} (you added level_2's only)": lp1 + lp2 + ld2,
        f"{ONE_LOG_DET} (you added level_1's only)": lp1 + lp2 + ld1,
        WHOLE_H: _log_normal(right["h1"]) + lp2 + ld1 + ld2,
        BATCH_SUM: correct.sum(),
    }
    forward = assemble("forward")
    forward_latents = forward["lp1"] + forward["lp2"]
    wrong[FORWARD_FOR_DENSITY] = forward_latents + forward["ld1"] + forward["ld2"]
    wrong[f"{FORWARD_FOR_DENSITY} (and subtracted its log-dets)"] = (
        forward_latents - forward["ld1"] - forward["ld2"]
    )
    swapped = assemble("inverse", second_half_out=False)
    wrong[WRONG_HALF_MODEL] = swapped["lp1"] + swapped["lp2"] + swapped["ld1"] + swapped["ld2"]
    return wrong


def _dequantize_misconceptions(x: Tensor, noise: Tensor) -> dict[str, Tensor]:
    v, u = x.double(), noise.double()
    return {
        DIVIDE_255: (v + u) / 255,
        f"{DIVIDE_255} (and add the noise before dividing)": v / 255 + u,
        NOISE_NOT_SCALED: v / 256 + u,
        NOISE_IGNORED: v / 256,
        f"{NOISE_IGNORED} (you added 0.5)": (v + 0.5) / 256,
    }


def _bits_misconceptions(log_prob: Tensor, x: Tensor) -> dict[str, Tensor]:
    lp = log_prob.double()
    dims = x[0].numel()
    bits = -lp / (dims * LOG_TWO)
    return {
        NO_EIGHT: bits,
        MINUS_EIGHT: bits - 8,
        NO_LOG_TWO: -lp / dims + 8,
        LN_256: -lp / dims + math.log(256.0),
        BPD_SIGN: -bits + 8,
        D_WITH_BATCH: -lp / (x.numel() * LOG_TWO) + 8,
        NOT_PER_DIM: -lp / LOG_TWO + 8,
        f"{NOT_PER_DIM} (and left out the +8)": -lp / LOG_TWO,
        BATCH_MEAN: (bits + 8).mean(),
    }


# ------------------------------------------------------------------ helpers


def _images(
    rng: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype, device: Device
) -> Tensor:
    return torch.randn(*shape, generator=rng, dtype=torch.float64).to(dtype).to(device)


def _where(shape: tuple[int, ...], dtype: torch.dtype) -> str:
    return f"(shape {shape}, {str(dtype).removeprefix('torch.')})"


def _levels(rng: torch.Generator, channels: int, device: Device) -> tuple[Any, Any]:
    seeds = torch.randint(0, 2**31, (2,), generator=rng).tolist()
    level_1 = ChannelMixSinhArcsinh.random(4 * channels, seeds[0]).to(device)
    level_2 = ChannelMixSinhArcsinh.random(8 * channels, seeds[1]).to(device)
    return level_1, level_2


def _expect_log_det_zero(got: Any, like: Tensor, *, what: str) -> None:
    """A (B,) tensor of zeros in like's dtype, with teaching hints for the usual slips."""
    if isinstance(got, int | float):
        shape = f"({like.shape[0]},)"
        fail(what, f"expected a tensor of shape {shape}, got the number {got!r}", NUMBER_LOG_DET)
    expected = like.new_zeros(like.shape[0])
    expect_close(got, expected, what=what, hint=NOT_ZERO_LOG_DET)
    expect_structure(got, expected, what=what)


def _call_pair(student: Any, function: str, v: Tensor) -> tuple[Any, Any]:
    names = "(y, log_det)" if function == "squeeze" else "(x, log_det)"
    return expect_tuple(getattr(student, function)(v), 2, function, names)


def _check_map(
    student: Any,
    function: str,
    v: Tensor,
    expected: Tensor,
    misc: MisconceptionSource,
    hint: str = INDEX_MAP,
) -> Tensor:
    """Call squeeze/unsqueeze; check values, log-det, structure and (for inputs without
    NaN, which never equals itself) that the input is unchanged."""
    has_nan = bool(torch.isnan(v).any())
    result = student.call_full(function, (v,), return_inputs=not has_nan)
    names = "(y, log_det)" if function == "squeeze" else "(x, log_det)"
    out, log_det = expect_tuple(result.value, 2, function, names)
    what = f"{function} of an input of {describe(v)}"
    expect_close(out, expected, what=what, rtol=0.0, atol=0.0, misconceptions=misc, hint=hint)
    expect_structure(out, expected, what=what)
    _expect_log_det_zero(log_det, v, what=f"log_det of {what}")
    expect_unchanged([v], result.inputs_after, function=function, names=["the input"])
    return out


def _check_result(
    student: Any,
    function: str,
    args: tuple[Any, ...],
    expected: Tensor,
    *,
    what: str,
    names: list[str],
    misconceptions: MisconceptionSource,
) -> None:
    """Call `function(*args)`: values (with misconception hints), shape, dtype and device as
    the reference's `expected`, and every input left unchanged."""
    result = student.call_full(function, args, return_inputs=True)
    expect_close(result.value, expected, what=what, misconceptions=misconceptions)
    expect_structure(result.value, expected, what=what)
    expect_unchanged(list(args), result.inputs_after, function=function, names=names)


def _expect_value_error(student: Any, function: str, v: Tensor, sizes: str, message: str) -> None:
    checked = (
        f"{function} of an input of shape {tuple(v.shape)} raises ValueError naming the sizes "
        f"({sizes})"
    )
    try:
        student.call_full(function, (v,))
    except StudentRaised as err:
        kind = err.detail.split(":", 1)[0]
        expect_true(
            kind == "ValueError" and sizes in err.detail,
            checked,
            f"your code raised {err.detail[:300]}",
            f'check the sizes first and raise ValueError(f"{message}") with the sizes filled in',
        )
        return
    fail(checked, "your function returned normally", f'raise ValueError(f"{message}")')


def _generate(z1: Tensor, z2: Tensor, level_1: Any, level_2: Any) -> Tensor:
    """The model's generative map (z1, z2) -> x, squeezing with the index maps."""
    h2, _ = level_2.forward(z2)
    h1, _ = level_1.forward(torch.cat([_unsqueeze_by_map(h2), z1], dim=1))
    return _unsqueeze_by_map(h1)


def _flat_generator(z1_shape: torch.Size, z2_shape: torch.Size, level_1: Any, level_2: Any) -> Any:
    """The generative map of one sample as a function of its flat latent (z1, z2)."""
    split = math.prod(z1_shape)

    def generate(flat: Tensor) -> Tensor:
        first = flat[:split].reshape(1, *z1_shape)
        second = flat[split:].reshape(1, *z2_shape)
        return _generate(first, second, level_1, level_2).reshape(-1)

    return generate


# ------------------------------------------------------------------ tests


@pytest.mark.points(1)
def test_squeeze_index_map(student, device, rng):
    """squeeze puts x[b, c, 2h+i, 2w+j] into channel 4c+2i+j, checked against an index map."""
    for batch, channels, height, width, dtype in SQUEEZE_CASES:
        x = _images(rng, (batch, channels, height, width), dtype, device)
        _check_map(student, "squeeze", x, _squeeze_by_map(x), lazy(_squeeze_variants, x))


@pytest.mark.points(1)
def test_unsqueeze_inverts_squeeze(student, device, rng):
    """unsqueeze undoes squeeze, and both move values exactly (inf, NaN and 1e300 included)."""
    for batch, channels, height, width, dtype in SQUEEZE_CASES:
        shape = (batch, 4 * channels, height // 2, width // 2)
        y = _images(rng, shape, dtype, device)
        _check_map(student, "unsqueeze", y, _unsqueeze_by_map(y), lazy(_unsqueeze_variants, y))
    for dtype, huge in ((torch.float64, 1e300), (torch.float32, 3e38)):
        x = _images(rng, (2, 2, 4, 4), dtype, device)
        x[0, 0, 0, :] = torch.tensor([math.inf, -math.inf, math.nan, huge])
        x[1, 1, 3, 1:] = torch.tensor([-huge, 1e-300 if dtype == torch.float64 else 1.5e-38, 0.0])
        misc = lazy(_squeeze_variants, x)
        squeezed = _check_map(student, "squeeze", x, _squeeze_by_map(x), misc, NOT_EXACT)
        back, _ = _call_pair(student, "unsqueeze", squeezed)
        expect_close(
            back,
            x,
            what=f"unsqueeze(squeeze(x)) with your own functions for x of {describe(x)}",
            rtol=0.0,
            atol=0.0,
            hint=NOT_EXACT,
        )


@pytest.mark.points(1)
def test_sizes_that_do_not_fit(student, rng):
    """Sizes that do not fit raise ValueError: odd H or W, C not divisible by 4, odd C."""
    cases = (  # (function, input shape, sizes the message must name, the stub's message)
        ("squeeze", (2, 3, 5, 4), "H=5, W=4", "squeeze needs even H and W, got H={H}, W={W}"),
        ("squeeze", (1, 1, 4, 3), "H=4, W=3", "squeeze needs even H and W, got H={H}, W={W}"),
        ("squeeze", (1, 2, 7, 7), "H=7, W=7", "squeeze needs even H and W, got H={H}, W={W}"),
        ("unsqueeze", (2, 6, 2, 2), "C=6", UNSQUEEZE_MESSAGE),
        ("factor_out", (2, 3, 2, 2), "C=3", "factor_out needs an even channel count, got C={C}"),
    )  # fmt: skip
    for function, shape, sizes, message in cases:
        v = _images(rng, shape, torch.float64, "cpu")
        _expect_value_error(student, function, v, sizes, message)


@pytest.mark.points(1)
def test_factor_out(student, reference, device, rng):
    """factor_out keeps the first half of the channels and scores the second half under N(0, I)."""
    cases = [
        ((1, 2, 2, 2), torch.float64, 1.0),
        ((3, 4, 3, 5), torch.float32, 1.0),
        ((2, 6, 4, 4), torch.float64, 1.0),
        ((2, 4, 2, 3), torch.float64, 60.0),  # |v| ~ 60: exp(-v^2/2) underflows
        ((2, 2, 2, 2), torch.float32, 12.0),  # float32 underflows from |v| ~ 14
    ]
    for shape, dtype, scale in cases:
        h = _images(rng, shape, dtype, device) * scale
        result = student.call_full("factor_out", (h,), return_inputs=True)
        kept, factored, log_prob = expect_tuple(
            result.value, 3, "factor_out", "(kept, factored, log_prob)"
        )
        kept_ref, factored_ref, lp_ref = reference.factor_out(h)
        where = _where(shape, dtype) + (f", entries ~ +-{scale:g}" if scale > 1 else "")
        for name, got, want in (("kept", kept, kept_ref), ("factored", factored, factored_ref)):
            expect_close(
                got, want, what=f"{name} half from factor_out {where}", hint=FIRST_HALF_OUT
            )
            expect_structure(got, want, what=f"{name} half from factor_out {where}")
        what = f"log_prob of the factored half from factor_out {where}"
        if isinstance(log_prob, Tensor):
            expect_finite(log_prob, what=what, hint=LOG_OF_DENSITY)
        expect_close(log_prob, lp_ref, what=what, misconceptions=lazy(_factor_misconceptions, h))
        expect_structure(log_prob, lp_ref, what=what)
        expect_unchanged([h], result.inputs_after, function="factor_out", names=["h"])


@pytest.mark.points(1)
def test_multiscale_log_prob_matches_reference(student, reference, device, rng):
    """multiscale_log_prob of the two-level model matches the reference, far tails included."""
    for batch, channels, height, width, dtype, scale in MODEL_CASES:
        x = _images(rng, (batch, channels, height, width), dtype, device) * scale
        level_1, level_2 = _levels(rng, channels, device)
        where = _where(tuple(x.shape), dtype) + (f", entries ~ +-{scale:g}" if scale > 1 else "")
        what = f"log p(x) of the two-level model {where}"
        result = student.call_full("multiscale_log_prob", (x, level_1, level_2), return_inputs=True)
        if isinstance(result.value, Tensor):
            expect_finite(result.value, what=what, hint=LOG_OF_DENSITY)
        expected = reference.multiscale_log_prob(x, level_1, level_2)
        misc = lazy(_model_misconceptions, x, level_1, level_2, reference)
        expect_close(result.value, expected, what=what, misconceptions=misc)
        expect_structure(result.value, expected, what=what)
        names = ["x", "level_1", "level_2"]
        expect_unchanged([x], result.inputs_after, function="multiscale_log_prob", names=names)
        expect_clean_call(result, function="multiscale_log_prob", names=names)


@pytest.mark.points(1)
def test_multiscale_change_of_variables(student, reference, rng):
    """log p(x) agrees with the model's generative map (autograd Jacobian + slogdet)."""
    for batch, channels, height, width in ((2, 1, 4, 4), (1, 2, 4, 4)):
        level_1, level_2 = _levels(rng, channels, "cpu")
        z1 = _images(rng, (batch, 2 * channels, height // 2, width // 2), torch.float64, "cpu")
        z2 = _images(rng, (batch, 8 * channels, height // 4, width // 4), torch.float64, "cpu")
        x = _generate(z1, z2, level_1, level_2)
        generate_flat = _flat_generator(z1.shape[1:], z2.shape[1:], level_1, level_2)
        oracle = []
        for index in range(batch):
            latent = torch.cat([z1[index].reshape(-1), z2[index].reshape(-1)])
            jacobian = torch.autograd.functional.jacobian(generate_flat, latent)
            log_det = torch.linalg.slogdet(jacobian).logabsdet
            oracle.append(
                -0.5 * (latent * latent).sum() - 0.5 * latent.numel() * LOG_TWO_PI - log_det
            )
        expect_close(
            student.multiscale_log_prob(x, level_1, level_2),
            torch.stack(oracle),
            what=f"log p(x) vs log N(z) - log|det dx/dz| of the model's generative map, x of "
            f"{describe(x)}",
            rtol=1e-6,
            atol=1e-8,
            misconceptions=lazy(_model_misconceptions, x, level_1, level_2, reference),
            hint="assemble the density in the x -> z direction: squeeze, level_1.inverse, "
            "factor out, squeeze, level_2.inverse",
        )


@pytest.mark.points(1)
def test_dequantize(student, reference, device, rng):
    """dequantize maps 8-bit x and noise u in [0, 1) to (x + u) / 256 in the noise's dtype."""
    for shape, dtype in (((2, 1, 2, 2), torch.float64), ((3, 3, 4, 4), torch.float32)):
        x = torch.randint(0, 256, shape, generator=rng, dtype=torch.uint8)
        x.view(-1)[:2] = torch.tensor([0, 255], dtype=torch.uint8)
        noise = torch.rand(shape, generator=rng, dtype=torch.float64).to(dtype)
        noise.view(-1)[:2] = torch.tensor([0.0, 1.0 - 2.0**-20])
        x, noise = x.to(device), noise.to(device)
        _check_result(
            student,
            "dequantize",
            (x, noise),
            reference.dequantize(x, noise),
            what=f"y = dequantize(x, u) for x of shape {shape}, noise {describe(noise)}",
            names=["x", "noise"],
            misconceptions=lazy(_dequantize_misconceptions, x, noise),
        )


@pytest.mark.points(1)
def test_bits_per_dim(student, reference, device, rng):
    """bits_per_dim matches values worked out by hand, random cases and very unlikely data."""
    x = torch.zeros(2, 3, 4, 4, dtype=torch.float64, device=device)
    dims = 3 * 4 * 4
    by_hand = (
        (torch.zeros(2, dtype=torch.float64), 8.0, "log p_y = 0 (uniform on [0, 1)^D)"),
        (torch.full((2,), dims * LOG_TWO, dtype=torch.float64), 7.0,
         "log p_y = D log 2 (uniform on [0, 1/2)^D)"),
    )  # fmt: skip
    for log_prob, bits, label in by_hand:
        log_prob = log_prob.to(device)
        expect_close(
            student.bits_per_dim(log_prob, x),
            torch.full((2,), bits, dtype=torch.float64),
            what=f"bits per dimension for {label}, x of shape (2, 3, 4, 4): expected {bits:g}",
            misconceptions=lazy(_bits_misconceptions, log_prob, x),
        )
    for shape, dtype in (((3, 1, 2, 2), torch.float32), ((4, 3, 8, 8), torch.float64)):
        data = torch.rand(shape, generator=rng, dtype=torch.float64).to(dtype).to(device)
        dims = data[0].numel()
        log_prob = (torch.randn(shape[0], generator=rng, dtype=torch.float64) * dims).to(dtype)
        log_prob = log_prob.to(device)
        _check_result(
            student,
            "bits_per_dim",
            (log_prob, data),
            reference.bits_per_dim(log_prob, data),
            what=f"bits per dimension for log p_y of {describe(log_prob)}, x of shape {shape}",
            names=["log_prob", "x"],
            misconceptions=lazy(_bits_misconceptions, log_prob, data),
        )
    for dtype in (torch.float32, torch.float64):
        data = torch.rand(2, 3, 4, 4, generator=rng, dtype=torch.float64).to(dtype).to(device)
        log_prob = torch.tensor(UNLIKELY, dtype=dtype, device=device)
        what = (
            f"bits per dimension of very unlikely data (log p_y = {UNLIKELY}, {describe(log_prob)})"
        )
        result = student.call_full("bits_per_dim", (log_prob, data), return_inputs=True)
        if isinstance(result.value, Tensor):
            expect_finite(result.value, what=what, hint=BITS_LOG_SPACE)
        expect_close(
            result.value,
            reference.bits_per_dim(log_prob, data),
            what=what,
            misconceptions=lazy(_bits_misconceptions, log_prob, data),
            hint=BITS_LOG_SPACE,
        )


@pytest.mark.points(1)
def test_gradients(student, reference, rng):
    """Gradients of squeeze, unsqueeze, factor_out and the log-likelihood match the reference's.

    Each function is differentiated with respect to its tensor input, in float64: training a
    multi-scale model back-propagates through all of them."""
    level_1, level_2 = _levels(rng, 2, "cpu")
    calls = (
        ("squeeze", (_images(rng, (2, 2, 4, 4), torch.float64, "cpu"),), ["x"], ["y", "log_det"]),
        ("unsqueeze", (_images(rng, (2, 8, 2, 2), torch.float64, "cpu"),), ["y"], ["x", "log_det"]),
        (
            "factor_out",
            (_images(rng, (2, 4, 2, 3), torch.float64, "cpu"),),
            ["h"],
            ["kept", "factored", "log_prob"],
        ),
        (
            "multiscale_log_prob",
            (_images(rng, (2, 2, 4, 4), torch.float64, "cpu"), level_1, level_2),
            ["x", "level_1", "level_2"],
            ["log p(x)"],
        ),
    )
    for function, args, names, outputs in calls:
        spec = gradient_spec(rng, getattr(reference, function)(*args), wrt=(0,))
        expect_same_gradients(
            student,
            reference,
            function,
            args,
            spec,
            names=names,
            outputs=outputs,
        )


def _structure_calls(rng: torch.Generator, dtype: torch.dtype, device: Device) -> list[tuple]:
    """(function, args, names) for every function, with inputs in `dtype` on `device`."""
    level_1, level_2 = _levels(rng, 1, device)
    pixels = torch.randint(0, 256, (2, 1, 4, 4), generator=rng, dtype=torch.uint8).to(device)
    noise = torch.rand(2, 1, 4, 4, generator=rng, dtype=torch.float64).to(dtype).to(device)
    log_prob = (torch.randn(2, generator=rng, dtype=torch.float64) * 16).to(dtype).to(device)
    return [
        ("squeeze", (_images(rng, (2, 2, 4, 4), dtype, device),), ["x"]),
        ("unsqueeze", (_images(rng, (2, 8, 2, 2), dtype, device),), ["y"]),
        ("factor_out", (_images(rng, (2, 4, 2, 2), dtype, device),), ["h"]),
        (
            "multiscale_log_prob",
            (_images(rng, (2, 1, 4, 4), dtype, device), level_1, level_2),
            ["x", "level_1", "level_2"],
        ),
        ("dequantize", (pixels, noise), ["x", "noise"]),
        ("bits_per_dim", (log_prob, noise), ["log_prob", "x"]),
    ]


@pytest.mark.points(1)
def test_structure(student, reference, device, rng):
    """Outputs keep their shape, dtype and device, and every call leaves what it is given alone.

    These points need correct values. Each call runs under the virtual-device check (a
    tensor a GPU run would put on the CPU fails) and the worker's watch for in-place writes,
    also into the tensors the levels return."""
    for dtype in (torch.float32, torch.float64):
        for function, args, names in _structure_calls(rng, dtype, device):
            expect_clean_outputs(student, reference, function, args, names)
