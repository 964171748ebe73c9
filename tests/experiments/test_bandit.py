"""Thompson sampling: it finds the best offer, beats an equal split, and is reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from portrait.experiments.bandit import ThompsonSampler, simulate_bandit


def test_converges_to_the_best_arm() -> None:
    r = simulate_bandit([0.04, 0.05, 0.06], batches=60, batch_size=1000, seed=1)
    assert r.best_arm == "C"
    assert r.shares[-1]["C"] > 0.9
    assert r.prob_best["C"] > 0.95
    assert r.shares[0]["C"] < 0.6  # the first batch is spread over arms it knows nothing about


def test_regret_far_below_equal_split() -> None:
    r = simulate_bandit([0.02, 0.10], batches=30, batch_size=500, seed=3)
    assert r.equal_split_regret == pytest.approx(15_000 * 0.04)
    assert r.regret < 0.1 * r.equal_split_regret
    assert r.gain_vs_equal_split == pytest.approx(r.equal_split_regret - r.regret)
    assert r.cumulative_regret[-1] == pytest.approx(r.regret)
    assert all(a <= b for a, b in zip(r.cumulative_regret, r.cumulative_regret[1:], strict=False))
    assert sum(r.sends.values()) == r.total_sends == 15_000


def test_seeded_runs_are_reproducible() -> None:
    a = simulate_bandit(
        {"coupon": 0.05, "free_shipping": 0.055}, batches=10, batch_size=300, seed=9
    )
    b = simulate_bandit(
        {"coupon": 0.05, "free_shipping": 0.055}, batches=10, batch_size=300, seed=9
    )
    c = simulate_bandit(
        {"coupon": 0.05, "free_shipping": 0.055}, batches=10, batch_size=300, seed=10
    )
    assert a == b
    assert a.sends != c.sends
    assert a.arms == ["coupon", "free_shipping"]


def test_allocate_update_and_stored_state() -> None:
    s = ThompsonSampler(["A", "B"])
    first = s.allocate(1000, np.random.default_rng(0))
    assert sum(first.values()) == 1000 and min(first.values()) > 300  # flat priors: ~even
    s.update("A", 1000, 10)
    s.update("B", 1000, 100)
    rows = s.to_rows("spring")
    assert rows[1] == {"campaign": "spring", "variant": "B", "sends": 1000, "successes": 100}
    resumed = ThompsonSampler.from_rows(["A", "B"], rows)
    assert resumed.state() == s.state()
    nxt = resumed.allocate(1000, np.random.default_rng(0))
    assert nxt["B"] > 990
    assert resumed.posterior_means()["B"] == pytest.approx(101 / 1002)


def test_allocate_in_chunks_adds_up() -> None:
    s = ThompsonSampler(["A", "B", "C"], state={"A": {"sends": 50, "successes": 5}})
    got = s.allocate(450_000, np.random.default_rng(2))
    assert sum(got.values()) == 450_000


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        ThompsonSampler(["only"])
    with pytest.raises(ValueError):
        ThompsonSampler(["A", "A"])
    s = ThompsonSampler(["A", "B"])
    with pytest.raises(KeyError):
        s.update("C", 1, 0)
    with pytest.raises(ValueError):
        s.update("A", 1, 2)
    with pytest.raises(ValueError):
        simulate_bandit([0.1, 1.5])
    with pytest.raises(ValueError):
        simulate_bandit([0.1, 0.2], batches=0)
