"""Exercise 02 — triangular Jacobians: log|det J| in O(d) for autoregressive flows.

Run `grade exercise-02` to check your work; `grade hint exercise-02` when you are stuck.

A flow is only practical when log|det J| of every layer is cheap. A dense d x d
determinant costs O(d^3); this exercise is about the structure that brings it to O(d).

Part 1: triangular log-determinants.
You get a batch of lower-triangular Jacobians J (every entry above the diagonal is 0) and
return log|det J| for each, using O(d) work per matrix. The grader gives you matrices with
d in the thousands (no dense determinant, slogdet, logdet or LU of the whole matrix: that
is O(d^3) and is stopped), diagonal entries of either sign, and diagonals so small or so
large that any intermediate product of them under- or overflows float64.

Part 2: an affine autoregressive flow (IAF parametrisation).
Forward (generative) direction z -> x. For each dimension i the shift m_i and log-scale
a_i are computed from the *earlier* inputs z_<i = (z_1, ..., z_{i-1}) only:

    M = tril(W_m, -1),  A = tril(W_a, -1)      strictly lower-triangular: zero diagonal
    m = z @ M.T + b_m                          (B, d); m_i = sum_{j<i} W_m[i, j] z_j + b_m[i]
    a = z @ A.T + b_a                          (B, d); a_i = sum_{j<i} W_a[i, j] z_j + b_a[i]
    x = z * exp(a) + m                         (B, d)

The masks are strict (tril(W, -1), not tril(W)): m_i and a_i never see z_i itself.
You return x with the log-det of this map, and write its exact inverse x -> z.

Sign conventions: the forward pass returns log|det dx/dz|, the inverse pass returns
log|det dz/dx|, each evaluated at the point it was given, one number per sample.

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
        (B,) tensor: log|det J| of each matrix, finite whenever no diagonal entry is 0.
        Same dtype and device as the input.
    """
    raise NotImplementedError


def autoregressive_affine_forward(
    z: Tensor,
    weight_shift: Tensor,
    bias_shift: Tensor,
    weight_log_scale: Tensor,
    bias_log_scale: Tensor,
) -> tuple[Tensor, Tensor]:
    """Forward pass z -> x of the autoregressive affine map above, all dimensions at once.

    Args:
        z: (B, d) base samples.
        weight_shift, weight_log_scale: (d, d) W_m and W_a; only their strictly lower
            triangles are used.
        bias_shift, bias_log_scale: (d,) b_m and b_a.

    Returns:
        x: (B, d), x = z * exp(a) + m with m, a computed from z_<i.
        log_det: (B,), log|det dx/dz| of this map at z.
    """
    raise NotImplementedError


def autoregressive_affine_inverse(
    x: Tensor,
    weight_shift: Tensor,
    bias_shift: Tensor,
    weight_log_scale: Tensor,
    bias_log_scale: Tensor,
) -> tuple[Tensor, Tensor]:
    """Inverse pass x -> z, the exact inverse of autoregressive_affine_forward.

    Args: as for the forward pass, with x (B, d) in place of z.

    Returns:
        z: (B, d) with autoregressive_affine_forward(z, ...)[0] == x.
        log_det: (B,), log|det dz/dx| of the inverse map at x.
    """
    raise NotImplementedError
