"""Thompson sampling over Bernoulli arms: shift a campaign's sends toward the better offer.

Each arm (a campaign variant) has a Beta(prior_alpha + successes, prior_beta + failures)
posterior. ``allocate(n, rng)`` gives the next batch of ``n`` sends: each send goes to the arm
whose posterior draw is the highest, so an arm gets sends in proportion to its chance of being
the best. The state is plain data (``state()``, ``to_rows``/``from_rows``: campaign, variant,
sends, successes) so the campaign code can keep it in the ``campaign_bandit`` table.

``simulate_bandit`` plays the sampler against known conversion rates and reports its regret
against always sending the best offer, next to the regret of an equal split.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from portrait.experiments.results import BanditReport, RegretEstimate

_CHUNK = 200_000  # sends drawn at once in allocate (bounds memory: chunk x arms floats)


class ThompsonSampler:
    """Beta-Bernoulli Thompson sampling; ``state`` maps arm -> {"sends", "successes"}."""

    def __init__(
        self,
        arms: Sequence[str],
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        state: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        arms = list(arms)
        if len(arms) < 2:
            raise ValueError("a bandit needs at least two arms to choose between")
        if len(set(arms)) != len(arms):
            raise ValueError(f"arm names must be unique, got {arms}")
        if prior_alpha <= 0 or prior_beta <= 0:
            raise ValueError("prior_alpha and prior_beta must be > 0")
        self.arms = arms
        self.prior_alpha = prior_alpha
        self.prior_beta = prior_beta
        self._sends = dict.fromkeys(arms, 0)
        self._successes = dict.fromkeys(arms, 0)
        for arm, counts in (state or {}).items():
            self.update(arm, int(counts.get("sends", 0)), int(counts.get("successes", 0)))

    # --- state ----------------------------------------------------------------------------

    def update(self, arm: str, sends: int, successes: int) -> None:
        """Record ``sends`` more sends of ``arm`` of which ``successes`` converted."""
        if arm not in self._sends:
            raise KeyError(f"unknown arm {arm!r}; arms are {self.arms}")
        if sends < 0 or successes < 0 or successes > sends:
            raise ValueError(f"need 0 <= successes <= sends, got {successes}/{sends}")
        self._sends[arm] += sends
        self._successes[arm] += successes

    def state(self) -> dict[str, dict[str, int]]:
        """Plain counts per arm: {arm: {"sends": ..., "successes": ...}}."""
        return {a: {"sends": self._sends[a], "successes": self._successes[a]} for a in self.arms}

    def to_rows(self, campaign: str) -> list[dict[str, Any]]:
        """Rows for the ``campaign_bandit`` table (campaign, variant, sends, successes)."""
        return [
            {"campaign": campaign, "variant": a, **counts} for a, counts in self.state().items()
        ]

    @classmethod
    def from_rows(
        cls,
        arms: Sequence[str],
        rows: Iterable[Mapping[str, Any]],
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
    ) -> ThompsonSampler:
        """A sampler over ``arms`` resumed from stored rows (keys variant, sends, successes);
        arms without a row start from the prior, rows of unknown variants are an error."""
        state = {
            str(r["variant"]): {"sends": int(r["sends"]), "successes": int(r["successes"])}
            for r in rows
        }
        return cls(arms, prior_alpha, prior_beta, state)

    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        s = np.array([self._successes[a] for a in self.arms], dtype=float)
        n = np.array([self._sends[a] for a in self.arms], dtype=float)
        return self.prior_alpha + s, self.prior_beta + n - s

    def posterior_means(self) -> dict[str, float]:
        a, b = self._params()
        return {arm: float(m) for arm, m in zip(self.arms, a / (a + b), strict=True)}

    # --- decisions ------------------------------------------------------------------------

    def allocate(self, n: int, rng: np.random.Generator) -> dict[str, int]:
        """Split the next ``n`` sends: each goes to the arm with the highest posterior draw."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        a, b = self._params()
        counts = np.zeros(len(self.arms), dtype=np.int64)
        left = n
        while left > 0:
            m = min(left, _CHUNK)
            draws = rng.beta(a, b, size=(m, len(self.arms)))
            counts += np.bincount(draws.argmax(axis=1), minlength=len(self.arms))
            left -= m
        return {arm: int(c) for arm, c in zip(self.arms, counts, strict=True)}

    def prob_best(self, rng: np.random.Generator, draws: int = 20_000) -> dict[str, float]:
        """Each arm's posterior probability of being the best (Monte Carlo)."""
        alloc = self.allocate(draws, rng)
        return {arm: c / draws for arm, c in alloc.items()}


def regret_estimate(state: Mapping[str, Mapping[str, int]]) -> RegretEstimate:
    """What the sends so far cost against always sending the best offer, estimated from the
    observed rates (the true rates of a live campaign are not known): expected conversions lost
    = sum over arms of sends x (best rate - arm rate), and the same for an equal split of the
    same sends, the usual A/B test's allocation."""
    rates = {a: (c["successes"] / c["sends"]) if c["sends"] else 0.0 for a, c in state.items()}
    sends = {a: int(c["sends"]) for a, c in state.items()}
    total = sum(sends.values())
    best_arm = max(rates, key=lambda a: (rates[a], sends[a])) if rates else None
    best = rates[best_arm] if best_arm is not None else 0.0
    regret = sum(n * (best - rates[a]) for a, n in sends.items())
    equal = sum(total / max(len(rates), 1) * (best - r) for r in rates.values())
    return RegretEstimate(
        best_arm=best_arm,
        observed_rates={a: round(r, 6) for a, r in rates.items()},
        sends=sends,
        regret_conversions=round(regret, 3),
        equal_split_regret_conversions=round(equal, 3),
        share_to_best=round(sends[best_arm] / total, 4) if total and best_arm else None,
    )


# --- simulation ----------------------------------------------------------------------------


def _arm_names(k: int) -> list[str]:
    return list(string.ascii_uppercase[:k]) if k <= 26 else [f"arm{i + 1}" for i in range(k)]


def simulate_bandit(
    true_rates: Sequence[float] | Mapping[str, float],
    batches: int = 50,
    batch_size: int = 1_000,
    seed: int = 0,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
) -> BanditReport:
    """Run Thompson sampling for ``batches`` batches of ``batch_size`` sends against arms
    converting at ``true_rates`` (a list names them A, B, C, ...); seeded, so reproducible."""
    rates = (
        {str(k): float(v) for k, v in true_rates.items()}
        if isinstance(true_rates, Mapping)
        else dict(zip(_arm_names(len(true_rates)), map(float, true_rates), strict=True))
    )
    if any(not 0 <= r <= 1 for r in rates.values()):
        raise ValueError(f"true rates must be between 0 and 1, got {list(rates.values())}")
    if batches < 1 or batch_size < 1:
        raise ValueError("batches and batch_size must be >= 1")
    rng = np.random.default_rng(seed)
    sampler = ThompsonSampler(list(rates), prior_alpha, prior_beta)
    arms = sampler.arms
    best = max(arms, key=lambda a: rates[a])
    top = rates[best]
    shares: list[dict[str, float]] = []
    cumulative: list[float] = []
    lost = 0.0
    for _ in range(batches):
        alloc = sampler.allocate(batch_size, rng)
        for arm in arms:
            won = int(rng.binomial(alloc[arm], rates[arm])) if alloc[arm] else 0
            sampler.update(arm, alloc[arm], won)
            lost += alloc[arm] * (top - rates[arm])
        shares.append({a: alloc[a] / batch_size for a in arms})
        cumulative.append(lost)
    state = sampler.state()
    total = batches * batch_size
    expected = sum(state[a]["sends"] * rates[a] for a in arms)
    best_fixed = total * top
    equal = total * sum(rates.values()) / len(arms)
    equal_regret = best_fixed - equal
    regret = best_fixed - expected
    return BanditReport(
        arms=arms,
        true_rates=rates,
        best_arm=best,
        batches=batches,
        batch_size=batch_size,
        seed=seed,
        total_sends=total,
        sends={a: state[a]["sends"] for a in arms},
        successes={a: state[a]["successes"] for a in arms},
        conversions=sum(state[a]["successes"] for a in arms),
        expected_conversions=expected,
        best_fixed_conversions=best_fixed,
        equal_split_conversions=equal,
        regret=regret,
        equal_split_regret=equal_regret,
        regret_vs_equal_split=regret / equal_regret if equal_regret > 0 else float("nan"),
        gain_vs_equal_split=expected - equal,
        best_arm_share=state[best]["sends"] / total,
        shares=shares,
        cumulative_regret=cumulative,
        posterior_means=sampler.posterior_means(),
        prob_best=sampler.prob_best(rng),
    )
