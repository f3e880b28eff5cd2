"""The checks hidden tests use: misconception hints may be computed only when needed."""

from __future__ import annotations

import pytest
import torch

from grader.testing.checks import (
    BATCH_MEAN,
    BATCH_SUM,
    PRECISION,
    CheckFailed,
    expect_clean_call,
    expect_close,
    lazy,
    missing_term_misconceptions,
    part_of,
)

EXPECTED = torch.tensor([1.0, 2.0, 3.0])


def test_a_passing_check_never_computes_its_misconceptions() -> None:
    def explode() -> dict[str, torch.Tensor]:
        raise AssertionError("computed although the check passed")

    expect_close(EXPECTED.clone(), EXPECTED, what="values", misconceptions=explode)


def test_a_failing_check_computes_them_once_and_names_the_match() -> None:
    calls: list[int] = []

    def pair() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        calls.append(1)
        return {"you negated it": -EXPECTED}, {"you doubled it": 2 * EXPECTED}

    shared = lazy(pair)
    for index, got, hint in ((0, -EXPECTED, "you negated it"), (1, 2 * EXPECTED, "you doubled it")):
        with pytest.raises(CheckFailed) as failed:
            expect_close(got, EXPECTED, what="values", misconceptions=part_of(shared, index))
        assert failed.value.feedback.hint == hint
    assert calls == [1]


def test_lazy_binds_its_arguments_when_made() -> None:
    made = [lazy(torch.full, (2,), float(value)) for value in range(3)]
    assert [float(function()[0]) for function in made] == [0.0, 1.0, 2.0]


def _hint_of(got: torch.Tensor, expected: torch.Tensor, **kw: object) -> str | None:
    with pytest.raises(CheckFailed) as failed:
        expect_close(got, expected, what="values", **kw)  # type: ignore[arg-type]
    return failed.value.feedback.hint


def test_a_float32_step_in_a_float64_result_is_named_before_any_misconception() -> None:
    expected = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    rounded = expected.float().double()
    if torch.equal(rounded, expected):  # pragma: no cover - draws are never float32-exact
        pytest.skip("no rounding")
    hint = _hint_of(
        rounded,
        expected,
        misconceptions={"you forgot a transpose": rounded},  # it matches too, but comes later
        hint="the log-det you return does not describe the map you implemented",
    )
    assert hint == PRECISION


def test_a_real_mistake_of_float32_size_in_float32_is_not_called_precision() -> None:
    expected = torch.tensor([1.0, 2.0, 3.0])
    assert _hint_of(expected * 1.01, expected, hint="fallback") == "fallback"


def test_a_misconception_that_equals_the_right_answer_is_never_named() -> None:
    """On an input where a mistake gives the right value (one pass too few of a saturated
    solve), a near-miss gets the fallback hint, and a mistake that differs is still named."""
    expected = torch.tensor([1.0, 2.0, 3.0])
    near_miss = expected + torch.tensor([0.0, 0.0, 1e-3])
    indistinguishable = {"one pass too few": expected.clone(), "you negated it": -expected}
    assert _hint_of(near_miss, expected, misconceptions=indistinguishable, hint="fallback") == (
        "fallback"
    )
    assert _hint_of(-expected, expected, misconceptions=indistinguishable) == "you negated it"


def test_every_entry_equal_to_the_batch_sum_is_named() -> None:
    expected = torch.tensor([0.5, -1.0, 2.0, 0.25], dtype=torch.float64)
    assert _hint_of(expected.sum().expand(4), expected) == BATCH_SUM
    assert _hint_of(expected.mean().expand(4), expected) == BATCH_MEAN


def test_a_missing_term_is_named_with_its_index() -> None:
    terms = torch.tensor([[0.5, 1.0], [0.0, 0.0], [-2.0, 3.0]], dtype=torch.float64)
    total = terms.sum(0)
    wrong = missing_term_misconceptions(total, terms, lambda k: f"layer {k}")
    assert len(wrong) == 2  # leaving out the zero term changes nothing: not named
    hint = _hint_of(total - terms[2], total, misconceptions=wrong)
    assert hint is not None and "one term of the sum is missing: layer 2" in hint


def test_the_watch_report_reads_in_plain_words() -> None:
    from grader.runner.client import CallResult

    result = CallResult(None, "", None, writes={"returned": ["args[0][2].forward (call 1)[1]"]})
    with pytest.raises(CheckFailed) as failed:
        expect_clean_call(result, function="compose_forward", names=["layers", "z"])
    feedback = failed.value.feedback
    assert feedback.differs == (
        "your code wrote in place into output [1] of call 1 of layers[2].forward"
    )
    assert "not yours to change" in (feedback.hint or "")
    clean = CallResult(None, "", None, writes={"inputs": [], "returned": []})
    expect_clean_call(clean, function="compose_forward", names=["layers", "z"])
