"""Typical wrong submissions, written as edits of the reference solutions (a mutation table).

A `Mutant` is `solutions/<exercise file>` with one typical mistake written in: the `old`
snippet replaced by `new` (plus any further `(old, new)` pairs in `also`, for a mistake that
touches several places). Every `old` snippet must occur exactly once in the reference, so a
change to the reference that removes or duplicates a snippet fails loudly instead of
silently grading an unmutated file.

`hint` is a distinctive piece of the feedback the grader must show for the mistake. When
`test` is set, that hidden test must fail and its output must contain the hint; otherwise
some test's `feedback.hint` must contain it.

`kind` names the class of slip: "misconception" (a wrong formula), or one of the classes
of issue 11 that give right values on ordinary inputs — "range" (wrong far in the tails or
for tiny/huge diagonals), "gradient" (right values, no or wrong gradient), "in-place"
(writes into a tensor the student did not create), "device" (a tensor a GPU run would put
on the CPU), "precision" (a float32 step in a float64 computation), "missing-term" and
"batch-sum" (log-dets whose hints used to name the wrong mistake). tests/test_trust.py
grades every mutant of those classes on more seeds.

Used by the project tests (tests/exercise_grading.py, tests/test_exercise_0*.py) and by the
benchmarks (benchmarks/device_check.py, benchmarks/throughput.py) as known-wrong submissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.exercises import PROJECT_ROOT, get_exercise

Edit = tuple[str, str]


@dataclass(frozen=True)
class Mutant:
    """The reference with `old` -> `new` (and every pair in `also`) replaced once each."""

    name: str
    old: str
    new: str
    hint: str
    test: str | None = None
    also: tuple[Edit, ...] = ()
    kind: str = "misconception"

    @property
    def edits(self) -> tuple[Edit, ...]:
        return ((self.old, self.new), *self.also)


# the sequential loops of exercise-08's reference, which several mutants replace whole
MAF_SAMPLING_LOOP = (
    "    x = z[..., :0]\n"
    "    for i in range(d):\n"
    "        log_scale, shift = conditioner(torch.cat([x, torch.zeros_like(z[..., i:])], dim=-1))\n"
    "        x_i = z[..., i : i + 1] * torch.exp(log_scale[..., i : i + 1])"
    " + shift[..., i : i + 1]\n"
    "        x = torch.cat([x, x_i], dim=-1)\n"
    "    return x, log_scale.sum(dim=-1)"
)
IAF_DENSITY_LOOP = (
    "    z = x[..., :0]\n"
    "    for i in range(d):\n"
    "        log_scale, shift = conditioner(torch.cat([z, torch.zeros_like(x[..., i:])], dim=-1))\n"
    "        z_i = (x[..., i : i + 1] - shift[..., i : i + 1])"
    " * torch.exp(-log_scale[..., i : i + 1])\n"
    "        z = torch.cat([z, z_i], dim=-1)\n"
    "    return z, -log_scale.sum(dim=-1)"
)

MUTANTS: dict[str, tuple[Mutant, ...]] = {
    "exercise-01": (
        Mutant(
            "jacobian_sign",
            "    return base_log_prob(z) + log_det_inverse",
            "    return base_log_prob(z) - log_det_inverse",
            "wrong sign of the log-det",
            test="change_of_variables_matches_reference",
        ),
        Mutant(
            "forgot_jacobian",
            "    z, log_det_inverse = inverse(x)\n    return base_log_prob(z) + log_det_inverse",
            "    z, _ = inverse(x)\n    return base_log_prob(z)",
            "volume-change term is missing",
            test="change_of_variables_gaussian_oracle",
        ),
        Mutant(
            "signed_scale",
            "- math.log(abs(a)) -",
            "- math.log(a) -",
            "use log|a|, not log(a)",
            test="affine_flow_negative_scale",
        ),
        Mutant(
            "variance_a",
            "    z = (x - b) / a\n    return -0.5 * z * z - math.log(abs(a)) - 0.5 * LOG_TWO_PI",
            "    return -0.5 * (x - b) ** 2 / abs(a) - 0.5 * math.log(2 * math.pi * abs(a))",
            "the variance of a z + b is a^2, not a",
            test="worked_example",
        ),
        Mutant(
            "no_two_pi",
            "    d = z.shape[-1]\n    return -0.5 * (z * z).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
            "    return -0.5 * (z * z).sum(dim=-1)",
            "includes the constant -0.5 * log(2 pi)",
            test="standard_normal_log_prob",
        ),
        Mutant(
            "log_of_density",
            "    d = z.shape[-1]\n    return -0.5 * (z * z).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
            "    density = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)\n"
            "    return torch.log(torch.prod(density, dim=-1))",
            "work in log space",
            test="standard_normal_log_prob",
            also=(("import sympy\n", "import sympy\nimport torch\n"),),
        ),
        Mutant(
            "density_without_jacobian",
            "/ (sympy.sqrt(2 * sympy.pi) * a)",
            "/ sympy.sqrt(2 * sympy.pi)",
            "the Jacobian term -log|a|",
            test="affine_flow_density_symbolic",
        ),
        Mutant(
            "affine_log_of_density",
            "    z = (x - b) / a\n    return -0.5 * z * z - math.log(abs(a)) - 0.5 * LOG_TWO_PI",
            "    z = (x - b) / a\n"
            "    return torch.log(torch.exp(-0.5 * z * z) / (math.sqrt(2 * math.pi) * abs(a)))",
            "work in log space",
            test="far_tails",
            also=(("import sympy\n", "import sympy\nimport torch\n"),),
            kind="range",
        ),
        Mutant(
            "change_of_variables_via_density",
            "    return base_log_prob(z) + log_det_inverse",
            "    return torch.log(torch.exp(base_log_prob(z)) * torch.exp(log_det_inverse))",
            "work in log space",
            test="far_tails",
            also=(("import sympy\n", "import sympy\nimport torch\n"),),
            kind="range",
        ),
        Mutant(
            "detached_log_prob",
            "    return -0.5 * (z * z).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
            "    return (-0.5 * (z * z).sum(dim=-1) - 0.5 * d * LOG_TWO_PI).detach()",
            "not differentiable with respect to z: it was detached",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "change_of_variables_no_grad",
            "    z, log_det_inverse = inverse(x)\n    return base_log_prob(z) + log_det_inverse",
            "    with torch.no_grad():\n"
            "        z, log_det_inverse = inverse(x)\n"
            "        return base_log_prob(z) + log_det_inverse",
            "torch.no_grad() or numpy break the gradient",
            test="gradients",
            also=(("import sympy\n", "import sympy\nimport torch\n"),),
            kind="gradient",
        ),
        Mutant(
            "log_det_written_in_place",
            "    z, log_det_inverse = inverse(x)\n    return base_log_prob(z) + log_det_inverse",
            "    z, log_det_inverse = inverse(x)\n"
            "    log_det_inverse += base_log_prob(z)\n"
            "    return log_det_inverse",
            "is not yours to change",
            test="structure",
            kind="in-place",
        ),
        Mutant(
            "constant_without_device",
            "    return -0.5 * (z * z).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
            "    constant = torch.full((z.shape[0],), 0.5 * d * LOG_TWO_PI, dtype=z.dtype)\n"
            "    return -0.5 * (z * z).sum(dim=-1) - constant",
            "device=x.device",
            test="structure",
            also=(("import sympy\n", "import sympy\nimport torch\n"),),
            kind="device",
        ),
        Mutant(
            "squares_in_float32",
            "    return -0.5 * (z * z).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
            "    single = z.float()\n"
            "    return (-0.5 * (single * single).sum(dim=-1) - 0.5 * d * LOG_TWO_PI).to(z.dtype)",
            "only to float32 precision",
            test="standard_normal_log_prob",
            kind="precision",
        ),
        # Hostile rather than mistaken: a symbol whose printed name is Python code. The
        # grader must reject the text without running it (see test_exercise_01.py).
        Mutant(
            "hostile_density",
            '    x, b = sympy.symbols("x b", real=True)\n'
            '    a = sympy.Symbol("a", positive=True)\n'
            "    return sympy.exp(-((x - b) ** 2) / (2 * a**2)) / (sympy.sqrt(2 * sympy.pi) * a)",
            "    payload = \"__import__('os').system("
            "'touch /tmp/flowgrade_hostile_density_ran')\"\n"
            '    return sympy.Symbol(payload) * sympy.Symbol("x")',
            "could not be read",
            test="affine_flow_density_symbolic",
        ),
    ),
    "exercise-02": (
        Mutant(
            "dense_determinant",
            "    return torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs()).sum(dim=-1)",
            "    return torch.linalg.slogdet(jacobian).logabsdet",
            "formed a dense determinant: O(d^3)",
            test="triangular_cost",
        ),
        Mutant(
            "log_of_product",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs()).sum(dim=-1)",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).prod(dim=-1).abs())",
            "do not take the log of the product",
            test="triangular_extreme_diagonals",
        ),
        Mutant(
            "missing_abs",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs())",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1))",
            "take the absolute value first",
            test="triangular_matches_reference",
        ),
        Mutant(
            "inclusive_mask",
            "    shift = z @ torch.tril(weight_shift, -1).T + bias_shift\n"
            "    log_scale = z @ torch.tril(weight_log_scale, -1).T + bias_log_scale",
            "    shift = z @ torch.tril(weight_shift).T + bias_shift\n"
            "    log_scale = z @ torch.tril(weight_log_scale).T + bias_log_scale",
            "strictly lower triangle tril(W, -1)",
            test="forward_matches_reference",
        ),
        Mutant(
            "parallel_inverse",
            "    mask_shift = torch.tril(weight_shift, -1)\n"
            "    mask_log_scale = torch.tril(weight_log_scale, -1)\n"
            "    columns: list[Tensor] = []\n"
            "    log_scales: list[Tensor] = []\n"
            "    for i in range(x.shape[-1]):\n"
            "        previous = torch.stack(columns, dim=-1) if columns else x[..., :0]\n"
            "        shift = previous @ mask_shift[i, :i] + bias_shift[i]\n"
            "        log_scale = previous @ mask_log_scale[i, :i] + bias_log_scale[i]\n"
            "        columns.append((x[..., i] - shift) * torch.exp(-log_scale))\n"
            "        log_scales.append(log_scale)\n"
            "    return torch.stack(columns, dim=-1), -torch.stack(log_scales, dim=-1).sum(dim=-1)",
            "    shift, log_scale = _conditioner("
            "x, weight_shift, bias_shift, weight_log_scale, bias_log_scale)\n"
            "    return (x - shift) * torch.exp(-log_scale), -log_scale.sum(dim=-1)",
            "the inverse is sequential",
            test="inverse_matches_reference",
        ),
        Mutant(
            "log_det_sign",
            "    return torch.stack(columns, dim=-1), -torch.stack(log_scales, dim=-1).sum(dim=-1)",
            "    return torch.stack(columns, dim=-1), torch.stack(log_scales, dim=-1).sum(dim=-1)",
            "wrong sign of the log-det",
            test="inverse_matches_reference",
        ),
        Mutant(
            "eps_in_log",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs())",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs() + 1e-12)",
            "do not add an eps inside the log",
            test="triangular_extreme_diagonals",
            kind="range",
        ),
        Mutant(
            "triangular_through_numpy",
            "    return torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs()).sum(dim=-1)",
            "    diagonal = torch.diagonal(jacobian, dim1=-2, dim2=-1).detach().cpu().numpy()\n"
            "    total = torch.from_numpy(abs(diagonal)).log().sum(dim=-1)\n"
            "    return total.to(jacobian.dtype)",
            "not differentiable with respect to jacobian",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "mask_without_device",
            "    shift = z @ torch.tril(weight_shift, -1).T + bias_shift\n"
            "    log_scale = z @ torch.tril(weight_log_scale, -1).T + bias_log_scale",
            "    mask = torch.ones(z.shape[-1], z.shape[-1], dtype=z.dtype).tril(-1)\n"
            "    shift = z @ (weight_shift * mask).T + bias_shift\n"
            "    log_scale = z @ (weight_log_scale * mask).T + bias_log_scale",
            "device=x.device",
            test="structure",
            kind="device",
        ),
        Mutant(
            "diagonal_in_float32",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs()).sum(dim=-1)",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs().float())"
            ".sum(dim=-1).to(jacobian.dtype)",
            "only to float32 precision",
            test="triangular_matches_reference",
            kind="precision",
        ),
        Mutant(
            "first_diagonal_entry_missing",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs()).sum(dim=-1)",
            "torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs())[..., 1:].sum(dim=-1)",
            "one term of the sum is missing: log|J_ii| of diagonal entry i = 0",
            test="triangular_matches_reference",
            kind="missing-term",
        ),
        Mutant(
            "forward_log_det_batch_summed",
            "    return z * torch.exp(log_scale) + shift, log_scale.sum(dim=-1)",
            "    return z * torch.exp(log_scale) + shift, log_scale.sum().expand(z.shape[0])",
            "equals the sum over the whole batch",
            test="forward_matches_reference",
            kind="batch-sum",
        ),
    ),
    "exercise-03": (
        Mutant(
            "forward_log_det_sign",
            "return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1)",
            "return torch.cat([z_a, x_b], dim=-1), -log_scale.sum(dim=-1)",
            "wrong sign",
        ),
        Mutant(
            "scale_without_exp",
            "x_b = z_b * torch.exp(log_scale) + shift",
            "x_b = z_b * log_scale + shift",
            "the scale is s = exp(log_s)",
        ),
        Mutant(
            "inverse_wrong_order",
            "z_b = (x_b - shift) * torch.exp(-log_scale)",
            "z_b = x_b * torch.exp(-log_scale) - shift",
            "subtract t first",
        ),
        Mutant(
            "inverse_multiplies",
            "z_b = (x_b - shift) * torch.exp(-log_scale)",
            "z_b = (x_b - shift) * torch.exp(log_scale)",
            "divides by s",
        ),
        Mutant(
            "log_det_summed_over_batch",
            "log_scale.sum(dim=-1)\n\n\ndef affine_coupling_inverse",
            "log_scale.sum()\n\n\ndef affine_coupling_inverse",
            "one number per sample",
        ),
        Mutant(
            "hard_clamp",
            "return bound * torch.tanh(raw / bound)",
            "return raw.clamp(-bound, bound)",
            "soft",
        ),
        Mutant(
            "log_det_from_scale_with_eps",
            "return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1)",
            "return torch.cat([z_a, x_b], dim=-1), "
            "torch.log(torch.exp(log_scale) + 1e-8).sum(dim=-1)",
            "do not recompute it as log(s + eps)",
            test="extreme_log_scales",
            kind="range",
        ),
        Mutant(
            "detached_log_det",
            "return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1)",
            "return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1).detach()",
            "not differentiable with respect to",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "conditioner_without_grad",
            "    log_scale, shift = conditioner(kept)",
            "    with torch.no_grad():\n        log_scale, shift = conditioner(kept)",
            "part of the computation was detached",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "conditioner_output_clamped_in_place",
            "    log_scale, shift = conditioner(kept)",
            "    log_scale, shift = conditioner(kept)\n    log_scale.clamp_(-50.0, 50.0)",
            "is not yours to change",
            test="structure",
            kind="in-place",
        ),
        Mutant(
            "output_buffer_without_device",
            "    x_b = z_b * torch.exp(log_scale) + shift\n"
            "    return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1)",
            "    x = torch.empty(z.shape, dtype=z.dtype)\n"
            "    x[..., : z_a.shape[-1]] = z_a\n"
            "    x[..., z_a.shape[-1] :] = z_b * torch.exp(log_scale) + shift\n"
            "    return x, log_scale.sum(dim=-1)",
            "device=x.device",
            test="structure",
            kind="device",
        ),
        Mutant(
            "scale_in_float32",
            "x_b = z_b * torch.exp(log_scale) + shift",
            "x_b = z_b * torch.exp(log_scale.float()) + shift",
            "only to float32 precision",
            test="forward_matches_reference",
            kind="precision",
        ),
        Mutant(
            "last_log_scale_missing",
            "return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1)",
            "return torch.cat([z_a, x_b], dim=-1), log_scale[..., :-1].sum(dim=-1)",
            "one term of the sum is missing: log_s of transformed dimension",
            test="forward_matches_reference",
            kind="missing-term",
        ),
        Mutant(
            "log_det_batch_summed_per_sample",
            "return torch.cat([z_a, x_b], dim=-1), log_scale.sum(dim=-1)",
            "return torch.cat([z_a, x_b], dim=-1), log_scale.sum().expand(z.shape[0])",
            "equals the sum over the whole batch",
            test="forward_matches_reference",
            kind="batch-sum",
        ),
        Mutant(
            "wrong_half",
            "    half = v.shape[-1] // 2\n    return v[..., :half], v[..., half:]",
            "    half = v.shape[-1] // 2\n    return v[..., -half:], v[..., :-half]",
            "wrong half",
        ),
    ),
    "exercise-04": (
        Mutant(
            "missing_hw",
            "    pixels = x.shape[-2] * x.shape[-1]\n"
            "    return (pixels * log_abs_diag.sum()).expand(x.shape[0]).clone()",
            "    return log_abs_diag.sum().expand(x.shape[0]).clone()",
            "H * W * sum(log_abs_diag), not sum(log_abs_diag) alone",
        ),
        Mutant(
            "transposed_weight",
            '    x = torch.einsum("ij,bjhw->bihw", weight, z)',
            "    x = (z.permute(0, 2, 3, 1) @ weight).permute(0, 3, 1, 2)",
            "you applied the transpose",
        ),
        Mutant(
            "product_order",
            "    return permutation @ _unit_lower(lower) @ _upper(upper, sign_diag, log_abs_diag)",
            "    return _upper(upper, sign_diag, log_abs_diag) @ _unit_lower(lower) @ permutation",
            "wrong product order: W = P @ L @ U",
        ),
        Mutant(
            "inverse_log_det_sign",
            "    return z, -_log_det(x, log_abs_diag)",
            "    return z, _log_det(x, log_abs_diag)",
            "the log-det has the wrong sign",
        ),
        Mutant(
            "scalar_log_det",
            "    return (pixels * log_abs_diag.sum()).expand(x.shape[0]).clone()",
            "    return pixels * log_abs_diag.sum()",
            "return one log-det per sample, shape (B,)",
        ),
        Mutant(
            "log_det_from_diagonal_with_eps",
            "    pixels = x.shape[-2] * x.shape[-1]\n"
            "    return (pixels * log_abs_diag.sum()).expand(x.shape[0]).clone()",
            "    pixels = x.shape[-2] * x.shape[-1]\n"
            "    per_pixel = torch.log(torch.exp(log_abs_diag) + 1e-12).sum()\n"
            "    return (pixels * per_pixel).expand(x.shape[0]).clone()",
            "use log_abs_diag itself",
            test="extreme_diagonal",
            kind="range",
        ),
        Mutant(
            "log_det_as_number",
            "    return (pixels * log_abs_diag.sum()).expand(x.shape[0]).clone()",
            "    value = pixels * float(log_abs_diag.sum())\n"
            "    return torch.full((x.shape[0],), value, dtype=x.dtype, device=x.device)",
            "not differentiable with respect to log_abs_diag",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "eye_without_device",
            "    eye = torch.eye(lower.shape[-1], dtype=lower.dtype, device=lower.device)",
            "    eye = torch.eye(lower.shape[-1], dtype=lower.dtype)",
            "torch.eye(c, device=x.device",
            test="structure",
            kind="device",
        ),
        Mutant(
            "weight_in_float32",
            '    x = torch.einsum("ij,bjhw->bihw", weight, z)',
            '    x = torch.einsum("ij,bjhw->bihw", weight.float().to(z.dtype), z)',
            "only to float32 precision",
            test="forward_matches_reference",
            kind="precision",
        ),
        Mutant(
            "first_channel_missing",
            "    return (pixels * log_abs_diag.sum()).expand(x.shape[0]).clone()",
            "    return (pixels * log_abs_diag[1:].sum()).expand(x.shape[0]).clone()",
            "one term of the sum is missing: channel 1",
            test="forward_matches_reference",
            kind="missing-term",
        ),
        Mutant(
            "log_of_signed_diagonal",
            "    return x, _log_det(z, log_abs_diag)",
            "    diagonal = sign_diag * torch.exp(log_abs_diag)\n"
            "    log_det = z.shape[-2] * z.shape[-1] * torch.log(diagonal).sum()\n"
            "    return x, log_det.expand(z.shape[0]).clone()",
            "log of U's signed diagonal",
        ),
    ),
    "exercise-05": (
        Mutant(
            "inverse_forward_order",
            "    for layer in reversed(layers):",
            "    for layer in layers:",
            "the inverse runs in REVERSE order",
        ),
        Mutant(
            "inverse_log_det_subtracted",
            "layer.inverse(z)\n        total = total + log_det",
            "layer.inverse(z)\n        total = total - log_det",
            "add these log-dets, do not subtract",
        ),
        Mutant(
            "missing_base_constant",
            "    d = z.shape[-1]\n"
            "    base = -0.5 * (z * z).sum(dim=-1) - 0.5 * d * math.log(2 * math.pi)",
            "    base = -0.5 * (z * z).sum(dim=-1)",
            "includes the constant -d/2 log(2 pi)",
            also=(("import math\n", ""),),
        ),
        Mutant(
            "forward_for_density",
            "    z, log_det = compose_inverse(layers, x)",
            "    z, log_det = compose_forward(layers, x)",
            "density evaluation goes x -> z",
        ),
        Mutant(
            "last_log_det_only",
            "layer.forward(x)\n        total = total + log_det",
            "layer.forward(x)\n        total = log_det",
            "not just the last layer's log-det",
        ),
        Mutant(
            "density_via_exp",
            "    base = -0.5 * (z * z).sum(dim=-1) - 0.5 * d * math.log(2 * math.pi)",
            "    density = torch.exp(-0.5 * z * z).prod(dim=-1) / (2 * math.pi) ** (0.5 * d)\n"
            "    base = torch.log(density)",
            "work in log space",
            test="far_tails",
            also=(("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),),
            kind="range",
        ),
        Mutant(
            "detached_total",
            "        total = total + log_det\n    return x, total",
            "        total = total + log_det\n    return x, total.detach()",
            "not differentiable with respect to z: it was detached",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "total_accumulated_in_place",
            "    x = z\n    total = z.new_zeros(z.shape[0])\n    for layer in layers:\n"
            "        x, log_det = layer.forward(x)\n        total = total + log_det",
            "    x = z\n    total = None\n    for layer in layers:\n"
            "        x, log_det = layer.forward(x)\n"
            "        if total is None:\n            total = log_det\n"
            "        else:\n            total += log_det\n"
            "    if total is None:\n        total = z.new_zeros(z.shape[0])",
            "is not yours to change",
            test="structure",
            kind="in-place",
        ),
        Mutant(
            "total_without_device",
            "    total = x.new_zeros(x.shape[0])",
            "    total = torch.zeros(x.shape[0], dtype=x.dtype)",
            "device=x.device",
            test="structure",
            also=(("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),),
            kind="device",
        ),
        Mutant(
            "base_in_float32",
            "    base = -0.5 * (z * z).sum(dim=-1) - 0.5 * d * math.log(2 * math.pi)",
            "    single = z.float()\n"
            "    base = (-0.5 * (single * single).sum(dim=-1)).to(z.dtype)"
            " - 0.5 * d * math.log(2 * math.pi)",
            "only to float32 precision",
            test="log_prob_matches_reference",
            kind="precision",
        ),
        Mutant(
            "last_layer_log_det_missing",
            "    for layer in layers:\n        x, log_det = layer.forward(x)\n"
            "        total = total + log_det",
            "    for index, layer in enumerate(layers):\n        x, log_det = layer.forward(x)\n"
            "        if index < len(layers) - 1:\n            total = total + log_det",
            "one term of the sum is missing: the log-det of layers[",
            test="forward_matches_reference",
            kind="missing-term",
        ),
        Mutant(
            "total_batch_summed_per_sample",
            "        total = total + log_det\n    return x, total",
            "        total = total + log_det\n    return x, total.sum().expand_as(total)",
            "equals the sum over the whole batch",
            test="forward_matches_reference",
            kind="batch-sum",
        ),
        Mutant(
            "total_starts_as_number",
            "    total = z.new_zeros(z.shape[0])",
            "    total = 0",
            "an empty flow is the identity",
        ),
    ),
    "exercise-06": (
        Mutant(
            "forward_sign",
            "    x = z + activation.unsqueeze(-1) * u",
            "    x = z - activation.unsqueeze(-1) * u",
            "wrong sign: the forward map adds u * tanh(w^T z + b)",
            test="forward_matches_reference",
        ),
        Mutant(
            "lemma_without_one",
            "torch.log(torch.abs(1 + slope * (w @ u)))",
            "torch.log(torch.abs(slope * (w @ u)))",
            "you dropped the 1",
            test="worked_example",
        ),
        Mutant(
            "tanh_instead_of_derivative",
            "    slope = 1 - activation * activation",
            "    slope = activation",
            "uses the derivative of tanh",
            test="forward_matches_reference",
        ),
        Mutant(
            "sech_not_squared",
            "    slope = 1 - activation * activation",
            "    slope = 1 / torch.cosh(z @ w + b)",
            "you used sech(a)",
            test="forward_matches_reference",
        ),
        Mutant(
            "dense_slogdet",
            "    log_det = torch.log(torch.abs(1 + slope * (w @ u)))",
            "    eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)\n"
            "    jacobian = eye + slope[:, None, None] * torch.outer(u, w)\n"
            "    log_det = torch.linalg.slogdet(jacobian).logabsdet",
            "formed the dense d x d Jacobian",
            test="forward_cost",
        ),
        Mutant(
            "exp_formula_tanh",
            "    activation = torch.tanh(z @ w + b)",
            "    a = z @ w + b\n"
            "    activation = (torch.exp(a) - torch.exp(-a)) / (torch.exp(a) + torch.exp(-a))",
            "the tanh saturates",
            test="extreme_magnitudes",
        ),
        Mutant(
            "strict_invertibility",
            "    return w @ u >= -1",
            "    return w @ u > -1",
            "the boundary w^T u = -1 is still invertible",
            test="invertibility_condition",
        ),
        Mutant(
            "nonnegative_invertibility",
            "    return w @ u >= -1",
            "    return w @ u >= 0",
            "the condition is w^T u >= -1, not w^T u >= 0",
            test="invertibility_condition",
        ),
        Mutant(
            "u_hat_norm_not_squared",
            "    return u + (m - wu) * w / (w @ w)",
            "    return u + (m - wu) * w / torch.linalg.vector_norm(w)",
            "divide by |w|^2, not |w|",
            test="u_hat",
        ),
        Mutant(
            "u_hat_without_minus_one",
            "    m = F.softplus(wu) - 1",
            "    m = F.softplus(wu)",
            "m(s) = softplus(s) - 1",
            test="u_hat",
        ),
        Mutant(
            "naive_softplus",
            "    m = F.softplus(wu) - 1",
            "    m = torch.log(1 + torch.exp(wu)) - 1",
            "softplus(s) = log(1 + e^s) overflows",
            test="u_hat",
        ),
        Mutant(
            "density_adds_log_dets",
            "    return x, log_base - total",
            "    return x, log_base + total",
            "you added the log-dets",
            test="flow_sample_matches_reference",
        ),
        Mutant(
            "density_at_output",
            "    log_base = -0.5 * (z0 * z0).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
            "    log_base = -0.5 * (x * x).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
            "evaluated at the base sample z0",
            test="log_dets_match_jacobians",
        ),
        Mutant(
            "eps_in_log_det",
            "torch.log(torch.abs(1 + slope * (w @ u)))",
            "torch.log(torch.abs(1 + slope * (w @ u)) + 1e-8)",
            "do not add an eps inside the log",
            test="extreme_magnitudes",
            kind="range",
        ),
        Mutant(
            "base_density_via_exp",
            "    log_base = -0.5 * (z0 * z0).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
            "    density = torch.exp(-0.5 * z0 * z0).prod(dim=-1) / (2 * math.pi) ** (0.5 * d)\n"
            "    log_base = torch.log(density)",
            "work in log space",
            test="extreme_magnitudes",
            kind="range",
        ),
        Mutant(
            "u_hat_by_softplus_of_minus_s",
            "    m = F.softplus(wu) - 1\n    return u + (m - wu) * w / (w @ w)",
            "    return u + (torch.log1p(torch.exp(-wu)) - 1) * w / (w @ w)",
            "log(1 + e^-s) for very negative s",
            test="u_hat",
            kind="range",
        ),
        Mutant(
            "detached_log_det",
            "    return x, log_det\n",
            "    return x, log_det.detach()\n",
            "not differentiable with respect to z: it was detached",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "flow_log_dets_without_grad",
            "        x, log_det = planar_forward(x, u, w, b)\n        total = total + log_det",
            "        x, log_det = planar_forward(x, u, w, b)\n"
            "        with torch.no_grad():\n            total = total + log_det",
            "part of the computation was detached",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "total_without_device",
            "    total = z0.new_zeros(z0.shape[0])",
            "    total = torch.zeros(z0.shape[0], dtype=z0.dtype)",
            "device=x.device",
            test="structure",
            kind="device",
        ),
        Mutant(
            "tanh_in_float32",
            "    activation = torch.tanh(z @ w + b)",
            "    activation = torch.tanh(z @ w + b).float().to(z.dtype)",
            "only to float32 precision",
            test="forward_matches_reference",
            kind="precision",
        ),
    ),
    "exercise-07": (
        Mutant(
            "position_major_squeeze",
            "    y = patches.permute(0, 1, 3, 5, 2, 4)",
            "    y = patches.permute(0, 3, 5, 1, 2, 4)",
            "you grouped by patch position first",
            test="squeeze_index_map",
        ),
        Mutant(
            "column_offset_first",
            "    y = patches.permute(0, 1, 3, 5, 2, 4)",
            "    y = patches.permute(0, 1, 5, 3, 2, 4)",
            "you put the column offset first",
            test="squeeze_index_map",
        ),
        Mutant(
            "plain_reshape_squeeze",
            "    patches = x.reshape(batch, channels, height // 2, 2, width // 2, 2)\n"
            "    y = patches.permute(0, 1, 3, 5, 2, 4).reshape(",
            "    y = x.reshape(",
            "a reshape alone does not squeeze",
            test="squeeze_index_map",
        ),
        Mutant(
            "permutation_matrix_squeeze",
            "    return y, x.new_zeros(batch)",
            "    count = x[0].numel()\n"
            "    index = torch.arange(count, device=x.device).reshape(patches[0:1].shape)\n"
            "    sources = index.permute(0, 1, 3, 5, 2, 4).reshape(-1)\n"
            "    eye = torch.eye(count, dtype=x.dtype, device=x.device)\n"
            "    y = (x.reshape(batch, -1) @ eye[:, sources]).reshape(y.shape)\n"
            "    return y, x.new_zeros(batch)",
            "do not multiply by a permutation matrix",
            test="unsqueeze_inverts_squeeze",
            also=(("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),),
        ),
        Mutant(
            "number_log_det",
            "    return y, x.new_zeros(batch)",
            "    return y, 0.0",
            "not the number 0",
            test="squeeze_index_map",
        ),
        Mutant(
            "odd_size_unchecked",
            "    if height % 2 or width % 2:\n"
            '        raise ValueError(f"squeeze needs even H and W, got H={height}, W={width}")\n',
            "",
            "raise ValueError",
            test="sizes_that_do_not_fit",
        ),
        Mutant(
            "first_half_factored_out",
            "    kept, factored = h[:, : channels // 2], h[:, channels // 2 :]",
            "    factored, kept = h[:, : channels // 2], h[:, channels // 2 :]",
            "the second half of the channels leaves the flow",
            test="factor_out",
        ),
        Mutant(
            "factored_summed_over_batch",
            "    return kept, factored, _standard_normal_log_prob(factored)",
            "    return kept, factored, _standard_normal_log_prob(factored).sum()",
            "not over the batch",
            test="factor_out",
        ),
        Mutant(
            "factored_half_not_scored",
            "    return log_p_1 + _standard_normal_log_prob(z2) + log_det_1 + log_det_2",
            "    return _standard_normal_log_prob(z2) + log_det_1 + log_det_2",
            "the factored-out half z1 is part of the latent",
            test="multiscale_log_prob_matches_reference",
        ),
        Mutant(
            "level_log_dets_subtracted",
            "    return log_p_1 + _standard_normal_log_prob(z2) + log_det_1 + log_det_2",
            "    return log_p_1 + _standard_normal_log_prob(z2) - log_det_1 - log_det_2",
            "add it, do not subtract it",
            test="multiscale_change_of_variables",
        ),
        Mutant(
            "levels_run_forward",
            "    h1, log_det_1 = level_1.inverse(v)",
            "    h1, log_det_1 = level_1.forward(v)",
            "density evaluation goes x -> z",
            also=(
                (
                    "    z2, log_det_2 = level_2.inverse(u)",
                    "    z2, log_det_2 = level_2.forward(u)",
                ),
            ),
            test="multiscale_log_prob_matches_reference",
        ),
        Mutant(
            "dequantize_by_255",
            "    return (x.to(noise.dtype) + noise) / 256",
            "    return (x.to(noise.dtype) + noise) / 255",
            "dequantisation divides by 256",
            test="dequantize",
        ),
        Mutant(
            "bits_without_eight",
            "    return -log_prob / (dims * math.log(2.0)) + BITS_PER_BYTE",
            "    return -log_prob / (dims * math.log(2.0))",
            "you left out the +8",
            test="bits_per_dim",
        ),
        Mutant(
            "bits_in_nats",
            "    return -log_prob / (dims * math.log(2.0)) + BITS_PER_BYTE",
            "    return -log_prob / dims + BITS_PER_BYTE",
            "bits, not nats",
            test="bits_per_dim",
        ),
        Mutant(
            "dims_with_batch",
            "    dims = math.prod(x.shape[1:])",
            "    dims = x.numel()",
            "not of the whole batch",
            test="bits_per_dim",
        ),
        Mutant(
            "log_of_gaussian_density",
            "    return -0.5 * (flat * flat).sum(dim=-1) - 0.5 * flat.shape[-1] * LOG_TWO_PI",
            "    density = (torch.exp(-0.5 * flat * flat) / math.sqrt(2 * math.pi)).prod(dim=-1)\n"
            "    return torch.log(density)",
            "work in log space",
            test="factor_out",
            also=(("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),),
            kind="range",
        ),
        Mutant(
            "bits_via_probability",
            "    return -log_prob / (dims * math.log(2.0)) + BITS_PER_BYTE",
            "    return -torch.log2(torch.exp(log_prob)) / dims + BITS_PER_BYTE",
            "exp(log p) underflows",
            test="bits_per_dim",
            also=(("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),),
            kind="range",
        ),
        Mutant(
            "level_2_without_grad",
            "    z2, log_det_2 = level_2.inverse(u)",
            "    with torch.no_grad():\n        z2, log_det_2 = level_2.inverse(u)",
            "part of the computation was detached",
            test="gradients",
            also=(("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),),
            kind="gradient",
        ),
        Mutant(
            "squeeze_log_det_without_device",
            "    return y, x.new_zeros(batch)",
            "    return y, torch.zeros(batch, dtype=x.dtype)",
            "device=x.device",
            test="structure",
            also=(("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),),
            kind="device",
        ),
        Mutant(
            "log_density_in_float32",
            "    flat = z.reshape(z.shape[0], -1)\n"
            "    return -0.5 * (flat * flat).sum(dim=-1) - 0.5 * flat.shape[-1] * LOG_TWO_PI",
            "    flat = z.reshape(z.shape[0], -1).float()\n"
            "    log_prob = -0.5 * (flat * flat).sum(dim=-1) - 0.5 * flat.shape[-1] * LOG_TWO_PI\n"
            "    return log_prob.to(z.dtype)",
            "only to float32 precision",
            test="factor_out",
            kind="precision",
        ),
        Mutant(
            "level_log_dets_added_in_place",
            "    return log_p_1 + _standard_normal_log_prob(z2) + log_det_1 + log_det_2",
            "    log_det_1 += log_det_2\n"
            "    return log_p_1 + _standard_normal_log_prob(z2) + log_det_1",
            "is not yours to change",
            test="structure",
            kind="in-place",
        ),
    ),
    "exercise-08": (
        Mutant(
            "maf_sampling_fed_z",
            MAF_SAMPLING_LOOP,
            "    log_scale, shift = conditioner(z)\n"
            "    return z * torch.exp(log_scale) + shift, log_scale.sum(dim=-1)",
            "MAF and IAF swapped: in a MAF the conditioner reads the DATA x",
            test="maf_forward_matches_reference",
        ),
        Mutant(
            "iaf_density_fed_x",
            IAF_DENSITY_LOOP,
            "    log_scale, shift = conditioner(x)\n"
            "    return (x - shift) * torch.exp(-log_scale), -log_scale.sum(dim=-1)",
            "MAF and IAF swapped: in an IAF the conditioner reads the NOISE z",
            test="iaf_inverse_matches_reference",
        ),
        Mutant(
            "maf_density_log_det_sign",
            "    return (x - shift) * torch.exp(-log_scale), -log_scale.sum(dim=-1)",
            "    return (x - shift) * torch.exp(-log_scale), log_scale.sum(dim=-1)",
            "x -> z returns log|det dz/dx| = -sum_i a_i",
            test="maf_inverse_matches_reference",
        ),
        Mutant(
            "maf_density_exp_not_negated",
            "    return (x - shift) * torch.exp(-log_scale), -log_scale.sum(dim=-1)",
            "    return (x - shift) * torch.exp(log_scale), -log_scale.sum(dim=-1)",
            "multiply by exp(-a_i), not exp(+a_i)",
            test="maf_inverse_matches_reference",
        ),
        Mutant(
            "iaf_sampling_shift_first",
            "    return z * torch.exp(log_scale) + shift, log_scale.sum(dim=-1)",
            "    return (z + shift) * torch.exp(log_scale), log_scale.sum(dim=-1)",
            "scale first, then shift",
            test="iaf_forward_matches_reference",
        ),
        Mutant(
            "maf_density_loop",
            "    log_scale, shift = conditioner(x)\n"
            "    return (x - shift) * torch.exp(-log_scale), -log_scale.sum(dim=-1)",
            "    columns = []\n"
            "    for i in range(x.shape[-1]):\n"
            "        log_scale, shift = conditioner(x)\n"
            "        columns.append((x[..., i] - shift[..., i]) * torch.exp(-log_scale[..., i]))\n"
            "    return torch.stack(columns, dim=-1), -log_scale.sum(dim=-1)",
            "a loop where one pass suffices",
            test="which_direction_is_parallel",
        ),
        Mutant(
            "maf_sampling_extra_call",
            "        x = torch.cat([x, x_i], dim=-1)\n    return x, log_scale.sum(dim=-1)",
            "        x = torch.cat([x, x_i], dim=-1)\n"
            "    log_scale, _ = conditioner(x)  # the log-scales at the finished sample\n"
            "    return x, log_scale.sum(dim=-1)",
            "d calls suffice",
            test="which_direction_is_parallel",
        ),
        Mutant(
            "maf_density_log_of_product",
            "    return (x - shift) * torch.exp(-log_scale), -log_scale.sum(dim=-1)",
            "    return (x - shift) * torch.exp(-log_scale), "
            "-torch.log(torch.exp(log_scale).prod(dim=-1))",
            "needs no exp and no product",
            test="extreme_log_scales",
            kind="range",
        ),
        Mutant(
            "maf_sampling_in_place_columns",
            MAF_SAMPLING_LOOP,
            "    x = torch.zeros_like(z)\n"
            "    for i in range(d):\n"
            "        log_scale, shift = conditioner(x)\n"
            "        x[..., i] = z[..., i] * torch.exp(log_scale[..., i]) + shift[..., i]\n"
            "    return x, log_scale.sum(dim=-1)",
            "changed a tensor that autograd had saved",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "iaf_density_zeros_without_device",
            IAF_DENSITY_LOOP,
            "    z = torch.zeros(x.shape, dtype=x.dtype)\n"
            "    for _ in range(d):\n"
            "        log_scale, shift = conditioner(z)\n"
            "        z = (x - shift) * torch.exp(-log_scale)\n"
            "    return z, -log_scale.sum(dim=-1)",
            "device=x.device",
            test="structure",
            kind="device",
        ),
        Mutant(
            "iaf_sampling_scale_in_float32",
            "    return z * torch.exp(log_scale) + shift, log_scale.sum(dim=-1)",
            "    return z * torch.exp(log_scale.float()) + shift, log_scale.sum(dim=-1)",
            "only to float32 precision",
            test="iaf_forward_matches_reference",
            kind="precision",
        ),
    ),
    "exercise-09": (
        Mutant(
            "masks_not_alternating",
            "    return torch.stack([((index + k) % 2 == 0).float() for k in range(n_layers)])",
            "    return torch.stack([(index % 2 == 0).float() for k in range(n_layers)])",
            "the masks must alternate",
            test="coupling_masks",
        ),
        Mutant(
            "unmasked_coupling_log_det",
            "        total = total + ((1 - m) * log_scale).sum(dim=-1)",
            "        total = total + log_scale.sum(dim=-1)",
            "only the transformed dimensions (m = 0) contribute",
            test="log_prob_matches_reference",
        ),
        Mutant(
            "log_dets_added",
            "    return _standard_normal_log_prob(h) - total",
            "    return _standard_normal_log_prob(h) + total",
            "wrong sign of the log-dets",
            test="log_prob_integrates_to_one",
        ),
        Mutant(
            "loss_maximised",
            "        loss = -realnvp_log_prob(batch,",
            "        loss = realnvp_log_prob(batch,",
            "no better than a single Gaussian",
            test="training",
        ),
        Mutant(
            "elbo_without_log_det",
            "    return (log_joint - log_q0 + log_det).mean(dim=0)",
            "    return (log_joint - log_q0).mean(dim=0)",
            "the flow's log-dets are part of the ELBO",
            test="elbo_matches_reference",
        ),
        Mutant(
            "elbo_log_det_subtracted",
            "    return (log_joint - log_q0 + log_det).mean(dim=0)",
            "    return (log_joint - log_q0 - log_det).mean(dim=0)",
            "wrong sign of the log-det term",
            test="elbo_change_of_variables",
        ),
        Mutant(
            "q0_without_log_sigma",
            "    log_q0 = (-0.5 * eps * eps - log_sigma - 0.5 * LOG_TWO_PI).sum(dim=-1)",
            "    log_q0 = (-0.5 * eps * eps - 0.5 * LOG_TWO_PI).sum(dim=-1)",
            "brings in - sum_i log sigma_i",
            test="elbo_matches_reference",
        ),
        Mutant(
            "base_density_via_exp",
            "    return -0.5 * (z * z).sum(dim=-1) - 0.5 * z.shape[-1] * LOG_TWO_PI",
            "    density = torch.exp(-0.5 * z * z).prod(dim=-1)\n"
            "    return torch.log(density / (2 * math.pi) ** (0.5 * z.shape[-1]))",
            "work in log space",
            test="far_tails",
            kind="range",
        ),
        Mutant(
            "posterior_sample_detached",
            "    z0 = mu + torch.exp(log_sigma) * eps",
            "    z0 = (mu + torch.exp(log_sigma) * eps).detach()",
            "the reparameterisation trick",
            test="gradients",
            kind="gradient",
        ),
        Mutant(
            "log_det_total_without_device",
            "    total = x.new_zeros(x.shape[0])",
            "    total = torch.zeros(x.shape[0], dtype=x.dtype)",
            "device=x.device",
            test="structure",
            kind="device",
        ),
        Mutant(
            "actnorm_in_float32",
            "        h = (h - shifts[k]) * torch.exp(-log_scales[k])",
            "        h = (h - shifts[k]) * torch.exp(-log_scales[k].float()).to(h.dtype)",
            "only to float32 precision",
            test="log_prob_matches_reference",
            kind="precision",
        ),
    ),
}


def get_mutant(exercise_id: str, name: str) -> Mutant:
    """The mutant called `name` of this exercise; a KeyError names the valid choices."""
    table = {m.name: m for m in MUTANTS[exercise_id]}
    if name not in table:
        raise KeyError(f"no mutant {name!r} for {exercise_id}; valid: {', '.join(table)}")
    return table[name]


def mutated_source(exercise_id: str, edits: tuple[Edit, ...]) -> str:
    """The reference source of this exercise with every (old, new) edit applied once."""
    exercise = get_exercise(exercise_id)
    source = (PROJECT_ROOT / "solutions" / exercise.filename).read_text()
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            raise ValueError(
                f"solutions/{exercise.filename}: {old!r} occurs {count} times, not once"
            )
        source = source.replace(old, new)
    return source


def write_submission(exercise_id: str, edits: tuple[Edit, ...], dest: Path) -> Path:
    """Write the reference with `edits` applied into the submission folder `dest`; return it."""
    dest.mkdir(parents=True, exist_ok=True)
    filename = get_exercise(exercise_id).filename
    (dest / filename).write_text(mutated_source(exercise_id, edits))
    return dest


def materialize(exercise_id: str, name: str, dest: Path) -> Path:
    """Write mutant `name` of this exercise into the submission folder `dest`; return `dest`."""
    return write_submission(exercise_id, get_mutant(exercise_id, name).edits, dest)


def variant_sources(exercise_id: str) -> list[str]:
    """The reference source followed by every mutant's source, in table order."""
    return [mutated_source(exercise_id, ())] + [
        mutated_source(exercise_id, m.edits) for m in MUTANTS[exercise_id]
    ]
