"""Project tests for exercise-07 (multi-scale flows, dequantisation, bits per dimension) and
the level flows its hidden tests use.

The grading contract (reference full marks, stub zero, every typical mistake in
tests/wrong/mutants.py loses points with its hint) comes from tests/exercise_grading.py;
correct answers written differently keep full marks. The reference itself is checked
against independent oracles: squeeze against index loops written here and against torch's
own pixel_unshuffle, log-dets against autograd Jacobians + slogdet (the level flows, the
squeeze, the whole two-level model), the factored log-density against
torch.distributions, and bits per dimension against a discrete model whose dequantised
likelihood is exact, and against sympy.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import pytest
import sympy
import torch
import torch.nn.functional as F
from torch import Tensor

from grader.grading import grade_exercise
from grader.testing.flows_07 import ChannelMixSinhArcsinh
from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_07_multiscale as reference
from tests.exercise_grading import (
    GradingContract,
    assert_full_marks_with,
    failed_outputs,
)
from tests.wrong.mutants import write_submission

LOG_TWO_PI = math.log(2 * math.pi)


class TestGrading(GradingContract):
    exercise_id = "exercise-07"


@pytest.fixture()
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(7)


def _squeeze_by_loops(x: Tensor) -> Tensor:
    """y[b, 4c + 2i + j, h, w] = x[b, c, 2h + i, 2w + j], one entry at a time."""
    batch, channels, height, width = x.shape
    y = torch.empty(batch, 4 * channels, height // 2, width // 2, dtype=x.dtype)
    for b in range(batch):
        for c in range(channels):
            for i in range(2):
                for j in range(2):
                    for h in range(height // 2):
                        for w in range(width // 2):
                            y[b, 4 * c + 2 * i + j, h, w] = x[b, c, 2 * h + i, 2 * w + j]
    return y


# ---------------------------------------------------------------- grading outcomes


CORRECT_ALTERNATIVES = {
    # torch's pixel (un)shuffle, chunk + torch.distributions, log2 written out, float64 inside
    "library_calls": (
        (
            "    patches = x.reshape(batch, channels, height // 2, 2, width // 2, 2)\n"
            "    y = patches.permute(0, 1, 3, 5, 2, 4).reshape("
            "batch, 4 * channels, height // 2, width // 2)",
            "    y = torch.nn.functional.pixel_unshuffle(x, 2)",
        ),
        (
            "    blocks = y.reshape(batch, channels // 4, 2, 2, height, width)\n"
            "    x = blocks.permute(0, 1, 4, 2, 5, 3).reshape("
            "batch, channels // 4, 2 * height, 2 * width)",
            "    x = torch.nn.functional.pixel_shuffle(y, 2)",
        ),
        (
            "    kept, factored = h[:, : channels // 2], h[:, channels // 2 :]\n"
            "    return kept, factored, _standard_normal_log_prob(factored)",
            "    kept, factored = torch.chunk(h, 2, dim=1)\n"
            "    normal = torch.distributions.Normal(h.new_zeros(()), h.new_ones(()))\n"
            "    return kept, factored, normal.log_prob(factored).flatten(1).sum(-1)",
        ),
        (
            "    return log_p_1 + _standard_normal_log_prob(z2) + log_det_1 + log_det_2",
            "    total = log_p_1.double() + _standard_normal_log_prob(z2.double())\n"
            "    return (total + log_det_1.double() + log_det_2.double()).to(x.dtype)",
        ),
        (
            "    return (x.to(noise.dtype) + noise) / 256",
            "    return x.to(noise.dtype).add(noise).div(256)",
        ),
        (
            "    return -log_prob / (dims * math.log(2.0)) + BITS_PER_BYTE",
            "    return -(log_prob / math.log(2)) / dims + math.log2(256)",
        ),
        ("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),
    ),
    # squeeze by explicit strided copies into a tensor the function made itself
    "strided_copies": (
        (
            "    patches = x.reshape(batch, channels, height // 2, 2, width // 2, 2)\n"
            "    y = patches.permute(0, 1, 3, 5, 2, 4).reshape("
            "batch, 4 * channels, height // 2, width // 2)",
            "    y = x.new_empty(batch, 4 * channels, height // 2, width // 2)\n"
            "    for i in range(2):\n"
            "        for j in range(2):\n"
            "            y[:, 2 * i + j :: 4] = x[:, :, i::2, j::2]",
        ),
        (
            "    blocks = y.reshape(batch, channels // 4, 2, 2, height, width)\n"
            "    x = blocks.permute(0, 1, 4, 2, 5, 3).reshape("
            "batch, channels // 4, 2 * height, 2 * width)",
            "    x = y.new_empty(batch, channels // 4, 2 * height, 2 * width)\n"
            "    for i in range(2):\n"
            "        for j in range(2):\n"
            "            x[:, :, i::2, j::2] = y[:, 2 * i + j :: 4]",
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT_ALTERNATIVES))
def test_correct_alternatives_keep_full_marks(tmp_path: Path, name: str) -> None:
    assert_full_marks_with("exercise-07", CORRECT_ALTERNATIVES[name], tmp_path)


def test_odd_size_error_with_another_message_names_the_expected_one(tmp_path: Path) -> None:
    vague = (
        '        raise ValueError(f"squeeze needs even H and W, got H={height}, W={width}")',
        '        raise ValueError("odd size")',
    )
    folder = write_submission("exercise-07", (vague,), tmp_path)
    result = grade_exercise("exercise-07", folder, seed=0)
    failed = failed_outputs(result)
    assert sorted(failed) == ["sizes_that_do_not_fit"]
    assert "your code raised ValueError: odd size" in failed["sizes_that_do_not_fit"]
    assert "squeeze needs even H and W, got H={H}, W={W}" in failed["sizes_that_do_not_fit"]


# ---------------------------------------------------------------- reference vs oracles


@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (2, 3, 4, 6), (2, 2, 6, 2)])
def test_reference_squeeze_matches_index_loops_and_pixel_unshuffle(shape) -> None:
    x = torch.randn(*shape, dtype=torch.float64)
    y, log_det = reference.squeeze(x)
    assert torch.equal(y, _squeeze_by_loops(x))
    assert torch.equal(y, F.pixel_unshuffle(x, 2))
    assert torch.equal(log_det, torch.zeros(shape[0], dtype=torch.float64))
    back, inverse_log_det = reference.unsqueeze(y)
    assert torch.equal(back, x) and torch.equal(back, F.pixel_shuffle(y, 2))
    assert torch.equal(inverse_log_det, torch.zeros(shape[0], dtype=torch.float64))


def test_reference_squeeze_jacobian_is_a_permutation() -> None:
    shape = (1, 2, 4, 2)
    flat = torch.randn(1, math.prod(shape), dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: reference.squeeze(v.reshape(shape))[0].reshape(-1), flat[0]
    )
    assert torch.equal(jacobian.sum(0), torch.ones(flat.shape[1], dtype=torch.float64))
    assert torch.equal(jacobian.sum(1), torch.ones(flat.shape[1], dtype=torch.float64))
    assert torch.linalg.slogdet(jacobian).logabsdet.item() == 0.0


def test_reference_sizes_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="squeeze needs even H and W, got H=5, W=4"):
        reference.squeeze(torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match="got C=6"):
        reference.unsqueeze(torch.zeros(1, 6, 2, 2))
    with pytest.raises(ValueError, match="got C=3"):
        reference.factor_out(torch.zeros(1, 3, 2, 2))


def test_reference_factor_out_matches_torch_distributions(generator: torch.Generator) -> None:
    h = torch.randn(3, 6, 2, 5, generator=generator, dtype=torch.float64) * 3
    kept, factored, log_prob = reference.factor_out(h)
    assert torch.equal(kept, h[:, :3]) and torch.equal(factored, h[:, 3:])
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(h[:, 3:]).sum((1, 2, 3))
    torch.testing.assert_close(log_prob, expected)
    huge = reference.factor_out(h * 100)[2]  # exp(-v^2/2) underflows; the log does not
    assert bool(torch.isfinite(huge).all())


@pytest.mark.parametrize("channels", [1, 3, 8])
def test_level_flow_keeps_the_layer_contract(generator: torch.Generator, channels: int) -> None:
    level = pickle.loads(pickle.dumps(ChannelMixSinhArcsinh.random(channels, seed=channels)))
    rotation = level.rotation
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(channels, dtype=torch.float64))
    shape = (channels, 2, 3)
    z = torch.randn(3, *shape, generator=generator, dtype=torch.float64) * 2
    x, forward_log_det = level.forward(z)
    back, inverse_log_det = level.inverse(x)
    torch.testing.assert_close(back, z)
    torch.testing.assert_close(forward_log_det, -inverse_log_det)

    def as_flat(method):
        return lambda v: getattr(level, method)(v.reshape(-1, *shape))[0].reshape(v.shape[0], -1)

    torch.testing.assert_close(
        forward_log_det, autograd_log_abs_det(as_flat("forward"), z.flatten(1))
    )
    torch.testing.assert_close(
        inverse_log_det, autograd_log_abs_det(as_flat("inverse"), x.flatten(1))
    )
    x32, log_det32 = level.forward(z.float())
    assert x32.dtype == log_det32.dtype == torch.float32
    assert bool(torch.isfinite(level.inverse(z * 1e6)[1]).all())  # large data stays finite


def _generate(z1: Tensor, z2: Tensor, level_1, level_2) -> Tensor:
    """The two-level model's generative map, unsqueezing with torch.pixel_shuffle."""
    h2, _ = level_2.forward(z2)
    h1, _ = level_1.forward(torch.cat([F.pixel_shuffle(h2, 2), z1], dim=1))
    return F.pixel_shuffle(h1, 2)


@pytest.mark.parametrize(
    ("channels", "height", "width", "scale"), [(1, 4, 4, 1.0), (2, 4, 8, 1.0), (1, 4, 4, 40.0)]
)
def test_reference_multiscale_matches_change_of_variables(
    generator: torch.Generator, channels: int, height: int, width: int, scale: float
) -> None:
    """log p(x) = log N(z) - log|det dx/dz| at x generated from latents z, also from latents
    40 times further out (far in the tails, like the hidden tests' far-out data: N(z)
    underflows to 0, log N(z) does not)."""
    level_1 = ChannelMixSinhArcsinh.random(4 * channels, seed=1)
    level_2 = ChannelMixSinhArcsinh.random(8 * channels, seed=2)
    z1 = torch.randn(2, 2 * channels, height // 2, width // 2, generator=generator).double()
    z2 = torch.randn(2, 8 * channels, height // 4, width // 4, generator=generator).double()
    z1, z2 = z1 * scale, z2 * scale
    x = _generate(z1, z2, level_1, level_2)
    split = z1[0].numel()

    def generate_flat(v: Tensor) -> Tensor:
        first = v[:, :split].reshape(-1, *z1.shape[1:])
        second = v[:, split:].reshape(-1, *z2.shape[1:])
        return _generate(first, second, level_1, level_2).flatten(1)

    latent = torch.cat([z1.flatten(1), z2.flatten(1)], dim=1)
    base = torch.distributions.Normal(0.0, 1.0).log_prob(latent).sum(-1)
    expected = base - autograd_log_abs_det(generate_flat, latent)
    torch.testing.assert_close(reference.multiscale_log_prob(x, level_1, level_2), expected)


def test_reference_dequantize_puts_each_value_in_its_bin(generator: torch.Generator) -> None:
    x = torch.randint(0, 256, (4, 3, 2, 2), generator=generator, dtype=torch.uint8)
    noise = torch.rand(4, 3, 2, 2, generator=generator, dtype=torch.float64)
    y = reference.dequantize(x, noise)
    assert y.dtype == torch.float64 and bool(((y >= 0) & (y < 1)).all())
    assert torch.equal(torch.floor(y * 256).to(torch.uint8), x)


def test_reference_bits_per_dim_is_exact_for_a_bin_constant_density(generator) -> None:
    """A density on [0, 1)^D that is constant on each of the 256^D bins, p_y(y) =
    prod_i 256 P(x_i), dequantises without loss: its bits/dim equal -log2 P(x) / D of the
    discrete model P, whatever the noise."""
    probabilities = torch.rand(256, generator=generator, dtype=torch.float64) + 0.01
    probabilities = probabilities / probabilities.sum()
    x = torch.randint(0, 256, (5, 3, 4, 4), generator=generator)
    noise = torch.rand(x.shape, generator=generator, dtype=torch.float64)
    y = reference.dequantize(x.to(torch.uint8), noise)
    bins = torch.floor(y * 256).long()
    log_p_y = torch.log(256 * probabilities[bins]).flatten(1).sum(-1)
    exact = -torch.log2(probabilities[x]).flatten(1).sum(-1) / x[0].numel()
    torch.testing.assert_close(reference.bits_per_dim(log_p_y, y), exact)


def test_reference_bits_per_dim_matches_sympy() -> None:
    log_p, dims = sympy.symbols("log_p D", positive=True)
    # v = 256 y on [0, 256)^D: log p_v = log p_y - D log 256; bits/dim = -log2 p_v / D
    bits = -(log_p - dims * sympy.log(256)) / (dims * sympy.log(2))
    assert sympy.simplify(bits - (-log_p / (dims * sympy.log(2)) + 8)) == 0
    evaluate = sympy.lambdify((log_p, dims), bits, "math")
    for value, shape in ((-3000.0, (2, 3, 8, 8)), (12.5, (1, 1, 2, 2))):
        log_prob = torch.full((shape[0],), value, dtype=torch.float64)
        got = reference.bits_per_dim(log_prob, torch.zeros(shape))
        dims_value = math.prod(shape[1:])
        assert got[0].item() == pytest.approx(evaluate(value, dims_value), rel=1e-12)
