"""Correct submissions written differently from the reference: they must keep full marks.

Each `Alternative` is `solutions/<exercise file>` with some of its code rewritten the way a
student might reasonably write it — loops instead of vector operations, float64 inside,
conv2d / matmul / einsum for the same product, torch.distributions instead of the closed
form, an explicit matrix inverse instead of triangular solves — every one of them right on
a GPU as on the CPU, differentiable, and free of in-place writes into what it was given.
The grader's new checks (far tails, gradients, the watch, the virtual device, the precision
hint) must not reject any of them: tests/test_trust.py grades each on several seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.wrong.mutants import IAF_DENSITY_LOOP, MAF_SAMPLING_LOOP, Edit


@dataclass(frozen=True)
class Alternative:
    """The reference with every (old, new) edit applied once: a correct, different answer."""

    name: str
    edits: tuple[Edit, ...]


ALTERNATIVES: dict[str, tuple[Alternative, ...]] = {
    "exercise-01": (
        Alternative(
            "distributions",
            (
                (
                    "    d = z.shape[-1]\n"
                    "    return -0.5 * (z * z).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
                    "    normal = torch.distributions.Normal(0.0, 1.0)\n"
                    "    return normal.log_prob(z).sum(dim=-1)",
                ),
                (
                    "    z = (x - b) / a\n"
                    "    return -0.5 * z * z - math.log(abs(a)) - 0.5 * LOG_TWO_PI",
                    "    loc, scale = x.new_tensor(b), x.new_tensor(abs(a))\n"
                    "    return torch.distributions.Normal(loc, scale).log_prob(x)",
                ),
                ("import sympy\n", "import sympy\nimport torch\n"),
            ),
        ),
        Alternative(
            "loop_over_dimensions",
            (
                (
                    "    d = z.shape[-1]\n"
                    "    return -0.5 * (z * z).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
                    "    total = z.new_zeros(z.shape[0])\n"
                    "    for i in range(z.shape[-1]):\n"
                    "        total = total - 0.5 * z[:, i] ** 2 - 0.5 * math.log(2 * math.pi)\n"
                    "    return total",
                ),
            ),
        ),
        Alternative(
            "float64_inside",
            (
                (
                    "    z = (x - b) / a\n"
                    "    return -0.5 * z * z - math.log(abs(a)) - 0.5 * LOG_TWO_PI",
                    "    z = (x.double() - b) / a\n"
                    "    return (-0.5 * z * z - math.log(abs(a)) - 0.5 * LOG_TWO_PI).to(x.dtype)",
                ),
                (
                    "    z, log_det_inverse = inverse(x)\n"
                    "    return base_log_prob(z) + log_det_inverse",
                    "    z, log_det_inverse = inverse(x)\n"
                    "    return (base_log_prob(z).double() + log_det_inverse.double()).to(x.dtype)",
                ),
            ),
        ),
    ),
    "exercise-02": (
        Alternative(
            "loop_over_the_diagonal",
            (
                (
                    "    return torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs())"
                    ".sum(dim=-1)",
                    "    total = jacobian.new_zeros(jacobian.shape[:-2])\n"
                    "    for i in range(jacobian.shape[-1]):\n"
                    "        total = total + torch.log(torch.abs(jacobian[..., i, i]))\n"
                    "    return total",
                ),
            ),
        ),
        Alternative(
            "loops_and_einsum_for_the_conditioner",
            (
                (
                    "    shift = z @ torch.tril(weight_shift, -1).T + bias_shift\n"
                    "    log_scale = z @ torch.tril(weight_log_scale, -1).T + bias_log_scale",
                    '    shift = torch.einsum("ij,bj->bi", torch.tril(weight_shift, -1), z)'
                    " + bias_shift\n"
                    "    rows = [z[:, :i] @ weight_log_scale[i, :i] for i in range(z.shape[-1])]\n"
                    "    log_scale = torch.stack(rows, dim=-1) + bias_log_scale",
                ),
            ),
        ),
        Alternative(
            "float64_inside",
            (
                (
                    "    return torch.log(torch.diagonal(jacobian, dim1=-2, dim2=-1).abs())"
                    ".sum(dim=-1)",
                    "    diagonal = torch.diagonal(jacobian, dim1=-2, dim2=-1).double()\n"
                    "    return torch.log(diagonal.abs()).sum(dim=-1).to(jacobian.dtype)",
                ),
            ),
        ),
        Alternative(
            "mask_by_multiplication",
            (
                (
                    "    mask_shift = torch.tril(weight_shift, -1)\n"
                    "    mask_log_scale = torch.tril(weight_log_scale, -1)",
                    "    strict = torch.ones_like(weight_shift).tril(-1)\n"
                    "    mask_shift = weight_shift * strict\n"
                    "    mask_log_scale = weight_log_scale * strict",
                ),
            ),
        ),
    ),
    "exercise-03": (
        Alternative(
            "chunk_and_divide",
            (
                (
                    "    half = v.shape[-1] // 2\n    return v[..., :half], v[..., half:]",
                    "    first, second = torch.split(v, [v.shape[-1] // 2, v.shape[-1] - "
                    "v.shape[-1] // 2], dim=-1)\n    return first, second",
                ),
                (
                    "z_b = (x_b - shift) * torch.exp(-log_scale)",
                    "z_b = (x_b - shift) / torch.exp(log_scale)",
                ),
            ),
        ),
        Alternative(
            "float64_inside",
            (
                (
                    "    x_b = z_b * torch.exp(log_scale) + shift\n",
                    "    x_b = (z_b.double() * torch.exp(log_scale.double()) + shift.double())"
                    ".to(z.dtype)\n",
                ),
            ),
        ),
        Alternative(
            "soft_clamp_from_sigmoid",
            (
                (
                    "    return bound * torch.tanh(raw / bound)",
                    "    return bound * (2.0 * torch.sigmoid(2.0 * raw / bound) - 1.0)",
                ),
            ),
        ),
    ),
    "exercise-04": (
        Alternative(
            "conv2d",
            (
                (
                    '    x = torch.einsum("ij,bjhw->bihw", weight, z)',
                    "    channels = weight.shape[0]\n"
                    "    x = torch.nn.functional.conv2d(z, weight.view(channels, channels, 1, 1))",
                ),
            ),
        ),
        Alternative(
            "matmul_over_pixels",
            (
                (
                    '    x = torch.einsum("ij,bjhw->bihw", weight, z)',
                    "    x = (weight @ z.flatten(2)).view(z.shape)",
                ),
            ),
        ),
        Alternative(
            "explicit_inverse",
            (
                (
                    "    batch, channels, height, width = x.shape\n",
                    "    weight = lu_weight(permutation, lower, upper, sign_diag, log_abs_diag)\n"
                    '    z = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(weight), x)\n'
                    "    return z, -_log_det(x, log_abs_diag)\n"
                    "    batch, channels, height, width = x.shape\n",
                ),
            ),
        ),
        Alternative(
            "float64_inside",
            (
                (
                    "    return permutation @ _unit_lower(lower) @ _upper(upper, sign_diag, "
                    "log_abs_diag)",
                    "    parts = (p.double() for p in (lower, upper, sign_diag, log_abs_diag))\n"
                    "    low, up, sign, log_abs = parts\n"
                    "    weight = _unit_lower(low) @ _upper(up, sign, log_abs)\n"
                    "    return (permutation.double() @ weight).to(lower.dtype)",
                ),
            ),
        ),
        Alternative(
            "log_det_from_the_diagonal",
            (
                (
                    "    return (pixels * log_abs_diag.sum()).expand(x.shape[0]).clone()",
                    "    diagonal = torch.exp(log_abs_diag)\n"
                    "    return (pixels * torch.log(diagonal).sum()) * x.new_ones(x.shape[0])",
                ),
            ),
        ),
    ),
    "exercise-05": (
        Alternative(
            "index_loops_and_stacked_sum",
            (
                (
                    "    z = x\n    total = x.new_zeros(x.shape[0])\n"
                    "    for layer in reversed(layers):\n"
                    "        z, log_det = layer.inverse(z)\n        total = total + log_det\n"
                    "    return z, total",
                    "    z = x\n    parts = [x.new_zeros(x.shape[0])]\n"
                    "    for k in range(len(layers) - 1, -1, -1):\n"
                    "        z, log_det = layers[k].inverse(z)\n        parts.append(log_det)\n"
                    "    return z, torch.stack(parts).sum(dim=0)",
                ),
                ("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),
            ),
        ),
        Alternative(
            "distributions_base",
            (
                (
                    "    d = z.shape[-1]\n"
                    "    base = -0.5 * (z * z).sum(dim=-1) - 0.5 * d * math.log(2 * math.pi)",
                    "    unit = torch.distributions.Normal(z.new_zeros(()), z.new_ones(()))\n"
                    "    base = unit.log_prob(z).sum(dim=-1)",
                ),
                ("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),
            ),
        ),
        Alternative(
            "float64_inside",
            (
                (
                    "        total = total + log_det\n    return x, total",
                    "        total = total + log_det.double()\n    return x, total.to(z.dtype)",
                ),
                (
                    "    total = z.new_zeros(z.shape[0])",
                    "    total = z.new_zeros(z.shape[0], dtype=torch.float64)",
                ),
                ("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),
            ),
        ),
    ),
    "exercise-06": (
        Alternative(
            "sech_squared_log1p_and_distributions",
            (
                (
                    "    slope = 1 - activation * activation\n"
                    "    log_det = torch.log(torch.abs(1 + slope * (w @ u)))",
                    "    slope = torch.cosh(z @ w + b) ** -2\n"
                    "    log_det = torch.log1p(slope * torch.dot(u, w))",
                ),
                (
                    "    d = z0.shape[-1]\n"
                    "    log_base = -0.5 * (z0 * z0).sum(dim=-1) - 0.5 * d * LOG_TWO_PI",
                    "    normal = torch.distributions.Normal(z0.new_zeros(()), z0.new_ones(()))\n"
                    "    log_base = normal.log_prob(z0).sum(dim=-1)",
                ),
            ),
        ),
        Alternative(
            "float64_inside_and_stacked_log_dets",
            (
                (
                    "    x = z0\n"
                    "    total = z0.new_zeros(z0.shape[0])\n"
                    "    for u, w, b in zip(us, ws, bs, strict=True):\n"
                    "        x, log_det = planar_forward(x, u, w, b)\n"
                    "        total = total + log_det\n"
                    "    d = z0.shape[-1]\n"
                    "    log_base = -0.5 * (z0 * z0).sum(dim=-1) - 0.5 * d * LOG_TWO_PI\n"
                    "    return x, log_base - total",
                    "    x, wide = z0.double(), z0.double()\n"
                    "    log_dets = [wide.new_zeros(wide.shape[0])]\n"
                    "    for k in range(us.shape[0]):\n"
                    "        x, log_det = planar_forward(x, us[k].double(), ws[k].double(), "
                    "bs[k].double())\n"
                    "        log_dets.append(log_det)\n"
                    "    d = wide.shape[-1]\n"
                    "    log_base = -0.5 * (wide**2).sum(dim=-1) - 0.5 * d * LOG_TWO_PI\n"
                    "    log_prob = log_base - torch.stack(log_dets).sum(dim=0)\n"
                    "    return x.to(z0.dtype), log_prob.to(z0.dtype)",
                ),
                (
                    "    m = F.softplus(wu) - 1\n    return u + (m - wu) * w / (w @ w)",
                    "    alpha = (F.softplus(-wu) - 1) / (w * w).sum()\n    return u + alpha * w",
                ),
            ),
        ),
    ),
    "exercise-07": (
        Alternative(
            "stacked_corners_and_float64_inside",
            (
                (
                    "    patches = x.reshape(batch, channels, height // 2, 2, width // 2, 2)\n"
                    "    y = patches.permute(0, 1, 3, 5, 2, 4).reshape(",
                    "    corners = [x[:, :, i::2, j::2] for i in range(2) for j in range(2)]\n"
                    "    y = torch.stack(corners, dim=2).reshape(",
                ),
                (
                    "    flat = z.reshape(z.shape[0], -1)\n"
                    "    return -0.5 * (flat * flat).sum(dim=-1) - "
                    "0.5 * flat.shape[-1] * LOG_TWO_PI",
                    "    flat = z.reshape(z.shape[0], -1).double()\n"
                    "    count = flat.shape[-1]\n"
                    "    log_prob = -0.5 * flat.pow(2).sum(dim=-1) - 0.5 * count * LOG_TWO_PI\n"
                    "    return log_prob.to(z.dtype)",
                ),
                (
                    "    return -log_prob / (dims * math.log(2.0)) + BITS_PER_BYTE",
                    "    return -log_prob * math.log2(math.e) / dims + 8",
                ),
                ("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),
            ),
        ),
        Alternative(
            "latents_collected_in_a_loop",
            (
                (
                    "    v, _ = squeeze(x)\n"
                    "    h1, log_det_1 = level_1.inverse(v)\n"
                    "    kept, _, log_p_1 = factor_out(h1)\n"
                    "    u, _ = squeeze(kept)\n"
                    "    z2, log_det_2 = level_2.inverse(u)\n"
                    "    return log_p_1 + _standard_normal_log_prob(z2) + log_det_1 + log_det_2",
                    "    total = x.new_zeros(x.shape[0])\n"
                    "    h = x\n"
                    "    for index, level in enumerate((level_1, level_2)):\n"
                    "        h, _ = squeeze(h)\n"
                    "        h, log_det = level.inverse(h)\n"
                    "        total = total + log_det\n"
                    "        if index == 0:\n"
                    "            h, _, log_p = factor_out(h)\n"
                    "            total = total + log_p\n"
                    "    normal = torch.distributions.Normal(h.new_zeros(()), h.new_ones(()))\n"
                    "    return total + normal.log_prob(h).flatten(1).sum(dim=-1)",
                ),
                ("from torch import Tensor\n", "import torch\nfrom torch import Tensor\n"),
            ),
        ),
    ),
    "exercise-08": (
        Alternative(
            # d passes of the whole map from zeros: after pass k the first k entries are final
            "fixed_point_passes",
            (
                (
                    MAF_SAMPLING_LOOP,
                    "    x = torch.zeros_like(z)\n"
                    "    for _ in range(d):\n"
                    "        log_scale, shift = conditioner(x)\n"
                    "        x = z * torch.exp(log_scale) + shift\n"
                    "    return x, log_scale.sum(dim=-1)",
                ),
                (
                    IAF_DENSITY_LOOP,
                    "    z = x.new_zeros(x.shape)\n"
                    "    for _ in range(d):\n"
                    "        log_scale, shift = conditioner.forward(z)\n"
                    "        z = (x - shift) / torch.exp(log_scale)\n"
                    "    return z, -torch.sum(log_scale, dim=-1)",
                ),
            ),
        ),
        Alternative(
            # columns stacked and padded, addcmul, division, float64 inside
            "stacked_columns_float64",
            (
                (
                    MAF_SAMPLING_LOOP,
                    "    columns = []\n"
                    "    for i in range(d):\n"
                    "        known = torch.stack(columns, dim=-1) if columns else z[..., :0]\n"
                    "        log_scale, shift = conditioner(F.pad(known, (0, d - i)))\n"
                    "        columns.append(z[..., i] * log_scale[..., i].exp() + shift[..., i])\n"
                    "    return torch.stack(columns, dim=-1), log_scale.sum(dim=-1)",
                ),
                (
                    "    log_scale, shift = conditioner(x)\n"
                    "    return (x - shift) * torch.exp(-log_scale), -log_scale.sum(dim=-1)",
                    "    log_scale, shift = conditioner(x)\n"
                    "    wide = (x.double() - shift.double()) / torch.exp(log_scale.double())\n"
                    "    return wide.to(x.dtype), -log_scale.double().sum(dim=-1).to(x.dtype)",
                ),
                (
                    "    return z * torch.exp(log_scale) + shift, log_scale.sum(dim=-1)",
                    "    return torch.addcmul(shift, z, log_scale.exp()), log_scale.sum(-1)",
                ),
                (
                    "from torch import Tensor, nn\n",
                    "import torch.nn.functional as F\nfrom torch import Tensor, nn\n",
                ),
            ),
        ),
        Alternative(
            # the conditioner itself run on a float64 copy (its outputs then differ from the
            # reference's float32 ones by rounding, amplified by exp(-a) in an inverse)
            "conditioner_in_float64",
            (
                (
                    "    log_scale, shift = conditioner(x)\n"
                    "    return (x - shift) * torch.exp(-log_scale), -log_scale.sum(dim=-1)",
                    "    wide = x.double()\n"
                    "    log_scale, shift = conditioner(wide)\n"
                    "    z = (wide - shift) * torch.exp(-log_scale)\n"
                    "    return z.to(x.dtype), -log_scale.sum(dim=-1).to(x.dtype)",
                ),
            ),
        ),
    ),
}
