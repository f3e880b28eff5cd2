"""Hidden tests for exercise-09 (train a flow). 10 points.

Inputs are drawn per test from the run's seed; expected values come from `solutions`,
cross-checked by independent oracles: exp(log p) of the student's RealNVP integrates to 1
over a grid, and the student's ELBO agrees with one whose flow log-det is the slogdet of
the autograd Jacobian of the composed flow. Training is graded by the held-out negative
log-likelihood of two-moons data (`flows_09.two_moons`) against `NLL_THRESHOLD`, after
checking that the returned function is a normalised density; it runs on the CPU within
`TRAIN_TIMEOUT_S` and is graded by the instructor only (a kit cannot replay it from
recorded values: a correct model differs from the reference's).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor

from grader.runner.errors import StudentTimeout
from grader.testing import (
    expect_close,
    expect_finite,
    expect_structure,
    expect_true,
)
from grader.testing.checks import fail, lazy
from grader.testing.flows import MLPConditioner
from grader.testing.flows_09 import GaussianDecoder, GaussianEncoder, moons_grid, two_moons
from grader.testing.gradients import (
    expect_same_gradients,
    gradient_spec,
)
from grader.testing.layers import random_flow
from grader.testing.structure import expect_clean_outputs

LOG_TWO_PI = math.log(2 * math.pi)
FAR = {torch.float32: 12.0, torch.float64: 40.0}
TRAIN_SIZE, HELD_OUT_SIZE, TRAIN_STEPS = 2048, 1024, 300
TRAIN_TIMEOUT_S = 30.0  # the reference needs ~2 s of one CPU thread (README)
NLL_THRESHOLD = 1.50  # reference 1.14-1.30 (24 seeds), another design <= 1.46, Gaussian 1.9
GAUSSIAN_NLL = 1.8  # at or above this the model is no better than a single Gaussian
MASS_TOLERANCE = 0.03

NOT_ALTERNATING = (
    "the masks must alternate: a dimension kept by layer k is transformed by layer k + 1; "
    "with the same mask everywhere the kept dimensions never change"
)
MASK_START = "layer 0 keeps the even dimensions (0, 2, ...): mask[0, i] = 1 where i is even"
HALF_SPLIT = (
    "the masks are a checkerboard over the index (i + k even), not first half / second half"
)
FORWARD_ORDER = (
    "undo the blocks in reverse order: x came out of block K-1, so undo block K-1 first and "
    "block 0 last"
)
COUPLING_FIRST = (
    "inside a block the ActNorm came last in the generative direction, so undo it first, "
    "then the coupling"
)
LOG_DET_SIGN = (
    "wrong sign of the log-dets: log p(x) = log N(z) + sum of the inverse log-dets "
    "= log N(z) - sum of the forward log-dets"
)
UNMASKED_LOG_DET = (
    "only the transformed dimensions (m = 0) contribute to a coupling's log-det: "
    "sum_i (1 - m_i) s_i, not sum_i s_i"
)
UNMASKED_INPUT = (
    "feed the conditioner m * y, the kept part only: it saw m * h in the forward pass and "
    "m * y = m * h, so it returns the same (s, t)"
)
INVERTED_MASK = "mask = 1 marks the kept dimensions: transform where m = 0, keep where m = 1"
NO_ACTNORM_LOG_DET = (
    "the ActNorm changes volume too: each block adds sum_i log_scales[k, i] to the forward log-det"
)
FORWARD_MAP = (
    "a density is evaluated x -> z: apply the INVERSE of each block (divide by exp(s), "
    "subtract the shift), not the forward map"
)
NO_CONSTANT = "log N(z; 0, I) includes the constant -d/2 log(2 pi)"
LOG_SPACE = (
    "work in log space: log N(z) = -1/2 |z|^2 - d/2 log(2 pi); exp(-|z|^2 / 2) underflows "
    "to 0 far in the tails and its log is -inf"
)
NOT_DENSITY = (
    "exp(log p) must integrate to 1; yours does not, so the change of variables is off: "
    "check the sign of the log-dets and that every layer's log-det is counted"
)
ELBO_NO_LOG_DET = (
    "the flow's log-dets are part of the ELBO: log q_K(z_K) = log q0(z_0) - sum_k log|det J_k|, "
    "so -log q_K adds + sum_k log|det J_k|"
)
ELBO_LOG_DET_SIGN = (
    "wrong sign of the log-det term: -log q_K(z_K|x) = -log q0(z_0|x) + sum_k log|det J_k|; "
    "you subtracted it"
)
ELBO_Q_AT_ZK = "q0 is the density of z_0: evaluate log q0 at z_0 (its eps), not at z_K"
ELBO_PRIOR_AT_Z0 = "the prior and the decoder see the flow's output z_K, not z_0"
ELBO_NO_LOG_SIGMA = (
    "log q0(z_0|x) = sum_i [log N(eps_i; 0, 1) - log sigma_i]: the Jacobian of "
    "z_0 = mu + sigma * eps brings in - sum_i log sigma_i"
)
ELBO_SIGMA_IS_LOG = "the encoder returns log sigma: z_0 = mu + exp(log_sigma) * eps"
ELBO_SUM_SAMPLES = "average the S single-sample estimates (mean over dim 0), do not sum them"
ELBO_PRIOR_NO_CONSTANT = "the prior log N(z_K; 0, I) includes its constant -d_z/2 log(2 pi)"
ELBO_Q0_NO_CONSTANT = "log q0(z_0|x) includes the Gaussian's constant -d_z/2 log(2 pi)"
TRAIN_DIVERGED = (
    "the returned log-densities are not finite: training diverged. Minimise the mean NLL "
    "(loss = -log p(batch).mean()), bound the coupling log-scales (e.g. tanh) and start "
    "near the identity"
)
TRAIN_NO_BETTER_THAN_GAUSSIAN = (
    "the model is no better than a single Gaussian: check that the loss is -mean log p "
    "(minimised), that the masks alternate, and that the conditioners are trained"
)
TRAIN_WEAK = (
    "the flow fits the moons too loosely: alternate the masks, use enough blocks (~8) and "
    "hidden units (~32), train on random minibatches of the whole training set, and let "
    "the learning rate decay"
)
NOT_DETERMINISTIC = (
    "two calls with the same seed returned different values: call torch.manual_seed(seed) "
    "first and draw every random number (initialisation, minibatches) from torch"
)


# ------------------------------------------------------------------ inputs

Device = torch.device | str
RealNVP = tuple[Tensor, list[MLPConditioner], Tensor, Tensor]  # masks, conditioners, ls, sh


def _masks(d: int, depth: int) -> Tensor:
    index = torch.arange(d)
    return torch.stack([((index + k) % 2 == 0).double() for k in range(depth)])


def _seed(rng: torch.Generator) -> int:
    return int(torch.randint(0, 2**31, (1,), generator=rng))


def _realnvp(
    rng: torch.Generator, d: int, depth: int, dtype: torch.dtype, device: Device, scale=0.5
) -> RealNVP:
    conditioners = [
        MLPConditioner(d, d, _seed(rng), hidden=16, scale=scale).to(device) for _ in range(depth)
    ]
    log_scales = 0.3 * torch.randn(depth, d, generator=rng, dtype=torch.float64)
    shifts = 0.5 * torch.randn(depth, d, generator=rng, dtype=torch.float64)
    return (
        _masks(d, depth).to(dtype).to(device),
        conditioners,
        log_scales.to(dtype).to(device),
        shifts.to(dtype).to(device),
    )


def _points(rng: torch.Generator, batch: int, d: int, dtype: torch.dtype, device: Device):
    return (1.5 * torch.randn(batch, d, generator=rng, dtype=torch.float64)).to(dtype).to(device)


def _where(batch: int, d: int, depth: int, dtype: torch.dtype) -> str:
    return f"(B={batch}, d={d}, K={depth}, {str(dtype).removeprefix('torch.')})"


def _base(z: Tensor) -> Tensor:
    return -0.5 * (z * z).sum(-1) - 0.5 * z.shape[-1] * LOG_TWO_PI


def _realnvp_variant(x: Tensor, flow: RealNVP, **wrong: bool) -> Tensor:
    """log p(x) in float64, computed right or with one of the named mistakes."""
    masks, conditioners, log_scales, shifts = (
        t.double() if isinstance(t, Tensor) else t for t in flow
    )
    h = x.double()
    depth = len(conditioners)
    if wrong.get("inverted_mask"):
        masks = 1 - masks
    total = h.new_zeros(h.shape[0])
    order = range(depth) if wrong.get("forward_order") else reversed(range(depth))
    for k in order:
        m = masks[k]

        def actnorm(v: Tensor, k: int = k) -> tuple[Tensor, Tensor]:
            if wrong.get("forward_map"):
                return v * torch.exp(log_scales[k]) + shifts[k], -log_scales[k].sum()
            return (v - shifts[k]) * torch.exp(-log_scales[k]), log_scales[k].sum()

        def coupling(v: Tensor, k: int = k, m: Tensor = m) -> tuple[Tensor, Tensor]:
            s, t = conditioners[k](v if wrong.get("unmasked_input") else m * v)
            s, t = s.double(), t.double()
            if wrong.get("forward_map"):
                out = m * v + (1 - m) * (v * torch.exp(s) + t)
                sign = -1.0
            else:
                out = m * v + (1 - m) * (v - t) * torch.exp(-s)
                sign = 1.0
            used = s if wrong.get("unmasked_log_det") else (1 - m) * s
            return out, sign * used.sum(-1)

        steps = (coupling, actnorm) if wrong.get("coupling_first") else (actnorm, coupling)
        for step in steps:
            h, log_det = step(h)
            if step is coupling or not wrong.get("no_actnorm_log_det"):
                total = total + log_det
    sign = -1.0 if wrong.get("log_det_sign") else 1.0
    base = _base(h) + (0.5 * h.shape[-1] * LOG_TWO_PI if wrong.get("no_constant") else 0.0)
    return base - sign * total


REALNVP_MISTAKES = {
    FORWARD_ORDER: "forward_order",
    COUPLING_FIRST: "coupling_first",
    LOG_DET_SIGN: "log_det_sign",
    UNMASKED_LOG_DET: "unmasked_log_det",
    UNMASKED_INPUT: "unmasked_input",
    INVERTED_MASK: "inverted_mask",
    NO_ACTNORM_LOG_DET: "no_actnorm_log_det",
    FORWARD_MAP: "forward_map",
    NO_CONSTANT: "no_constant",
}


def _realnvp_misconceptions(x: Tensor, flow: RealNVP) -> dict[str, Tensor]:
    with torch.no_grad():
        return {t: _realnvp_variant(x, flow, **{key: True}) for t, key in REALNVP_MISTAKES.items()}


def _mass(log_p: Tensor, area: float) -> Tensor:
    return torch.exp(log_p.detach().double()).sum().reshape(1) * area


def _mass_misconceptions(grid: Tensor, flow: RealNVP, area: float) -> dict[str, Tensor]:
    """The mass each mistake puts on the grid, for the mistakes whose mass is not ~1."""
    masses = {t: _mass(v, area) for t, v in _realnvp_misconceptions(grid, flow).items()}
    return {t: m for t, m in masses.items() if abs(float(m) - 1) > 0.01}


def _vae(rng: torch.Generator, d_x: int, d_z: int, depth: int, device: Device):
    encoder = GaussianEncoder(d_x, d_z, _seed(rng)).to(device)
    decoder = GaussianDecoder(d_z, d_x, _seed(rng)).to(device)
    return encoder, [layer.to(device) for layer in random_flow(d_z, _seed(rng), depth)], decoder


def _vae_inputs(rng, batch, samples, d_x, d_z, depth, dtype, device):
    x = torch.randn(batch, d_x, generator=rng, dtype=torch.float64).to(dtype).to(device)
    eps = torch.randn(samples, batch, d_z, generator=rng, dtype=torch.float64)
    return (x, eps.to(dtype).to(device), *_vae(rng, d_x, d_z, depth, device))


def _elbo_variant(x, eps, encoder, flow, decoder, log_det_fn=None, **wrong: bool) -> Tensor:
    """The ELBO in float64, right or with one named mistake; `log_det_fn(z0)` replaces the
    flow's own log-dets (the autograd oracle)."""
    x, eps = x.double(), eps.double()
    mu, log_sigma = (t.double() for t in encoder(x))
    sigma = log_sigma if wrong.get("sigma_is_log") else torch.exp(log_sigma)
    z0 = mu + sigma * eps
    samples, batch, d_z = eps.shape
    z = z0.reshape(-1, d_z)
    log_det = z.new_zeros(z.shape[0])
    for layer in flow:
        z, step = layer.forward(z)
        log_det = log_det + step.double()
    if log_det_fn is not None:
        log_det = log_det_fn(z0.reshape(-1, d_z))
    z_k = z.reshape(samples, batch, d_z)
    log_det = log_det.reshape(samples, batch)
    seen = z0 if wrong.get("prior_at_z0") else z_k
    constant = 0.5 * d_z * LOG_TWO_PI
    prior_constant = constant if wrong.get("prior_no_constant") else 0.0
    q0_constant = constant if wrong.get("q0_no_constant") else 0.0
    log_joint = decoder.log_likelihood(x, seen).double() + _base(seen) + prior_constant
    log_q0 = (-0.5 * eps * eps - log_sigma - 0.5 * LOG_TWO_PI).sum(-1) + q0_constant
    if wrong.get("no_log_sigma"):
        log_q0 = _base(eps) + q0_constant
    if wrong.get("q_at_zk"):
        log_q0 = (-0.5 * ((z_k - mu) / sigma) ** 2 - log_sigma - 0.5 * LOG_TWO_PI).sum(-1)
    sign = {"no_log_det": 0.0, "log_det_sign": -1.0}
    factor = next((v for k, v in sign.items() if wrong.get(k)), 1.0)
    single = log_joint - log_q0 + factor * log_det
    return single.sum(0) if wrong.get("sum_samples") else single.mean(0)


ELBO_MISTAKES = {
    ELBO_NO_LOG_DET: "no_log_det",
    ELBO_LOG_DET_SIGN: "log_det_sign",
    ELBO_Q_AT_ZK: "q_at_zk",
    ELBO_PRIOR_AT_Z0: "prior_at_z0",
    ELBO_NO_LOG_SIGMA: "no_log_sigma",
    ELBO_SIGMA_IS_LOG: "sigma_is_log",
    ELBO_SUM_SAMPLES: "sum_samples",
    ELBO_PRIOR_NO_CONSTANT: "prior_no_constant",
    ELBO_Q0_NO_CONSTANT: "q0_no_constant",
}


def _elbo_misconceptions(args: tuple[Any, ...]) -> dict[str, Tensor]:
    return {text: _elbo_variant(*args, **{key: True}) for text, key in ELBO_MISTAKES.items()}


def _autograd_log_det(flow: list[torch.nn.Module]):
    """z0 (N, d) -> log|det d z_K / d z0| per sample, by autograd Jacobian + slogdet."""

    def compose(v: Tensor) -> Tensor:
        out = v.reshape(1, -1)
        for layer in flow:
            out, _ = layer.forward(out)
        return out.reshape(-1)

    def log_det(z0: Tensor) -> Tensor:
        values = []
        for row in z0:
            jacobian = torch.autograd.functional.jacobian(compose, row.detach())
            values.append(torch.linalg.slogdet(jacobian).logabsdet)
        return torch.stack(values)

    return log_det


# ------------------------------------------------------------------ tests


@pytest.mark.points(1)
def test_coupling_masks(student, reference):
    """coupling_masks(d, K): 0/1 masks that alternate, layer 0 keeping the even dimensions."""
    for dim, depth in ((2, 1), (2, 4), (5, 3), (6, 6)):
        got = student.coupling_masks(dim, depth)
        expected = reference.coupling_masks(dim, depth).double()
        first = torch.arange(dim) < (dim + 1) // 2
        halves = torch.stack([(first if k % 2 == 0 else ~first).double() for k in range(depth)])
        expect_close(
            got,
            expected,
            what=f"coupling_masks(dim={dim}, n_layers={depth})",
            misconceptions={
                NOT_ALTERNATING: expected[0].expand(depth, dim),
                MASK_START: 1 - expected,
                HALF_SPLIT: halves,
            },
        )


@pytest.mark.points(1)
def test_log_prob_matches_reference(student, reference, device, rng):
    """realnvp_log_prob x -> log p(x) matches the reference for several sizes and dtypes."""
    for batch, d, depth, dtype in (
        (4, 2, 1, torch.float64),
        (6, 2, 4, torch.float32),
        (5, 5, 3, torch.float64),
        (3, 4, 6, torch.float32),
    ):
        x = _points(rng, batch, d, dtype, device)
        flow = _realnvp(rng, d, depth, dtype, device)
        expect_close(
            student.realnvp_log_prob(x, *flow),
            reference.realnvp_log_prob(x, *flow),
            what=f"log p(x) from realnvp_log_prob {_where(batch, d, depth, dtype)}",
            misconceptions=lazy(_realnvp_misconceptions, x, flow),
        )


@pytest.mark.points(1)
def test_log_prob_integrates_to_one(student, rng):
    """exp(log p) of your RealNVP integrates to 1 over a grid (d = 2, float64)."""
    grid, area = moons_grid(step=0.1, dtype=torch.float64)
    flow = _realnvp(rng, 2, 4, torch.float64, "cpu", scale=0.4)
    got = student.realnvp_log_prob(grid, *flow)
    expect_structure(got, grid[:, 0], what="realnvp_log_prob on a grid of points (M, 2)")
    expect_close(
        _mass(got, area),
        torch.ones(1, dtype=torch.float64),
        what="the integral of exp(log p(x)) over [-8, 9] x [-8, 8.5] (Riemann sum, step 0.1)",
        rtol=0.0,
        atol=0.01,
        misconceptions=lazy(_mass_misconceptions, grid, flow, area),
        hint=NOT_DENSITY,
    )


@pytest.mark.points(1)
def test_far_tails(student, reference, device, rng):
    """Far from the data (|x| ~ 12 in float32, ~40 in float64) log p(x) stays finite and right."""
    for dtype in (torch.float32, torch.float64):
        direction = torch.randn(5, 3, generator=rng, dtype=torch.float64)
        x = (FAR[dtype] * direction / direction.norm(dim=-1, keepdim=True)).to(dtype).to(device)
        flow = _realnvp(rng, 3, 4, dtype, device)
        where = f"far in the tails (|x| = {FAR[dtype]:g}, {str(dtype).removeprefix('torch.')})"
        got = student.realnvp_log_prob(x, *flow)
        if isinstance(got, Tensor):
            expect_finite(got, what=f"log p(x) {where}", hint=LOG_SPACE)
        expect_close(
            got,
            reference.realnvp_log_prob(x, *flow),
            what=f"log p(x) {where}",
            misconceptions=lazy(_realnvp_misconceptions, x, flow),
            hint=LOG_SPACE,
        )


@pytest.mark.points(1)
def test_gradients(student, reference, rng):
    """Gradients (training needs them): log p(x) w.r.t. x, ActNorm and conditioner parameters;
    the ELBO w.r.t. x and the encoder's, flow's and decoder's parameters (float64)."""
    x = _points(rng, 4, 3, torch.float64, "cpu")
    args = (x, *_realnvp(rng, 3, 4, torch.float64, "cpu"))
    spec = gradient_spec(rng, reference.realnvp_log_prob(*args), wrt=(0, 3, 4), params=True)
    expect_same_gradients(
        student,
        reference,
        "realnvp_log_prob",
        args,
        spec,
        names=["x", "masks", "conditioners", "log_scales", "shifts"],
        outputs=["log p(x)"],
    )
    args = _vae_inputs(rng, 3, 2, 3, 2, 3, torch.float64, "cpu")
    spec = gradient_spec(rng, reference.flow_vae_elbo(*args), wrt=(0,), params=True)
    expect_same_gradients(
        student,
        reference,
        "flow_vae_elbo",
        args,
        spec,
        names=["x", "eps", "encoder", "flow", "decoder"],
        outputs=["ELBO"],
        hint="z_0 = mu + sigma * eps must stay connected to the encoder (the "
        "reparameterisation trick): do not detach the sample or compute it under no_grad",
    )


@pytest.mark.points(1)
def test_elbo_matches_reference(student, reference, device, rng):
    """flow_vae_elbo matches the reference for several sizes, flow depths and dtypes."""
    for batch, samples, d_x, d_z, depth, dtype in (
        (3, 1, 2, 2, 0, torch.float64),
        (4, 5, 3, 2, 3, torch.float32),
        (2, 4, 4, 3, 4, torch.float64),
        (5, 2, 3, 4, 6, torch.float32),
    ):
        args = _vae_inputs(rng, batch, samples, d_x, d_z, depth, dtype, device)
        expect_close(
            student.flow_vae_elbo(*args),
            reference.flow_vae_elbo(*args),
            what=f"ELBO from flow_vae_elbo (B={batch}, S={samples}, d_z={d_z}, K={depth}, "
            f"{str(dtype).removeprefix('torch.')})",
            misconceptions=lazy(_elbo_misconceptions, args),
        )


@pytest.mark.points(1)
def test_elbo_change_of_variables(student, rng):
    """Your ELBO equals one whose flow log-det is slogdet of the autograd Jacobian of the
    composed flow at each sample (float64)."""
    for d_z, depth in ((2, 3), (3, 5)):
        args = _vae_inputs(rng, 3, 2, 3, d_z, depth, torch.float64, "cpu")
        oracle = _elbo_variant(*args, log_det_fn=_autograd_log_det(args[3]))
        expect_close(
            student.flow_vae_elbo(*args),
            oracle,
            what=f"ELBO vs E[log p(x, z_K) - log q0(z_0) + log|det dz_K/dz_0|] (d_z={d_z}, "
            f"K={depth})",
            rtol=1e-7,
            atol=1e-9,
            misconceptions=lazy(_elbo_misconceptions, args),
        )


@pytest.mark.points(1)
def test_structure(student, reference, device, rng):
    """Shape, dtype and device kept, inputs not modified, nothing made on another device."""
    for dtype in (torch.float32, torch.float64):
        x = _points(rng, 3, 4, dtype, device)
        calls = (
            ("realnvp_log_prob", (x, *_realnvp(rng, 4, 3, dtype, device)),
             ("x", "masks", "conditioners", "log_scales", "shifts")),
            ("flow_vae_elbo", _vae_inputs(rng, 3, 2, 3, 2, 3, dtype, device),
             ("x", "eps", "encoder", "flow", "decoder")),
        )  # fmt: skip
        for function, args, names in calls:
            expect_clean_outputs(student, reference, function, args, names)


def _train(student_cpu: Any, args: tuple[Any, ...], what: str) -> Tensor:
    try:
        value = student_cpu.call_full("train_flow", args, timeout=TRAIN_TIMEOUT_S).value
    except StudentTimeout:
        fail(
            f"{what} within {TRAIN_TIMEOUT_S:g} s on one CPU thread (the reference needs ~2 s)",
            f"your function ran for more than {TRAIN_TIMEOUT_S:g} s and was stopped",
            "a small model trains in seconds: ~8 couplings with 32 hidden units, minibatches "
            "of ~512 points, float32; do not evaluate anything per point in a Python loop",
        )
    expected_shape = (args[1].shape[0],)
    shape = tuple(value.shape) if isinstance(value, Tensor) else None
    expect_true(
        shape == expected_shape,
        f"what {what} returns",
        f"expected a tensor of shape {expected_shape} (log p of each eval point), got "
        + (f"shape {shape}" if shape is not None else type(value).__name__),
    )
    return value.detach().double()


@pytest.mark.points(2)
@pytest.mark.instructor_only
def test_training(student_cpu, rng):
    """train_flow on two moons: deterministic in its seed, a normalised density, and held-out
    NLL below 1.50 nats after 300 steps (CPU, within 30 s)."""
    train_x = two_moons(TRAIN_SIZE, _seed(rng))
    held_out = two_moons(HELD_OUT_SIZE, _seed(rng))
    grid, area = moons_grid()
    seed = _seed(rng)
    small = (train_x[:256], held_out[:32], seed, 5)
    first = _train(student_cpu, small, "train_flow for 5 steps")
    second = _train(student_cpu, small, "train_flow for 5 steps, called again")
    expect_true(
        torch.equal(first, second),
        "train_flow called twice with the same data and seed (5 steps)",
        f"max difference {float((first - second).abs().nan_to_num(math.inf).max()):.3g}",
        NOT_DETERMINISTIC,
    )
    points = torch.cat([held_out, grid])
    order = torch.randperm(points.shape[0], generator=rng)
    log_p = torch.empty(points.shape[0], dtype=torch.float64)
    what = f"train_flow on {TRAIN_SIZE} two-moons points, {TRAIN_STEPS} steps, seed {seed}"
    log_p[order] = _train(student_cpu, (train_x, points[order], seed, TRAIN_STEPS), what)
    held_out_log_p, grid_log_p = log_p[:HELD_OUT_SIZE], log_p[HELD_OUT_SIZE:]
    expect_finite(held_out_log_p, what="log p of the held-out points", hint=TRAIN_DIVERGED)
    mass = _mass(grid_log_p, area)
    what = "the integral of your trained exp(log p) over [-8, 9] x [-8, 8.5] (step 0.1)"
    if float(mass) > 1:  # more than all the mass on one rectangle: not a density
        _expect_unit_mass(mass, what)
    nll = -float(held_out_log_p.mean())
    expect_true(
        nll <= NLL_THRESHOLD,
        f"the mean negative log-likelihood of {HELD_OUT_SIZE} held-out points "
        f"(at most {NLL_THRESHOLD:.2f} nats; a single Gaussian reaches ~1.9)",
        f"your trained flow gave {nll:.3f} nats",
        TRAIN_NO_BETTER_THAN_GAUSSIAN if nll >= GAUSSIAN_NLL else TRAIN_WEAK,
    )
    _expect_unit_mass(mass, what)  # a good fit of the moons has ~all its mass on the grid


def _expect_unit_mass(mass: Tensor, what: str) -> None:
    expect_close(
        mass, torch.ones(1, dtype=torch.float64), what=what, rtol=0.0, atol=MASS_TOLERANCE,
        hint=NOT_DENSITY,
    )  # fmt: skip
