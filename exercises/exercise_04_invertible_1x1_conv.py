"""Exercise 04 — Glow invertible 1x1 convolution with an LU-factored weight.

Run `grade exercise-04` to check your work; `grade hint exercise-04` when you are stuck.

Direction: the forward map is the generative one, z -> x (sampling); the inverse is
x -> z (density evaluation). Every tensor is batch first: z and x have shape (B, C, H, W).

A 1x1 convolution applies the same C x C matrix W to the channel vector of every pixel:

    x[b, :, h, w] = W @ z[b, :, h, w]        for every sample b and pixel (h, w)

(a matrix-vector product W @ v, not v @ W). Glow keeps W invertible by storing it in LU
form, W = P @ L @ U, with these parameters (all of z's dtype and device):

    permutation   (C, C)  P, a fixed permutation matrix (one 1 per row and column)
    lower         (C, C)  only the entries strictly below the diagonal are used
    upper         (C, C)  only the entries strictly above the diagonal are used
    sign_diag     (C,)    +1 or -1: the sign of U's diagonal
    log_abs_diag  (C,)    log|U_ii|

    L = tril(lower, -1) + I                             unit lower-triangular: L_ii = 1
    U = triu(upper, 1) + diag(sign_diag * exp(log_abs_diag))

Your tasks: assemble W; the log-determinant of the whole map on a (C, H, W) sample, in
O(C) work from the parameters (no determinant call); and the exact inverse, computed
accurately in float32 too (the grader compares in float32, so do not form W^-1 with
torch.inverse or torch.linalg.inv).

Sign conventions: the forward pass returns log|det dx/dz| at z, the inverse pass
log|det dz/dx| at x. Every sample gets the same number here, but return one per sample,
shape (B,). U_ii may be negative (sign_diag = -1).

Numbers to check yourself against (the unit's practice problem 4): C = 3, H = W = 32 and
U's diagonal (2, 0.5, 0.8) give a forward log-det of about -228.5 per sample.

Rules: keep each input's dtype and device; do not modify inputs in place.
"""

from __future__ import annotations

import torch  # noqa: F401 - you will need it
from torch import Tensor


def lu_weight(
    permutation: Tensor, lower: Tensor, upper: Tensor, sign_diag: Tensor, log_abs_diag: Tensor
) -> Tensor:
    """Assemble W = P @ L @ U, shape (C, C), from the LU parameters above.

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
        log_det: (B,), log|det dx/dz| of the whole map on one (C, H, W) sample.
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
        z: (B, C, H, W) with invertible_conv_forward(z, ...)[0] == x.
        log_det: (B,), log|det dz/dx| of the inverse map on one (C, H, W) sample.
    """
    raise NotImplementedError
