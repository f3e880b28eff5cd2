"""Exercise 04 — Glow invertible 1x1 convolution with an LU-factored weight.

Run `grade exercise-04` to check your work.

Direction: the forward map is the generative one, z -> x (sampling); the inverse is
x -> z (density evaluation). Every tensor is batch first: z and x have shape (B, C, H, W).

A 1x1 convolution applies the same C x C matrix W to the channel vector of every pixel:

    x[b, :, h, w] = W @ z[b, :, h, w]        for every sample b and pixel (h, w)

(a matrix-vector product W @ v, not v @ W). Glow keeps W invertible and its determinant
cheap by storing it in LU form, W = P @ L @ U, with these parameters (all of z's dtype
and device):

    permutation   (C, C)  P, a fixed permutation matrix (one 1 per row and column)
    lower         (C, C)  only the entries strictly below the diagonal are used
    upper         (C, C)  only the entries strictly above the diagonal are used
    sign_diag     (C,)    +1 or -1: the sign of U's diagonal
    log_abs_diag  (C,)    log|U_ii|

    L = tril(lower, -1) + I                             unit lower-triangular: L_ii = 1
    U = triu(upper, 1) + diag(sign_diag * exp(log_abs_diag))

Log-determinant: det P = +-1, det L = 1 and U is triangular, so
    log|det W| = sum_i log|U_ii| = sum_i log_abs_diag_i
The map on the whole (C, H, W) sample is block diagonal with H * W copies of W, so

    forward:  log|det dx/dz| = H * W * sum_i log_abs_diag_i     shape (B,)
    inverse:  log|det dz/dx| = -H * W * sum_i log_abs_diag_i    shape (B,)

Every sample gets the same number, but return one per sample, shape (B,). U_ii may be
negative (sign_diag = -1): its *absolute* value enters the log-det, never log(U_ii).

Inverse without inverting W: W^-1 = U^-1 L^-1 P^-1 and P^-1 = P^T, so for every pixel
    z = U^-1 (L^-1 (P^T x))
Compute the two inner steps with triangular solves (torch.linalg.solve_triangular; use
unitriangular=True for L), not with torch.inverse(W): solves are cheaper and more
accurate. Tip: arrange all pixels as the columns of one (C, B*H*W) matrix.

Rules: keep each input's dtype and device; do not modify inputs in place.
"""

from __future__ import annotations

import torch  # noqa: F401 - you will need it
from torch import Tensor


def lu_weight(
    permutation: Tensor, lower: Tensor, upper: Tensor, sign_diag: Tensor, log_abs_diag: Tensor
) -> Tensor:
    """Assemble W = P @ L @ U, shape (C, C).

    L = tril(lower, -1) + I (ones on the diagonal, `lower`'s own diagonal is ignored);
    U = triu(upper, 1) + diag(sign_diag * exp(log_abs_diag)) (`upper`'s diagonal is ignored).
    """
    raise NotImplementedError


def invertible_conv_forward(
    z: Tensor,
    permutation: Tensor,
    lower: Tensor,
    upper: Tensor,
    sign_diag: Tensor,
    log_abs_diag: Tensor,
) -> tuple[Tensor, Tensor]:
    """Forward pass z -> x of the 1x1 convolution.

    Args:
        z: (B, C, H, W) input.
        permutation, lower, upper, sign_diag, log_abs_diag: the LU parameters of W.

    Returns:
        x: (B, C, H, W) with x[b, :, h, w] = W @ z[b, :, h, w].
        log_det: (B,), log|det dx/dz| = H * W * sum(log_abs_diag) for every sample.
    """
    raise NotImplementedError


def invertible_conv_inverse(
    x: Tensor,
    permutation: Tensor,
    lower: Tensor,
    upper: Tensor,
    sign_diag: Tensor,
    log_abs_diag: Tensor,
) -> tuple[Tensor, Tensor]:
    """Inverse pass x -> z, the exact inverse of invertible_conv_forward.

    Returns:
        z: (B, C, H, W) with z[b, :, h, w] = U^-1 L^-1 P^T x[b, :, h, w] (triangular solves).
        log_det: (B,), log|det dz/dx| = -H * W * sum(log_abs_diag) for every sample.
    """
    raise NotImplementedError
