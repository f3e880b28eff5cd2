"""Project tests for exercise-06 (planar flows) and the watched inputs of its cost test.

The grading contract (reference full marks, stub zero, every typical mistake in
tests/wrong/mutants.py loses points with its hint) comes from tests/exercise_grading.py;
a dense slogdet must lose only the cost point, and correct answers written differently
keep full marks. The reference itself is checked against independent oracles: autograd
Jacobians + slogdet (one layer and a whole flow), the symbolic Jacobian determinant
(sympy), the seed's worked example 3, and the monotonicity of the map along w.
"""

from __future__ import annotations

import copy
import math
import pickle
from pathlib import Path

import pytest
import sympy
import torch
import torch.nn.functional as F
from torch import Tensor

from grader.grading import grade_exercise
from grader.runner import tensor_pickle
from grader.testing.flows_06 import DenseJacobian, WatchedInput, WatchedTensor, watch
from grader.testing.oracles import autograd_log_abs_det
from solutions import exercise_06_planar_flow as reference
from tests.exercise_grading import (
    GradeMutant,
    GradingContract,
    assert_full_marks_with,
    failed_outputs,
)
from tests.wrong.mutants import write_submission

ROOT = Path(__file__).resolve().parents[1]
FILE = "exercise_06_planar_flow.py"
LOG_TWO_PI = math.log(2 * math.pi)


class TestGrading(GradingContract):
    exercise_id = "exercise-06"


def _layer(generator: torch.Generator, d: int, wu: float) -> tuple[Tensor, Tensor, Tensor]:
    """(u, w, b) in float64 with w^T u = wu exactly up to rounding."""
    w = torch.randn(d, generator=generator, dtype=torch.float64)
    raw = torch.randn(d, generator=generator, dtype=torch.float64)
    u = raw + (wu - w @ raw) * w / (w @ w)
    return u, w, torch.randn((), generator=generator, dtype=torch.float64)


@pytest.fixture()
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(6)


# ---------------------------------------------------------------- grading outcomes


def test_dense_slogdet_loses_only_the_cost_point(graded_mutant: GradeMutant) -> None:
    """Its values are right, so the cost test alone must catch it, naming the outer product
    at once (the watched inputs) instead of waiting for the time limit."""
    result = graded_mutant("exercise-06", "dense_slogdet")
    assert sorted(failed_outputs(result)) == ["forward_cost"]
    output = failed_outputs(result)["forward_cost"]
    assert "your function computed torch.outer, which built a tensor of shape (3000, 3000)" in (
        output
    )
    assert "ran for more than" not in output


def test_dense_work_the_watch_cannot_see_meets_the_time_limit(tmp_path: Path) -> None:
    """A dense determinant in numpy escapes the watch; the 0.5 s limit still stops it (and
    numpy also cuts the gradient and would mix devices on a GPU)."""
    numpy_dense = (
        "    log_det = torch.log(torch.abs(1 + slope * (w @ u)))",
        "    import numpy\n"
        "    plain_u, plain_w = u.numpy().copy(), w.numpy().copy()\n"
        "    eye = numpy.eye(z.shape[-1])\n"
        "    dets = [numpy.linalg.slogdet(eye + s * numpy.outer(plain_u, plain_w))[1]\n"
        "            for s in slope.numpy().copy()]\n"
        "    log_det = torch.tensor(dets, dtype=z.dtype)",
    )
    folder = write_submission("exercise-06", (numpy_dense,), tmp_path)
    result = grade_exercise("exercise-06", folder, seed=0)
    failed = failed_outputs(result)
    assert sorted(failed) == ["forward_cost", "gradients", "structure"], failed
    assert "your function ran for more than 0.5 s and was stopped" in failed["forward_cost"]
    assert "numpy" in failed["gradients"] and "device=x.device" in failed["structure"]


CORRECT_ALTERNATIVES = {
    # einsum, float64 inside, sech^2 as 1/cosh^2, log1p; an explicit-index flow loop with
    # torch.distributions for the base; u_hat by the softplus(-s) identity; a Python bool
    "einsum_float64": (
        (
            "    activation = torch.tanh(z @ w + b)\n"
            "    x = z + activation.unsqueeze(-1) * u\n"
            "    slope = 1 - activation * activation\n"
            "    log_det = torch.log(torch.abs(1 + slope * (w @ u)))\n"
            "    return x, log_det",
            "    pre = torch.einsum('bi,i->b', z.double(), w.double()) + b.double()\n"
            "    x = z + torch.einsum('b,i->bi', torch.tanh(pre), u.double()).to(z.dtype)\n"
            "    s = torch.cosh(pre) ** -2 * torch.dot(w.double(), u.double())\n"
            "    return x, torch.log1p(s).to(z.dtype)",
        ),
        (
            "    return w @ u >= -1",
            "    return bool(torch.dot(w, u) >= -1)",
        ),
        (
            "    m = F.softplus(wu) - 1\n    return u + (m - wu) * w / (w @ w)",
            "    alpha = (F.softplus(-wu) - 1) / torch.linalg.vector_norm(w) ** 2\n"
            "    return u + alpha * w",
        ),
        (
            "    for u, w, b in zip(us, ws, bs, strict=True):\n"
            "        x, log_det = planar_forward(x, u, w, b)\n"
            "        total = total + log_det\n"
            "    d = z0.shape[-1]\n"
            "    log_base = -0.5 * (z0 * z0).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
            "    for k in range(us.shape[0]):\n"
            "        x, log_det = planar_forward(x, us[k], ws[k], bs[k])\n"
            "        total = total + log_det\n"
            "    normal = torch.distributions.Normal(z0.new_zeros(()), z0.new_ones(()))\n"
            "    log_base = normal.log_prob(z0).sum(dim=-1)",
        ),
    ),
    # a loop over the batch for the forward pass, stacked results
    "per_sample_loop": (
        (
            "    activation = torch.tanh(z @ w + b)\n"
            "    x = z + activation.unsqueeze(-1) * u\n"
            "    slope = 1 - activation * activation\n"
            "    log_det = torch.log(torch.abs(1 + slope * (w @ u)))\n"
            "    return x, log_det",
            "    rows, log_dets = [], []\n"
            "    for sample in z:\n"
            "        t = torch.tanh(torch.dot(w, sample) + b)\n"
            "        rows.append(sample + u * t)\n"
            "        log_dets.append(torch.log(torch.abs(1 + (1 - t**2) * torch.dot(u, w))))\n"
            "    return torch.stack(rows), torch.stack(log_dets)",
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT_ALTERNATIVES))
def test_correct_alternatives_keep_full_marks(tmp_path: Path, name: str) -> None:
    assert_full_marks_with("exercise-06", CORRECT_ALTERNATIVES[name], tmp_path)


# ---------------------------------------------------------------- reference vs oracles


def test_reference_worked_example_three() -> None:
    """u = (1, 0), w = (1, 2), b = 0, z = (0.5, -0.5): x = (0.0379, -0.5), log|det| = 0.580."""
    u = torch.tensor([1.0, 0.0], dtype=torch.float64)
    w = torch.tensor([1.0, 2.0], dtype=torch.float64)
    z = torch.tensor([[0.5, -0.5]], dtype=torch.float64)
    x, log_det = reference.planar_forward(z, u, w, torch.tensor(0.0, dtype=torch.float64))
    torch.testing.assert_close(
        x, torch.tensor([[0.0379, -0.5]], dtype=torch.float64), atol=1e-4, rtol=0
    )
    assert log_det.item() == pytest.approx(0.580, abs=5e-4)
    assert math.exp(log_det.item()) == pytest.approx(1.7864, abs=1e-4)
    # the seed's dense Jacobian, J = I + u sech^2(-0.5) w^T, by slogdet
    jacobian = torch.eye(2, dtype=torch.float64) + torch.outer(u, w) / math.cosh(-0.5) ** 2
    assert torch.linalg.slogdet(jacobian).logabsdet.item() == pytest.approx(log_det.item())


@pytest.mark.parametrize(("d", "wu"), [(1, 0.4), (2, -0.95), (3, 2.5), (6, -0.3)])
def test_reference_log_det_matches_autograd_jacobian(
    generator: torch.Generator, d: int, wu: float
) -> None:
    u, w, b = _layer(generator, d, wu)
    z = torch.randn(5, d, generator=generator, dtype=torch.float64) * 1.5
    _, log_det = reference.planar_forward(z, u, w, b)
    oracle = autograd_log_abs_det(lambda v: reference.planar_forward(v, u, w, b)[0], z)
    torch.testing.assert_close(log_det, oracle)


def test_reference_log_det_matches_the_symbolic_determinant() -> None:
    """sympy: det of the Jacobian of z + u tanh(w^T z + b) in d = 3, evaluated at points."""
    zs, us, ws = (sympy.symbols(f"{name}0:3", real=True) for name in "zuw")
    b = sympy.Symbol("b", real=True)
    pre = sum(wi * zi for wi, zi in zip(ws, zs, strict=True)) + b
    f = sympy.Matrix([zi + ui * sympy.tanh(pre) for zi, ui in zip(zs, us, strict=True)])
    determinant = sympy.lambdify((*zs, *us, *ws, b), f.jacobian(zs).det(), "math")
    generator = torch.Generator().manual_seed(3)
    for _ in range(4):
        u, w, bias = _layer(generator, 3, float(torch.rand((), generator=generator)) * 3 - 1)
        z = torch.randn(1, 3, generator=generator, dtype=torch.float64)
        exact = determinant(*z[0].tolist(), *u.tolist(), *w.tolist(), float(bias))
        _, log_det = reference.planar_forward(z, u, w, bias)
        assert log_det.item() == pytest.approx(math.log(abs(exact)), rel=1e-12, abs=1e-12)


def test_reference_invertibility_is_monotonicity_along_w(generator: torch.Generator) -> None:
    """Along w the layer is a -> a + (w^T u) tanh(a + b): increasing (so f is a bijection)
    exactly when the reference says so; below -1 two inputs share an output."""
    grid = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    for wu in (-3.0, -1.2, -1.0001, -1.0, -0.9999, -0.5, 0.0, 4.0):
        u, w, b = _layer(generator, 4, wu)
        along = grid + (w @ u) * torch.tanh(grid + b)
        increasing = bool((along.diff() > 0).all())
        assert bool(reference.planar_is_invertible(u, w)) == increasing == (wu >= -1), wu
    assert bool(reference.planar_is_invertible(torch.tensor([1.0, 2.0]), torch.zeros(2)))


@pytest.mark.parametrize(
    ("dtype", "pre", "tolerance"),
    [(torch.float64, 1e-4, 1e-8), (torch.float64, -1e-3, 1e-8), (torch.float32, 0.03, 1e-4)],
)
def test_reference_log_det_at_the_boundary_is_twice_log_tanh(
    dtype: torch.dtype, pre: float, tolerance: float
) -> None:
    """At w^T u = -1 exactly, det(I + u psi^T) = 1 - h'(a) = tanh(a)^2: the reference's
    log-det matches 2 log|tanh a| (computed with math) to well within the hidden extreme
    test's tolerance, down to a determinant of 1e-8 in float64."""
    w = torch.tensor([0.5, -0.25, 1.0, 0.75], dtype=dtype)
    u = torch.tensor([-1.0, 0.0, -0.5, 0.0], dtype=dtype)
    assert float(w @ u) == -1.0
    b = torch.tensor(0.25, dtype=dtype)
    z = ((pre - 0.25) * w / (w @ w)).unsqueeze(0)
    a = float(z.double() @ w.double() + b.double())  # w^T z + b of these inputs
    _, log_det = reference.planar_forward(z, u, w, b)
    exact = 2 * math.log(abs(math.tanh(a)))
    assert a == pytest.approx(pre, rel=1e-5)
    assert float(log_det) == pytest.approx(exact, rel=tolerance, abs=0.0)


@pytest.mark.parametrize("wu", [-800.0, -5.0, -1.0, 0.0, 0.7, 30.0, 800.0])
def test_reference_u_hat_constrains_w_dot_u(generator: torch.Generator, wu: float) -> None:
    u, w, _ = _layer(generator, 5, wu)
    u_hat = reference.planar_u_hat(u, w)
    assert bool(torch.isfinite(u_hat).all())
    exact = float(F.softplus(torch.tensor(wu, dtype=torch.float64))) - 1
    assert float(w @ u_hat) == pytest.approx(exact, rel=1e-9, abs=1e-9)
    assert float(w @ u_hat) > -1
    # only the component along w changes
    change = u_hat - u
    torch.testing.assert_close(change, (change @ w) * w / (w @ w))


def test_reference_flow_density_matches_autograd_jacobian(generator: torch.Generator) -> None:
    d, depth = 3, 4
    layers = [_layer(generator, d, float(v)) for v in (-0.8, 1.5, 0.2, 3.0)]
    us, ws, bs = (torch.stack(parts) for parts in zip(*layers, strict=True))
    z0 = torch.randn(6, d, generator=generator, dtype=torch.float64)
    x, log_prob = reference.planar_flow_sample(z0, us, ws, bs)
    log_det = autograd_log_abs_det(lambda v: reference.planar_flow_sample(v, us, ws, bs)[0], z0)
    base = torch.distributions.Normal(0.0, 1.0).log_prob(z0).sum(-1)
    torch.testing.assert_close(log_prob, base - log_det)
    assert x.shape == (6, d) and us.shape == (depth, d)
    empty = torch.zeros(0, d, dtype=torch.float64)
    same, base_only = reference.planar_flow_sample(z0, empty, empty, torch.zeros(0))
    assert torch.equal(same, z0)
    torch.testing.assert_close(base_only, base)


# ---------------------------------------------------------------- the watched inputs


def test_watched_input_arrives_watched_and_copies_plain() -> None:
    values = torch.randn(2, 5, dtype=torch.float64)
    token = WatchedInput(values, limit=40)
    arrived = pickle.loads(tensor_pickle.dumps(token))
    assert type(arrived) is WatchedTensor and arrived.watch_limit == 40
    assert torch.equal(arrived.as_subclass(Tensor), values)
    assert len(tensor_pickle.dumps(token)) < 600
    copied = copy.deepcopy(token)
    assert type(copied) is Tensor and torch.equal(copied, values)


def test_watch_spreads_and_refuses_dense_work() -> None:
    d = 50
    z = watch(torch.randn(2, d, dtype=torch.float64), limit=8 * 2 * d)
    u = watch(torch.randn(d, dtype=torch.float64), limit=8 * 2 * d)
    x, log_det = reference.planar_forward(z, u, u * 0.1, z[0, 0] * 0)  # an O(d) answer works
    assert type(x) is WatchedTensor and x.shape == (2, d) and log_det.shape == (2,)
    assert float(z.sum()) == pytest.approx(float(z.as_subclass(Tensor).sum()))
    refused = {  # what the refusal names -> an attempt at dense work
        "torch.outer": lambda: torch.outer(u, u),
        "torch.Tensor.mul": lambda: u[:, None] * u[None, :],
        "torch.linalg.slogdet": lambda: torch.linalg.slogdet(
            torch.eye(2, dtype=torch.float64) + z[:, :2]
        ),
        "torch.stack": lambda: torch.autograd.functional.jacobian(torch.tanh, z[0]),
    }
    for name, attempt in refused.items():
        with pytest.raises(DenseJacobian, match=name):
            attempt()
    assert type(torch.eye(d)) is Tensor  # made without a watched input: plain, allowed
