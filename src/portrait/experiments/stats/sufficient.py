"""Sufficient statistics of one arm: small frozen dataclasses built from running sums and
mergeable, so a warehouse query or a stream can produce them without keeping rows; the error
codes results carry; ``clean``, which makes any result JSON-ready."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np

NAN = float("nan")


class NullWhenUndefined:
    """Marks a result field that is NaN (or infinite) where the number is undefined, so its
    published form (``experiments.results``) reads ``float | None``: JSON has no NaN."""


# A result's float that may be undefined (NaN, or inf for a z test's degrees of freedom).
MaybeNan = Annotated[float, NullWhenUndefined]

# Error codes carried by results (``result.error``).
N_TOO_SMALL = "n_too_small"  # an arm has fewer than 2 observations (1 for proportions)
ZERO_VARIANCE = "zero_variance"  # no spread in either arm: no standard error
ZERO_BASELINE = "zero_baseline"  # control mean is 0: the relative lift is undefined
NO_DATA = "no_data"  # SRM check over no observations


def clean(value: Any) -> Any:
    """A result as JSON-ready plain data: dataclasses to dicts, NaN and infinities to None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: clean(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True)
class MeanStats:
    """A numeric metric of one arm: count, mean and sample variance (n - 1 denominator)."""

    n: int
    mean: float
    variance: float

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")
        if self.variance < 0:
            raise ValueError(f"variance must be >= 0, got {self.variance}")

    @classmethod
    def from_sums(cls, n: int, total: float, total_sq: float) -> MeanStats:
        """From the count, the sum and the sum of squares."""
        if n == 0:
            return cls(0, 0.0, 0.0)
        mean = total / n
        var = max(total_sq - total * total / n, 0.0) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, var)

    @classmethod
    def from_sd(cls, n: int, mean: float, sd: float) -> MeanStats:
        """From a count, a mean and a standard deviation (as a report prints them)."""
        if sd < 0:
            raise ValueError(f"sd must be >= 0, got {sd}")
        return cls(n, mean, sd * sd)

    @classmethod
    def from_values(cls, values: Sequence[float] | np.ndarray) -> MeanStats:
        """From raw observations (for tests and small data)."""
        a = np.asarray(values, dtype=float)
        return cls.from_sums(len(a), float(a.sum()), float((a * a).sum()))

    @property
    def sd(self) -> float:
        return math.sqrt(self.variance)

    def merge(self, other: MeanStats) -> MeanStats:
        """Statistics of both groups together (Chan et al.'s parallel update, stable)."""
        n = self.n + other.n
        if self.n == 0 or other.n == 0:
            return other if self.n == 0 else self
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = (
            self.variance * (self.n - 1)
            + other.variance * (other.n - 1)
            + delta * delta * self.n * other.n / n
        )
        return MeanStats(n, mean, max(m2, 0.0) / (n - 1) if n > 1 else 0.0)


@dataclass(frozen=True)
class PropStats:
    """A conversion metric of one arm: users and the users who converted."""

    n: int
    successes: int

    def __post_init__(self) -> None:
        if self.n < 0 or self.successes < 0:
            raise ValueError(f"counts must be >= 0, got {self.successes}/{self.n}")
        if self.successes > self.n:
            raise ValueError(f"more conversions than users: {self.successes}/{self.n}")

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else NAN

    def merge(self, other: PropStats) -> PropStats:
        return PropStats(self.n + other.n, self.successes + other.successes)

    def as_mean(self) -> MeanStats:
        """The same metric as a 0/1 numeric metric (sample variance)."""
        return MeanStats.from_sums(self.n, self.successes, self.successes)
