"""CUPED (Deng et al. 2013): a pre-period covariate removes variance from the comparison of
means; each arm is summarised by its sums of y, x, their squares and cross products."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from portrait.experiments.stats.sufficient import MeanStats


@dataclass(frozen=True)
class CupedStats:
    """One arm's sums of the metric y and its pre-period covariate x."""

    n: int
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float

    @classmethod
    def from_arrays(
        cls, y: Sequence[float] | np.ndarray, x: Sequence[float] | np.ndarray
    ) -> CupedStats:
        ya, xa = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
        if ya.shape != xa.shape:
            raise ValueError("y and x must have the same length")
        return cls(
            len(ya),
            float(ya.sum()),
            float((ya * ya).sum()),
            float(xa.sum()),
            float((xa * xa).sum()),
            float((xa * ya).sum()),
        )

    def merge(self, other: CupedStats) -> CupedStats:
        return CupedStats(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.sum_y2 + other.sum_y2,
            self.sum_x + other.sum_x,
            self.sum_x2 + other.sum_x2,
            self.sum_xy + other.sum_xy,
        )

    @property
    def y(self) -> MeanStats:
        return MeanStats.from_sums(self.n, self.sum_y, self.sum_y2)

    def centered(self) -> tuple[float, float, float]:
        """Centred sums of squares and cross products (Syy, Sxx, Sxy)."""
        if self.n == 0:
            return 0.0, 0.0, 0.0
        syy = max(self.sum_y2 - self.sum_y**2 / self.n, 0.0)
        sxx = max(self.sum_x2 - self.sum_x**2 / self.n, 0.0)
        sxy = self.sum_xy - self.sum_x * self.sum_y / self.n
        return syy, sxx, sxy


def cuped_adjust(
    control: CupedStats, treatment: CupedStats
) -> tuple[MeanStats, MeanStats, float, float]:
    """CUPED (Deng et al. 2013): y_adj = y - theta (x - mean of x over both arms).

    theta = (Sxy_c + Sxy_t) / (Sxx_c + Sxx_t), the within-arm covariances pooled over both
    arms. Returns the adjusted statistics of each arm (feed them to ``welch_test``), theta,
    and the variance reduction of the difference, 1 - Var_adj / Var_raw (0 when undefined).
    """
    _, sxx_c, sxy_c = control.centered()
    _, sxx_t, sxy_t = treatment.centered()
    theta = (sxy_c + sxy_t) / (sxx_c + sxx_t) if sxx_c + sxx_t > 0 else 0.0
    n_all = control.n + treatment.n
    x_all = (control.sum_x + treatment.sum_x) / n_all if n_all else 0.0

    def adjust(arm: CupedStats) -> MeanStats:
        if arm.n == 0:
            return MeanStats(0, 0.0, 0.0)
        syy, sxx, sxy = arm.centered()
        mean = (arm.sum_y - theta * (arm.sum_x - arm.n * x_all)) / arm.n
        m2 = max(syy - 2 * theta * sxy + theta * theta * sxx, 0.0)
        return MeanStats(arm.n, mean, m2 / (arm.n - 1) if arm.n > 1 else 0.0)

    adj_c, adj_t = adjust(control), adjust(treatment)
    raw_c, raw_t = control.y, treatment.y
    if raw_c.n and raw_t.n:
        raw = raw_c.variance / raw_c.n + raw_t.variance / raw_t.n
        new = adj_c.variance / adj_c.n + adj_t.variance / adj_t.n
    else:
        raw = new = 0.0
    reduction = 1 - new / raw if raw > 0 else 0.0
    return adj_c, adj_t, theta, reduction
