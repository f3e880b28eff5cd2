"""Trusted helpers for the hidden tests: checks that explain themselves, and the pytest plugin.

Hidden tests use:
    @pytest.mark.points(2)            how much a test is worth (default 1)
    fixtures  student, reference, device, rng, dtype_cases
    checks    expect_close, expect_structure, expect_tuple, expect_unchanged, expect_finite,
              expect_clean_call (the worker's watch and virtual-device reports)
    gradients grader.testing.gradients (gradient_spec, expect_same_gradients: the student's
              gradients against the reference's)
    structure grader.testing.structure.expect_clean_outputs (one call under the watch and
              the virtual-device check)
"""

from grader.testing.checks import (
    CheckFailed,
    describe,
    expect_clean_call,
    expect_close,
    expect_finite,
    expect_map_outputs,
    expect_structure,
    expect_true,
    expect_tuple,
    expect_unchanged,
)

__all__ = [
    "CheckFailed",
    "describe",
    "expect_clean_call",
    "expect_close",
    "expect_finite",
    "expect_map_outputs",
    "expect_structure",
    "expect_true",
    "expect_tuple",
    "expect_unchanged",
]
