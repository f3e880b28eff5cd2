"""Answer keys of parameterised questions, computed from each student's drawn numbers.

A solver maps the drawn parameters to the correct answer and to the values that typical
mistakes produce (keyed by the misconception ids of the question). The coupling solvers call
the reference solution `solutions.exercise_03_affine_coupling`, so the quiz key and the
graded exercise can never disagree; the others are closed-form formulas that the tests verify
against independent oracles (autograd Jacobians, slogdet, torch.distributions).

torch and solutions are imported inside the solvers only, so listing quizzes stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Params = Mapping[str, float]


@dataclass(frozen=True)
class Solution:
    """The key for one drawn variant: a number or an expression (text), plus mistake values."""

    answer: float | str
    misconceptions: dict[str, float | str] = field(default_factory=dict)


def _coupling(
    z_a: list[float], z_b: list[float], log_s: list[float], shift: list[float]
) -> tuple[list[float], float]:
    """Run the reference coupling forward on one sample: returns (x (d,), log-det)."""
    import torch

    from grader.testing.flows import ConstantConditioner
    from solutions.exercise_03_affine_coupling import affine_coupling_forward

    z = torch.tensor([z_a + z_b], dtype=torch.float64)
    with torch.no_grad():
        x, log_det = affine_coupling_forward(z, ConstantConditioner(log_s, shift))
    return x[0].tolist(), float(log_det[0])


def coupling_forward(p: Params) -> Solution:
    """x_b = z_b * exp(log_s) + t for a 2-D coupling layer (z_a kept)."""
    x, _ = _coupling([p["z_a"]], [p["z_b"]], [p["log_s"]], [p["t"]])
    z_b, log_s, t = p["z_b"], p["log_s"], p["t"]
    return Solution(
        answer=x[1],
        misconceptions={
            "log-scale-as-scale": z_b * log_s + t,
            "forgot-shift": z_b * math.exp(log_s),
            "shift-then-scale": (z_b + t) * math.exp(log_s),
            "applied-inverse": (z_b - t) * math.exp(-log_s),
        },
    )


def coupling_inverse(p: Params) -> Solution:
    """z_b = (x_b - t) * exp(-log_s): the inverse of a 2-D coupling layer."""
    import torch

    from grader.testing.flows import ConstantConditioner
    from solutions.exercise_03_affine_coupling import affine_coupling_inverse

    x = torch.tensor([[p["x_a"], p["x_b"]]], dtype=torch.float64)
    with torch.no_grad():
        z, _ = affine_coupling_inverse(x, ConstantConditioner([p["log_s"]], [p["t"]]))
    x_b, log_s, t = p["x_b"], p["log_s"], p["t"]
    return Solution(
        answer=float(z[0, 1]),
        misconceptions={
            "applied-forward": x_b * math.exp(log_s) + t,
            "scaled-before-unshifting": x_b * math.exp(-log_s) - t,
            "multiplied-by-s": (x_b - t) * math.exp(log_s),
        },
    )


def coupling_logdet(p: Params) -> Solution:
    """log|det dx/dz| of a 6-D coupling layer with log-scales (ls1, ls2, ls3): their sum."""
    log_s = [p["ls1"], p["ls2"], p["ls3"]]
    _, log_det = _coupling([0.3, -0.2, 0.1], [1.0, 2.0, -1.0], log_s, [0.0, 0.0, 0.0])
    scales = [math.exp(v) for v in log_s]
    return Solution(
        answer=log_det,
        misconceptions={
            "sum-of-scales": sum(scales),
            "product-of-scales": math.prod(scales),
            "inverse-sign": -log_det,
        },
    )


def clamped_coupling_logdet(p: Params) -> Solution:
    """log-det of a coupling whose raw log-scales (r1, r2) are soft-clamped to (-c, c)."""
    import torch

    from grader.testing.flows import ConstantConditioner
    from solutions.exercise_03_affine_coupling import affine_coupling_forward

    raw = [p["r1"], p["r2"]]
    z = torch.tensor([[0.5, -1.0, 2.0, 1.0]], dtype=torch.float64)
    with torch.no_grad():
        conditioner = ConstantConditioner(raw, [0.0, 0.0])
        _, log_det = affine_coupling_forward(z, conditioner, clamp=p["c"])
    return Solution(
        answer=float(log_det[0]),
        misconceptions={
            "unclamped": sum(raw),
            "hard-clamp": sum(max(-p["c"], min(p["c"], r)) for r in raw),
        },
    )


def glow_logdet(p: Params) -> Solution:
    """Glow 1x1 conv on (3, h, w) with W = P L U: h * w * sum_i log|U_ii|."""
    diag = [p["u1"], p["u2"], p["u3"]]
    per_pixel = sum(math.log(abs(u)) for u in diag)
    pixels = p["h"] * p["w"]
    return Solution(
        answer=pixels * per_pixel,
        misconceptions={
            "forgot-spatial": per_pixel,
            "counted-channels": 3 * pixels * per_pixel,
            "det-not-log": pixels * math.prod(diag),
        },
    )


def planar_logdet(p: Params) -> Solution:
    """Planar flow f(z) = z + u tanh(w.z + b): log|1 + sech^2(w.z + b) w.u| (2-D)."""
    a = p["w1"] * p["z1"] + p["w2"] * p["z2"] + p["b"]
    w_dot_u = p["w1"] * p["u1"] + p["w2"] * p["u2"]
    sech2 = 1.0 / math.cosh(a) ** 2
    return Solution(
        answer=math.log(abs(1.0 + sech2 * w_dot_u)),
        misconceptions={
            "missing-identity": math.log(abs(sech2 * w_dot_u)) if w_dot_u else float("nan"),
            "tanh-not-derivative": math.log(abs(1.0 + math.tanh(a) * w_dot_u)),
        },
    )


def affine_log_density(p: Params) -> Solution:
    """x = a z + b, z ~ N(0, 1), a > 0: log p_X(x) = -log(2 pi a^2)/2 - (x - b)^2 / (2 a^2)."""
    a, b, x = p["a"], p["b"], p["x"]
    quadratic = (x - b) ** 2 / (2 * a * a)
    return Solution(
        answer=-0.5 * math.log(2 * math.pi * a * a) - quadratic,
        misconceptions={
            "missing-jacobian": -0.5 * math.log(2 * math.pi) - quadratic,
            "jacobian-sign": -0.5 * math.log(2 * math.pi) + math.log(a) - quadratic,
            "base-at-x": -0.5 * math.log(2 * math.pi) - x * x / 2 - math.log(a),
        },
    )


def stacked_affine_logdet(p: Params) -> Solution:
    """K copies of f(z) = a z + b composed: log|det| = K log a (symbolic in a > 0)."""
    k = int(p["k"])
    return Solution(
        answer=f"{k}*log(a)",
        misconceptions={"one-layer": "log(a)", "log-of-sum": f"log({k}*a)", "power": f"a**{k}"},
    )


SOLVERS: dict[str, Callable[[Params], Solution]] = {
    "coupling-forward": coupling_forward,
    "coupling-inverse": coupling_inverse,
    "coupling-logdet": coupling_logdet,
    "clamped-coupling-logdet": clamped_coupling_logdet,
    "glow-logdet": glow_logdet,
    "planar-logdet": planar_logdet,
    "affine-log-density": affine_log_density,
    "stacked-affine-logdet": stacked_affine_logdet,
}
