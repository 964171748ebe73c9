"""The simulated period: its bounds, weekly rhythm, promotion spike and hours of the day.

Times are integers: microseconds since the Unix epoch, UTC (what ``timestamp[us, tz=UTC]``
stores), so all arithmetic stays in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR

# Relative traffic by weekday, Monday first: weekends are busier.
WEEKLY = np.array([0.92, 0.90, 0.94, 0.97, 1.05, 1.17, 1.12])
PROMO_DAYS = 3


@dataclass(frozen=True)
class Period:
    """``days`` whole UTC days from ``start``, with a promotion spike in the middle."""

    start: date
    days: int

    @property
    def start_us(self) -> int:
        moment = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        return int(moment.timestamp()) * US_PER_SECOND

    @property
    def end_us(self) -> int:
        return self.start_us + self.days * US_PER_DAY

    @property
    def promo_first_day(self) -> int:
        return max(0, self.days // 2 - PROMO_DAYS // 2)

    @property
    def promo_last_day(self) -> int:
        return min(self.days - 1, self.promo_first_day + PROMO_DAYS - 1)

    def day_of(self, ts_us: np.ndarray) -> np.ndarray:
        """Day index within the period (may be negative or past the end)."""
        return np.floor_divide(np.asarray(ts_us) - self.start_us, US_PER_DAY)

    def is_promo(self, ts_us: np.ndarray) -> np.ndarray:
        """Whether each time falls on a promotion day (UTC days)."""
        day = self.day_of(ts_us)
        return (day >= self.promo_first_day) & (day <= self.promo_last_day)

    def weekly_factor(self, day: np.ndarray) -> np.ndarray:
        """Traffic factor of each day index, from its weekday."""
        return WEEKLY[(np.asarray(day) + self.start.weekday()) % 7]

    def promo_day_mask(self, day: np.ndarray) -> np.ndarray:
        d = np.asarray(day)
        return (d >= self.promo_first_day) & (d <= self.promo_last_day)

    def day_fraction(self, fraction: float) -> int:
        """The day index at ``fraction`` of the period."""
        return min(self.days - 1, max(0, round(fraction * self.days)))


def sample_hours(rng: np.random.Generator, peak_hour: np.ndarray) -> np.ndarray:
    """A local hour of day (float, 0-24) per entry: near the peak hour, some at random."""
    n = len(peak_hour)
    near = peak_hour + rng.normal(0.0, 1.8, n)
    anywhere = rng.uniform(0.0, 24.0, n)
    return np.mod(np.where(rng.random(n) < 0.75, near, anywhere), 24.0)
