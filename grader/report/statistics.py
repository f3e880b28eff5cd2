"""Class statistics: central tendency, spread, a histogram, and where the class fails.

All functions take plain numbers, so they are easy to check by hand:
    summary([50, 70, 90]) -> mean 70, median 70, stdev 16.33 (population), ...
    histogram([5, 95, 100], bins=10) -> counts [1, 0, ..., 0, 2] (100 % falls in the top bin)
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Statistics of a list of percentages (or scores)."""

    count: int
    mean: float
    median: float
    stdev: float
    minimum: float
    maximum: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


EMPTY = Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def summary(values: Sequence[float]) -> Summary:
    """Mean, median, population standard deviation, range and quartiles."""
    if not values:
        return EMPTY
    data = sorted(float(v) for v in values)
    quartiles = statistics.quantiles(data, n=4, method="inclusive") if len(data) > 1 else data * 3
    return Summary(
        count=len(data),
        mean=statistics.fmean(data),
        median=statistics.median(data),
        stdev=statistics.pstdev(data),
        minimum=data[0],
        maximum=data[-1],
        q1=quartiles[0],
        q3=quartiles[2],
    )


@dataclass(frozen=True)
class Bin:
    """Scores in [low, high) (the last bin also holds `high`)."""

    low: float
    high: float
    count: int

    @property
    def label(self) -> str:
        return f"{self.low:g}-{self.high:g}"


def histogram(percentages: Sequence[float], bins: int = 10, top: float = 100.0) -> list[Bin]:
    """Equal-width bins over [0, top]; values outside are clipped into the end bins."""
    width = top / bins
    counts = [0] * bins
    for value in percentages:
        index = min(bins - 1, max(0, int(value // width)))
        counts[index] += 1
    return [Bin(i * width, (i + 1) * width, c) for i, c in enumerate(counts)]


@dataclass(frozen=True)
class FailureRate:
    """How many of the students graded on one test did not pass it."""

    exercise: str
    test: str
    description: str
    failed: int
    graded: int

    @property
    def rate(self) -> float:
        return self.failed / self.graded if self.graded else 0.0

    @property
    def sentence(self) -> str:
        """`most students (85%) failed exercise-03 round_trip: <what it checks>`."""
        share = self.rate
        who = (
            "every student"
            if share == 1
            else "most students"
            if share > 0.5
            else "half of the students"
            if share == 0.5
            else "some students"
        )
        return (
            f"{who} ({share:.0%}, {self.failed} of {self.graded}) failed "
            f"{self.exercise} {self.test}: {self.description}"
        )


def failure_rates(
    outcomes: dict[tuple[str, str], list[bool]], descriptions: dict[tuple[str, str], str]
) -> list[FailureRate]:
    """(exercise, test) -> passed flags of every graded student; worst first."""
    rates = [
        FailureRate(
            exercise, test, descriptions.get((exercise, test), test), flags.count(False), len(flags)
        )
        for (exercise, test), flags in outcomes.items()
    ]
    return sorted(rates, key=lambda r: (-r.rate, r.exercise, r.test))
