"""Parameterised questions: seeded per-student numbers, and solvers checked against oracles."""

from __future__ import annotations

import math

import pytest
import sympy
import torch

from grader.quiz.loader import load_bank
from grader.quiz.model import ParamSpec, Variant
from grader.quiz.shuffle import attempt_seed
from grader.quiz.solvers import SOLVERS
from grader.quiz.variants import draw_params, instantiate
from grader.symbolic import parse_expression

TEMPLATES = [
    (quiz, question)
    for quiz in load_bank()[0]
    for question in quiz.questions
    if question.variant is not None
]


def test_bank_has_at_least_two_exercise_03_templates() -> None:
    solvers = {q.variant.solver for _, q in TEMPLATES if q.variant is not None}
    assert len(solvers & {"coupling-forward", "coupling-inverse", "coupling-logdet",
                          "clamped-coupling-logdet"}) >= 2  # fmt: skip


@pytest.mark.parametrize(("quiz", "question"), TEMPLATES, ids=lambda v: getattr(v, "id", ""))
def test_students_see_different_numbers_and_the_same_on_resume(quiz, question) -> None:  # type: ignore[no-untyped-def]
    seeds = [attempt_seed(s, quiz.name, 1) for s in ("alice", "bob", "carol", "dave", "erin")]
    drawn = [draw_params(question.variant, seed, question.id) for seed in seeds]
    assert drawn[0] == draw_params(question.variant, seeds[0], question.id)
    assert len({tuple(sorted(d.items())) for d in drawn}) >= 2
    concrete = instantiate(question, drawn[0], with_key=True)
    assert "{{" not in concrete.stem and "{{" not in concrete.explanation
    assert concrete.variant is None and concrete.answer is not None
    assert all(m.value is not None or m.expression for m in concrete.misconceptions)
    keyless = instantiate(question, drawn[0], with_key=False)
    assert keyless.stem == concrete.stem and keyless.answer is None


def test_draws_respect_ranges_decimals_and_nonzero() -> None:
    variant = Variant(
        (
            ParamSpec("u", "uniform", -1.0, 1.0, decimals=1, nonzero=True),
            ParamSpec("n", "integer", -2.0, 2.0),
            ParamSpec("c", "choice", values=(4.0, 8.0)),
        ),
        solver=None,
    )
    for seed in range(200):
        values = draw_params(variant, seed, "q")
        assert (
            -1.0 <= values["u"] <= 1.0 and values["u"] != 0 and round(values["u"], 1) == values["u"]
        )
        assert values["n"] in (-2, -1, 0, 1, 2) and isinstance(values["n"], int)
        assert values["c"] in (4, 8)


# ---------------------------------------------------------------- solvers vs oracles


def _autograd_logdet(function, z: torch.Tensor) -> float:  # type: ignore[no-untyped-def]
    jacobian = torch.autograd.functional.jacobian(function, z)
    return float(torch.linalg.slogdet(jacobian.reshape(z.numel(), z.numel()))[1])


def test_coupling_forward_matches_the_formula_and_inverts() -> None:
    params = {"z_a": 0.4, "z_b": -1.2, "log_s": 0.37, "t": -2.0}
    x_b = SOLVERS["coupling-forward"](params).answer
    assert x_b == pytest.approx(-1.2 * math.exp(0.37) - 2.0, abs=1e-12)
    back = SOLVERS["coupling-inverse"]({"x_a": 0.4, "x_b": x_b, "log_s": 0.37, "t": -2.0})
    assert back.answer == pytest.approx(-1.2, abs=1e-12)


def test_seed_example_two_from_the_reference() -> None:
    solution = SOLVERS["coupling-forward"]({"z_a": 1.0, "z_b": 3.0, "log_s": 0.5, "t": 2.0})
    assert solution.answer == pytest.approx(6.946, abs=5e-4)
    assert solution.misconceptions["log-scale-as-scale"] == pytest.approx(3.5)


def test_coupling_logdet_matches_autograd() -> None:
    log_s = torch.tensor([0.3, -0.8, 1.1], dtype=torch.float64)

    def layer(z: torch.Tensor) -> torch.Tensor:
        return torch.cat([z[:3], z[3:] * torch.exp(log_s) + 0.5])

    z = torch.tensor([0.3, -0.2, 0.1, 1.0, 2.0, -1.0], dtype=torch.float64)
    solution = SOLVERS["coupling-logdet"]({"ls1": 0.3, "ls2": -0.8, "ls3": 1.1})
    assert solution.answer == pytest.approx(_autograd_logdet(layer, z), abs=1e-9)


def test_clamped_logdet_matches_autograd() -> None:
    raw, c = torch.tensor([4.5, -1.2], dtype=torch.float64), 2.0

    def layer(z: torch.Tensor) -> torch.Tensor:
        return torch.cat([z[:2], z[2:] * torch.exp(c * torch.tanh(raw / c))])

    z = torch.tensor([0.5, -1.0, 2.0, 1.0], dtype=torch.float64)
    solution = SOLVERS["clamped-coupling-logdet"]({"r1": 4.5, "r2": -1.2, "c": 2.0})
    assert solution.answer == pytest.approx(_autograd_logdet(layer, z), abs=1e-9)
    assert solution.misconceptions["unclamped"] == pytest.approx(3.3)


def test_glow_logdet_matches_the_full_jacobian_of_a_1x1_convolution() -> None:
    generator = torch.Generator().manual_seed(0)
    lower = torch.tril(torch.randn(3, 3, generator=generator, dtype=torch.float64), -1) + torch.eye(
        3, dtype=torch.float64
    )
    upper = torch.triu(torch.randn(3, 3, generator=generator, dtype=torch.float64), 1) + torch.diag(
        torch.tensor([1.3, -0.4, 2.2], dtype=torch.float64)
    )
    weight = torch.eye(3, dtype=torch.float64)[[2, 0, 1]] @ lower @ upper
    h, w = 2, 3

    def conv(z: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,jhw->ihw", weight, z.reshape(3, h, w)).reshape(-1)

    z = torch.randn(3 * h * w, generator=generator, dtype=torch.float64)
    solution = SOLVERS["glow-logdet"]({"h": h, "w": w, "u1": 1.3, "u2": -0.4, "u3": 2.2})
    assert solution.answer == pytest.approx(_autograd_logdet(conv, z), abs=1e-9)


def test_seed_glow_number() -> None:
    solution = SOLVERS["glow-logdet"]({"h": 32, "w": 32, "u1": 2.0, "u2": 0.5, "u3": 0.8})
    assert solution.answer == pytest.approx(-228.5, abs=0.05)


@pytest.mark.parametrize(
    "p",
    [
        {"u1": 1.0, "u2": 0.0, "w1": 1.0, "w2": 2.0, "b": 0.0, "z1": 0.5, "z2": -0.5},
        {"u1": 0.3, "u2": 0.9, "w1": 1.7, "w2": 0.6, "b": -0.4, "z1": 0.2, "z2": 0.8},
    ],
)
def test_planar_logdet_matches_autograd(p: dict[str, float]) -> None:
    u = torch.tensor([p["u1"], p["u2"]], dtype=torch.float64)
    w = torch.tensor([p["w1"], p["w2"]], dtype=torch.float64)

    def planar(z: torch.Tensor) -> torch.Tensor:
        return z + u * torch.tanh(w @ z + p["b"])

    z = torch.tensor([p["z1"], p["z2"]], dtype=torch.float64)
    assert SOLVERS["planar-logdet"](p).answer == pytest.approx(
        _autograd_logdet(planar, z), abs=1e-9
    )


def test_seed_planar_number() -> None:
    p = {"u1": 1.0, "u2": 0.0, "w1": 1.0, "w2": 2.0, "b": 0.0, "z1": 0.5, "z2": -0.5}
    assert SOLVERS["planar-logdet"](p).answer == pytest.approx(0.580, abs=5e-4)


def test_affine_log_density_matches_torch_distributions() -> None:
    for a, b, x in [(2.3, 1.0, -2.9), (0.5, -2.0, 0.7)]:
        expected = float(torch.distributions.Normal(b, a).log_prob(torch.tensor(x)))
        assert SOLVERS["affine-log-density"]({"a": a, "b": b, "x": x}).answer == pytest.approx(
            expected, abs=1e-5
        )


def test_stacked_affine_logdet_matches_sympy_composition() -> None:
    a, b, z = sympy.symbols("a b z", positive=True)
    for k in (2, 5):
        x = z
        for _ in range(k):
            x = a * x + b
        expected = sympy.log(sympy.diff(x, z))
        answer = parse_expression(str(SOLVERS["stacked-affine-logdet"]({"k": k}).answer), {"a": a})
        assert sympy.simplify(sympy.expand_log(expected - answer, force=True)) == 0
