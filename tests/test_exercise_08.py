"""Project tests for exercise-08 (MAF vs IAF) and its trusted masked conditioner.

The grading contract (reference full marks, stub zero, every typical mistake in
tests/wrong/mutants.py loses points with its hint) comes from tests/exercise_grading.py;
correct answers written differently are graded by tests/test_trust.py. The reference is
checked against independent oracles: autograd Jacobians (lower triangular, diagonal
exp(+-a)) + slogdet for all four maps, round trips, and the number of conditioner calls
each direction makes, counted by the worker's watch. The conditioner itself is checked
for what the tests rely on: output i ignores inputs i..d bitwise, its call limit, and its
trip through a pickle (a worker) and through a kit's vector file.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from grader.release.encoding import Encoder, decode
from grader.runner import tensor_pickle
from grader.runner.preload import ARGUMENT_MODULES
from grader.runner.watch import CallWatch
from grader.testing.flows_08 import ConditionerCallLimit, MaskedConditioner
from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_08_maf_iaf as reference
from tests.exercise_grading import GradingContract

Map = Callable[[Tensor, MaskedConditioner], tuple[Tensor, Tensor]]
MAPS: dict[str, Map] = {
    "maf_inverse": reference.maf_inverse,
    "maf_forward": reference.maf_forward,
    "iaf_forward": reference.iaf_forward,
    "iaf_inverse": reference.iaf_inverse,
}


class TestGrading(GradingContract):
    exercise_id = "exercise-08"


@pytest.fixture()
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(8)


# ---------------------------------------------------------------- reference vs oracles


@pytest.mark.parametrize("d", [1, 3, 6])
@pytest.mark.parametrize("name", sorted(MAPS))
def test_reference_log_det_matches_autograd_jacobian(
    generator: torch.Generator, name: str, d: int
) -> None:
    """Each map's Jacobian is lower triangular with diagonal exp(+-a_i); its slogdet is the
    returned log-det (+ for z -> x, - for x -> z)."""
    conditioner = MaskedConditioner(d, seed=d, scale=1.0)
    v = torch.randn(4, d, generator=generator, dtype=torch.float64)
    function = MAPS[name]
    _, log_det = function(v, conditioner)
    oracle = autograd_log_abs_det(lambda u: function(u, conditioner)[0], v)
    torch.testing.assert_close(log_det, oracle)
    jacobian = torch.autograd.functional.jacobian(lambda u: function(u, conditioner)[0], v[:1])
    jacobian = jacobian.reshape(d, d)
    assert torch.equal(torch.triu(jacobian, 1), torch.zeros_like(jacobian))


@pytest.mark.parametrize("flow", ["maf", "iaf"])
def test_reference_round_trips(generator: torch.Generator, flow: str) -> None:
    d = 7
    conditioner = MaskedConditioner(d, seed=11)
    forward, inverse = MAPS[f"{flow}_forward"], MAPS[f"{flow}_inverse"]
    z = torch.randn(5, d, generator=generator, dtype=torch.float64)
    x, ld_forward = forward(z, conditioner)
    back, ld_inverse = inverse(x, conditioner)
    torch.testing.assert_close(back, z)
    torch.testing.assert_close(ld_forward + ld_inverse, torch.zeros(5, dtype=torch.float64))
    again, _ = forward(back, conditioner)
    torch.testing.assert_close(again, x)


def test_reference_maps_satisfy_the_stated_equations(generator: torch.Generator) -> None:
    """MAF: x_i = z_i exp(a_i(x)) + m_i(x); IAF: the same with the conditioner reading z."""
    d = 5
    conditioner = MaskedConditioner(d, seed=2)
    z = torch.randn(3, d, generator=generator, dtype=torch.float64)
    x_maf, _ = reference.maf_forward(z, conditioner)
    a, m = conditioner(x_maf)
    torch.testing.assert_close(x_maf, z * torch.exp(a) + m)
    x_iaf, _ = reference.iaf_forward(z, conditioner)
    a, m = conditioner(z)
    torch.testing.assert_close(x_iaf, z * torch.exp(a) + m)
    assert not torch.allclose(x_maf, x_iaf)  # the two flows are different maps


@pytest.mark.parametrize(("name", "parallel"), [
    ("maf_inverse", True), ("maf_forward", False), ("iaf_forward", True), ("iaf_inverse", False),
])  # fmt: skip
def test_reference_calls_the_conditioner_once_or_d_times(name: str, parallel: bool) -> None:
    """Counted as the worker counts them (the watch wraps the trusted conditioner's forward)."""
    d = 6
    conditioner = MaskedConditioner(d, seed=4).limited(1 if parallel else d)
    v = torch.randn(3, d, dtype=torch.float64)
    watch = CallWatch((v, conditioner), {}, ARGUMENT_MODULES)
    with watch:
        MAPS[name](v, conditioner)
    assert watch.calls == {"args[1].forward": 1 if parallel else d}
    assert watch.writes() == {"inputs": [], "returned": []}


# ---------------------------------------------------------------- the trusted conditioner


def test_conditioner_output_i_ignores_inputs_i_to_d_bitwise(generator: torch.Generator) -> None:
    d = 6
    conditioner = MaskedConditioner(d, seed=5, scale=1.0)
    v = torch.randn(4, d, generator=generator, dtype=torch.float64)
    log_scale, shift = conditioner(v)
    for i in range(d):
        changed = v.clone()
        changed[:, i:] = torch.randn(4, d - i, generator=generator, dtype=torch.float64) * 1e6
        other_scale, other_shift = conditioner(changed)
        assert torch.equal(other_scale[:, : i + 1], log_scale[:, : i + 1])
        assert torch.equal(other_shift[:, : i + 1], shift[:, : i + 1])
        if i + 1 < d:  # and it does depend on the earlier inputs
            assert not torch.equal(other_scale[:, i + 1 :], log_scale[:, i + 1 :])
    first, _ = MaskedConditioner(1, seed=5)(v[:, :1])
    assert torch.equal(first, first[:1].expand(4, 1))  # d = 1: a constant


def test_conditioner_offset_reaches_huge_log_scales_and_stays_bounded() -> None:
    conditioner = MaskedConditioner(6, seed=6, offset=-200.0)
    log_scale, _ = conditioner(torch.randn(3, 6, dtype=torch.float64) * 1e80)
    assert bool(torch.isfinite(log_scale).all())
    assert float(log_scale.max()) < -190 and float(log_scale.min()) > -210


def test_call_limit_raises_a_base_exception_and_resets_in_every_copy() -> None:
    limited = MaskedConditioner(4, seed=7).limited(2)
    assert issubclass(ConditionerCallLimit, BaseException)
    assert not issubclass(ConditionerCallLimit, Exception)  # `except Exception` cannot hide it
    v = torch.randn(2, 4, dtype=torch.float64)
    limited(v)
    limited(v)
    with pytest.raises(ConditionerCallLimit, match=r"called a 3rd time .* allows it 2 times"):
        limited(v)
    fresh = pickle.loads(tensor_pickle.dumps(limited))  # what a worker receives
    fresh(v)
    fresh(v)
    with pytest.raises(ConditionerCallLimit):
        fresh(v)
    assert MaskedConditioner(4, seed=7).call_limit is None


def test_conditioner_survives_a_kit_vector_file() -> None:
    """A kit rebuilds the conditioner from plain data, its call limit included."""
    conditioner = MaskedConditioner(3, seed=9, offset=2.0).limited(1)
    encoder = Encoder()
    rebuilt = decode(encoder.encode(conditioner), encoder.arrays)
    v = torch.randn(2, 3, dtype=torch.float64)
    for got, want in zip(rebuilt(v), conditioner(v), strict=True):
        assert torch.equal(got, want)
    assert rebuilt.call_limit == 1
    with pytest.raises(ConditionerCallLimit):
        rebuilt(v)
