"""How good is an uplift ranking? uplift@k, Qini and uplift curves and their areas, the ATE.

Every function takes the observed binary outcome ``y``, a score to rank by (the predicted uplift;
higher means target first) and the treatment indicator ``t`` (0/1) of a randomised test set.
The conventions follow scikit-uplift (``sklift.metrics``), so figures are comparable with the
ones it publishes:

- Ranking: descending score; ties keep reverse row order (a stable ascending sort, reversed).
  Curves have one point per distinct score (tied rows enter together) and start at (0, 0).
- ``uplift_at_k`` ("overall" strategy): rank everybody, keep the first ``int(n * k)`` rows, and
  return the response rate of the treated among them minus that of the controls among them.
  The "by_group" strategy keeps the first ``int(n_t * k)`` treated and ``int(n_c * k)`` controls.
- Qini curve at ``N`` targeted rows: ``Q(N) = Y_T(N) - Y_C(N) * N_T(N) / N_C(N)`` (incremental
  responders, the control responses rescaled to the treated count; 0 while ``N_C = 0``).
- Uplift curve at ``N``: ``U(N) = (Y_T(N) / N_T(N) - Y_C(N) / N_C(N)) * N`` (a rate is 0 while its
  group is empty).
- Areas: trapezoids over ``x = N``. ``qini_auc`` and ``uplift_auc`` are **normalised** like
  scikit-uplift's ``qini_auc_score`` and ``uplift_auc_score``: (area of the model's curve - area
  of the random-targeting diagonal from (0, 0) to the curve's end) / (the same for the perfect
  curve). 1 is a perfect ranking, 0 is random targeting, negative is worse than random. The Qini
  perfect curve is the one with negative effects (treated responders first, control responders
  last); the uplift perfect curve ranks by ``2 * (y == t) + (y if control responders outnumber
  treated non-responders else t)``. Pass ``normalize=False`` for the raw area between the
  model's curve and the diagonal (in responders x rows).
- ``ate``: difference of response rates, treated minus control, with a normal (Wald, unpooled)
  confidence interval. ``bootstrap`` gives a percentile interval for any of the metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from math import sqrt

import numpy as np
import scipy  # scipy.stats loads on first use, not at CLI start

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval (``level``: e.g. 0.95)."""

    value: float
    low: float
    high: float
    level: float = 0.95

    def as_dict(self) -> dict[str, float]:
        """Plain numbers for JSON."""
        return asdict(self)


def _arrays(y: object, score: object, t: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ya = np.asarray(y, dtype=np.float64)
    sa = np.asarray(score, dtype=np.float64)
    ta = np.asarray(t)
    if not (ya.ndim == sa.ndim == ta.ndim == 1) or not (len(ya) == len(sa) == len(ta)):
        raise ValueError(
            f"y, score and treatment must be 1-D of one length, got {ya.shape}, {sa.shape}, "
            f"{ta.shape}"
        )
    if len(ya) == 0:
        raise ValueError("no rows to evaluate")
    if not set(np.unique(ta).tolist()) <= {0, 1}:
        raise ValueError("treatment must be 0/1")
    if ta.min() == ta.max():
        raise ValueError("the evaluation set needs both treated and control rows")
    if np.isnan(sa).any():
        raise ValueError("the score has NaN values")
    return ya, sa, ta.astype(np.int8)


def ranking(score: np.ndarray) -> np.ndarray:
    """Row indices by descending score; ties in reverse row order (scikit-uplift's convention)."""
    return np.argsort(score, kind="stable")[::-1]


def _cumulative(
    y: np.ndarray, score: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At each distinct score (descending): N, N_T, N_C, Y_T, Y_C counted so far, from (0, ...)."""
    order = ranking(score)
    ys, ss, ts = y[order], score[order], t[order].astype(np.float64)
    ends = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]
    n = (ends + 1).astype(np.float64)
    n_t = np.cumsum(ts)[ends]
    y_t = np.cumsum(ys * ts)[ends]
    y_c = np.cumsum(ys * (1.0 - ts))[ends]
    z = np.zeros(1)
    return (
        np.r_[z, n],
        np.r_[z, n_t],
        np.r_[z, n - n_t],
        np.r_[z, y_t],
        np.r_[z, y_c],
    )


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def qini_curve(y: object, score: object, t: object) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve: rows targeted ``N`` and incremental responders ``Q(N)``, from (0, 0)."""
    ya, sa, ta = _arrays(y, score, t)
    n, n_t, n_c, y_t, y_c = _cumulative(ya, sa, ta)
    return n, y_t - y_c * _ratio(n_t, n_c)


def uplift_curve(y: object, score: object, t: object) -> tuple[np.ndarray, np.ndarray]:
    """The uplift curve: rows targeted ``N`` and ``(rate_T - rate_C) * N``, from (0, 0)."""
    ya, sa, ta = _arrays(y, score, t)
    n, n_t, n_c, y_t, y_c = _cumulative(ya, sa, ta)
    return n, (_ratio(y_t, n_t) - _ratio(y_c, n_c)) * n


def perfect_qini_score(y: object, t: object) -> np.ndarray:
    """A score ranking treated responders first and control responders last (Qini optimum)."""
    ya, ta = np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64)
    return ya * ta - ya * (1.0 - ta)


def perfect_uplift_score(y: object, t: object) -> np.ndarray:
    """The optimal ranking for the uplift curve (scikit-uplift's perfect uplift curve)."""
    ya, ta = np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64)
    control_responders = np.sum((ya == 1) & (ta == 0))
    treated_non_responders = np.sum((ya == 0) & (ta == 1))
    extra = ya if control_responders > treated_non_responders else ta
    return 2.0 * (ya == ta) + extra


def _area(x: np.ndarray, v: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (v[1:] + v[:-1]) / 2.0))


def _above_diagonal(x: np.ndarray, v: np.ndarray) -> float:
    return _area(x, v) - float(x[-1] * v[-1]) / 2.0


def qini_auc(y: object, score: object, t: object, normalize: bool = True) -> float:
    """Area between the Qini curve and the random diagonal; normalised by the perfect one's."""
    x, q = qini_curve(y, score, t)
    actual = _above_diagonal(x, q)
    if not normalize:
        return actual
    px, pq = qini_curve(y, perfect_qini_score(y, t), t)
    return float(actual / _above_diagonal(px, pq))


def uplift_auc(y: object, score: object, t: object, normalize: bool = True) -> float:
    """Area between the uplift curve and the random diagonal; normalised by the perfect one's."""
    x, u = uplift_curve(y, score, t)
    actual = _above_diagonal(x, u)
    if not normalize:
        return actual
    px, pu = uplift_curve(y, perfect_uplift_score(y, t), t)
    return float(actual / _above_diagonal(px, pu))


def uplift_at_k(
    y: object, score: object, t: object, k: float = 0.3, strategy: str = "overall"
) -> float:
    """Treated minus control response rate among the top ``k`` (share in (0, 1]) by score.

    ``strategy="overall"``: the first ``int(n * k)`` rows of the whole ranking (both groups must
    occur among them); ``"by_group"``: the first ``int(n_t * k)`` treated and ``int(n_c * k)``
    controls.
    """
    ya, sa, ta = _arrays(y, score, t)
    if not 0 < k <= 1:
        raise ValueError(f"k must be a share in (0, 1], got {k}")
    order = ranking(sa)
    ys, ts = ya[order], ta[order]
    if strategy == "overall":
        top = int(len(ys) * k)
        yt, tt = ys[:top], ts[:top]
        if (tt == 1).sum() == 0 or (tt == 0).sum() == 0:
            raise ValueError(f"the top {k:.0%} holds only one group: uplift@k is undefined")
        return float(yt[tt == 1].mean() - yt[tt == 0].mean())
    if strategy == "by_group":
        treated, control = ys[ts == 1], ys[ts == 0]
        nt, nc = int(len(treated) * k), int(len(control) * k)
        if nt == 0 or nc == 0:
            raise ValueError(f"k={k} keeps no treated or no control rows")
        return float(treated[:nt].mean() - control[:nc].mean())
    raise ValueError(f"unknown strategy {strategy!r}; valid: overall, by_group")


def ate(y: object, t: object, level: float = 0.95) -> Estimate:
    """Average treatment effect: treated minus control mean, Wald interval (unpooled variances)."""
    ya, ta = np.asarray(y, dtype=np.float64), np.asarray(t)
    treated, control = ya[ta == 1], ya[ta == 0]
    if len(treated) < 2 or len(control) < 2:
        raise ValueError("the ATE needs at least two treated and two control rows")
    diff = float(treated.mean() - control.mean())
    se = sqrt(treated.var(ddof=1) / len(treated) + control.var(ddof=1) / len(control))
    zq = float(scipy.stats.norm.ppf(0.5 + level / 2.0))
    return Estimate(diff, diff - zq * se, diff + zq * se, level)


def bootstrap(
    metric: Metric,
    y: object,
    score: object,
    t: object,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """``metric(y, score, t)`` on the data with a percentile interval over row resamples.

    Each resample draws the treated and the control rows with replacement separately (their
    counts stay fixed, as in the experiment), so every resample has both groups.
    """
    ya, sa, ta = _arrays(y, score, t)
    value = float(metric(ya, sa, ta))
    rng = np.random.default_rng(seed)
    treated, control = np.flatnonzero(ta == 1), np.flatnonzero(ta == 0)
    stats = np.empty(resamples)
    for i in range(resamples):
        idx = np.sort(
            np.r_[
                rng.choice(treated, len(treated), replace=True),
                rng.choice(control, len(control), replace=True),
            ]
        )
        stats[i] = metric(ya[idx], sa[idx], ta[idx])
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return Estimate(value, float(low), float(high), level)


def bootstrap_uplift_at_k(
    y: object,
    score: object,
    t: object,
    k: float = 0.3,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """``uplift_at_k`` ("overall") with a percentile interval: the same resampling as
    ``bootstrap`` (treated and controls drawn separately), computed in O(n) per resample from
    how many times each row of the full ranking is drawn (ties keep the full set's order)."""
    ya, sa, ta = _arrays(y, score, t)
    value = uplift_at_k(ya, sa, ta, k=k)
    order = ranking(sa)
    ys, ts = ya[order], ta[order].astype(np.float64)
    n = len(ys)
    top = int(n * k)
    pos_t, pos_c = np.flatnonzero(ts == 1), np.flatnonzero(ts == 0)
    rng = np.random.default_rng(seed)
    stats = np.empty(resamples)
    for i in range(resamples):
        counts = np.bincount(rng.choice(pos_t, len(pos_t)), minlength=n) + np.bincount(
            rng.choice(pos_c, len(pos_c)), minlength=n
        )
        cum = np.cumsum(counts)
        j = int(np.searchsorted(cum, top))  # the row where the top-k cut falls
        w = counts[: j + 1].astype(np.float64)
        w[j] -= cum[j] - top
        wt = w * ts[: j + 1]
        wc = w - wt
        nt, nc = wt.sum(), wc.sum()
        if nt == 0 or nc == 0:
            stats[i] = np.nan
            continue
        stats[i] = (wt @ ys[: j + 1]) / nt - (wc @ ys[: j + 1]) / nc
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.nanpercentile(stats, [tail, 100.0 - tail])
    return Estimate(value, float(low), float(high), level)


__all__ = [
    "Estimate",
    "ate",
    "bootstrap",
    "bootstrap_uplift_at_k",
    "perfect_qini_score",
    "perfect_uplift_score",
    "qini_auc",
    "qini_curve",
    "ranking",
    "uplift_at_k",
    "uplift_auc",
    "uplift_curve",
]
