"""The unit's learning objectives and pitfalls that every question is tagged with.

The bank must cover each objective and each pitfall at least once (checked by the tests
and by `grade quiz check`).
"""

from __future__ import annotations

OBJECTIVES: dict[int, str] = {
    1: "Derive the change-of-variables formula for densities under invertible maps",
    2: "Compute log-determinants of structured Jacobians (autoregressive, coupling)",
    3: "Explain how affine coupling layers are invertible with a cheap Jacobian",
    4: "Analyse the trade-off between expressiveness and cost in flow architectures",
    5: "Connect normalizing flows to VAEs as richer priors and posteriors",
}

PITFALLS: dict[str, str] = {
    "numerical-instability": "exp(log-scale) overflows or vanishes; bound the log-scale",
    "single-coupling-layer": "one coupling layer leaves half the dimensions unchanged",
    "slow-inverse": "an autoregressive flow is sequential in one direction",
    "volume-preserving": "what volume-preserving layers can and cannot model",
    "nan-log-likelihood": "non-invertible layers (s = 0, singular W) give -inf/NaN",
    "dimensionality-reduction": "flows are bijections: d_z = d_x, no compression",
}
