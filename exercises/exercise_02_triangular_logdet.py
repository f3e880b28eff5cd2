"""Exercise 02 — triangular Jacobians: log|det J| in O(d) for autoregressive flows.

Run `grade exercise-02` to check your work.

Part 1: triangular log-determinants.
The determinant of a triangular matrix is the product of its diagonal, so

    log|det J| = sum_i log|J_ii|          O(d) per sample, no determinant needed.

Never form the product itself: prod_i |J_ii| underflows to 0 (or overflows to inf) long
before its log stops being an ordinary number; d = 1000 entries of 0.01 already give 1e-2000.
Never call a dense determinant (det, slogdet, logdet, LU) either: that costs O(d^3).
Diagonal entries may be negative; the determinant's sign does not matter, its size does.

Part 2: an affine autoregressive flow (IAF parametrisation).
Forward (generative) direction z -> x. For each dimension i the shift m_i and log-scale
a_i are computed from the *earlier* inputs z_<i = (z_1, ..., z_{i-1}) only:

    M = tril(W_m, -1),  A = tril(W_a, -1)      strictly lower-triangular: zero diagonal
    m = z @ M.T + b_m                          (B, d); m_i = sum_{j<i} W_m[i, j] z_j + b_m[i]
    a = z @ A.T + b_a                          (B, d); a_i = sum_{j<i} W_a[i, j] z_j + b_a[i]
    x = z * exp(a) + m                         (B, d)

Use tril(W, -1), not tril(W): with the diagonal kept, x_i would depend on z_i through m_i
and a_i as well, the map would no longer be affine in z_i and sum_i a_i would be wrong.

Jacobian: dx_i/dz_j = 0 for j > i, so dx/dz is lower-triangular with diagonal
dx_i/dz_i = exp(a_i). Hence

    log|det dx/dz| = sum_i a_i                 shape (B,): one number per sample.

Inverse direction x -> z: m_i and a_i need z_<i, which are not known before they are
computed. So the inverse is sequential, d steps:

    for i = 1..d:  z_i = (x_i - m_i(z_<i)) * exp(-a_i(z_<i))
    log|det dz/dx| = -sum_i a_i               the negative of the forward log-det

Which direction is fast depends on the parametrisation. Here (IAF: the conditioner reads
the base variable z) sampling z -> x is one parallel pass and density evaluation x -> z
is sequential. MAF is the mirror image: its conditioner reads the data x_<i, so density
evaluation x -> z is parallel and sampling is sequential. The log-det is O(d) either way.

Shapes: z, x (B, d); W_m, W_a (d, d); b_m, b_a (d,); log-dets (B,).
Rules: keep each input's dtype and device; do not modify inputs in place.
"""

from __future__ import annotations

import torch  # noqa: F401 - you will need it
from torch import Tensor


def triangular_log_abs_det(jacobian: Tensor) -> Tensor:
    """log|det J| for a batch of lower-triangular matrices, in O(d) per matrix.

    Args:
        jacobian: (B, d, d), lower-triangular (entries above the diagonal are 0).

    Returns:
        (B,) tensor: sum_i log|J_ii|. Same dtype and device as the input.
    """
    raise NotImplementedError


def autoregressive_affine_forward(
    z: Tensor,
    weight_shift: Tensor,
    bias_shift: Tensor,
    weight_log_scale: Tensor,
    bias_log_scale: Tensor,
) -> tuple[Tensor, Tensor]:
    """Forward pass z -> x, all dimensions in parallel.

    Args:
        z: (B, d) base samples.
        weight_shift, weight_log_scale: (d, d); only their strictly lower triangles are used.
        bias_shift, bias_log_scale: (d,).

    Returns:
        x: (B, d), x = z * exp(a) + m with m, a computed from z_<i.
        log_det: (B,), log|det dx/dz| = sum_i a_i.
    """
    raise NotImplementedError


def autoregressive_affine_inverse(
    x: Tensor,
    weight_shift: Tensor,
    bias_shift: Tensor,
    weight_log_scale: Tensor,
    bias_log_scale: Tensor,
) -> tuple[Tensor, Tensor]:
    """Inverse pass x -> z, the exact inverse of autoregressive_affine_forward (sequential).

    Returns:
        z: (B, d), computed one dimension at a time: z_i = (x_i - m_i) * exp(-a_i),
            where m_i and a_i come from the z_<i you have already computed.
        log_det: (B,), log|det dz/dx| = -sum_i a_i.
    """
    raise NotImplementedError
