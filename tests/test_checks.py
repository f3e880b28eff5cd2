"""The checks hidden tests use: misconception hints may be computed only when needed."""

from __future__ import annotations

import pytest
import torch

from grader.testing.checks import CheckFailed, expect_close, lazy, part_of

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
