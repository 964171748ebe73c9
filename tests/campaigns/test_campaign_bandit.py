"""Bandit campaigns: variants are allocated batch by batch by a Thompson sampler fed with the
conversions of earlier sends, so traffic moves toward the variant that converts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from portrait.campaigns.channels import OutgoingMessage
from portrait.config import Settings
from portrait.workspace import Workspace

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


class Recorder:
    name, idempotent = "in_app", True

    def send(self, message: OutgoingMessage) -> str:
        return message.key_hash


def test_traffic_moves_toward_the_converting_variant(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, Settings(), in_memory=True)
    try:
        users = [f"u{i:03d}" for i in range(400)]
        ws.ingest_records([{"user_id": u} for u in users], kind="users")
        ws.campaigns.channels["in_app"] = Recorder()
        ws.campaigns.create({
            "name": "bandit", "trigger": {"type": "win_back"}, "channel": "in_app",
            "control_share": 0.1, "bandit": True, "goal": {"attribution_days": 7},
            "schedule": {"quiet_hours": {"start": 0, "end": 0}},
            "variants": [{"name": "good", "message": {"body": {"en": "a"}}},
                         {"name": "poor", "message": {"body": {"en": "b"}}}],
        })  # fmt: skip
        ws.campaigns.launch("bandit", now=T0)
        first = ws.campaigns.enroll("bandit", [(u, u) for u in users[:100]], "test", T0)
        ws.campaigns.dispatch(now=T0 + timedelta(days=1))
        sent = {s.person_id: s for s in ws.campaigns.sends("bandit") if s.status == "sent"}
        # half of those who got "good" order the next day, nobody who got "poor"
        buyers = [p for p, s in sent.items() if s.variant == "good"][::2]
        ws.ingest_records(
            [{"event_id": f"o{i}", "user_id": p, "type": "order", "order_id": f"o{i}",
              "product_id": "p1", "quantity": 1, "price": 99.0,
              "ts": (T0 + timedelta(days=2)).isoformat()} for i, p in enumerate(buyers)],
        )  # fmt: skip
        # two of them send it all back the same week (no success), one half of it (a success)
        ws.ingest_records(
            [{"event_id": f"r{i}", "user_id": buyers[i], "type": "refund", "order_id": f"o{i}",
              "product_id": "p1", "quantity": 1, "price": price,
              "ts": (T0 + timedelta(days=2, hours=5)).isoformat()}
             for i, price in enumerate([99.0, 99.0, 49.5])],
        )  # fmt: skip
        later = T0 + timedelta(days=3)
        second = ws.campaigns.enroll("bandit", [(u, u) for u in users[100:]], "test", later)
        state = {
            v: (c.sends, c.successes)
            for v, c in ws.campaigns.bandit_state("bandit").variants.items()
        }
        stored = ws.warehouse.fetchall(
            "SELECT variant, sends, successes FROM campaign_bandit ORDER BY 1"
        )
        bandit = ws.campaigns.report("bandit", as_of=later).bandit
    finally:
        ws.close()
    assert abs(first.arms["good"] - first.arms["poor"]) < 0.4 * first.entered
    good_sends = Counter(s.variant for s in sent.values())["good"]
    assert state["good"] == (good_sends, len(buyers) - 2)
    assert state["poor"][1] == 0 and [tuple(r) for r in stored] == [
        ("good", *state["good"]),
        ("poor", *state["poor"]),
    ]
    good, poor = second.arms.get("good", 0), second.arms.get("poor", 0)
    assert good > 0.9 * (good + poor) and good + poor > 200
    # the report: the best offer so far, its chance of being best, regret from observed rates
    g, p = state["good"], state["poor"]
    assert bandit.best_arm == "good" and bandit.chance_best["good"] > 0.99
    assert bandit.variants["good"].model_dump() == {"sends": g[0], "successes": g[1]}
    assert bandit.regret_conversions == round(p[0] * g[1] / g[0], 3)
    assert bandit.equal_split_regret_conversions == round((g[0] + p[0]) / 2 * g[1] / g[0], 3)


def test_regret_estimate_known_answer() -> None:
    from portrait.experiments.bandit import regret_estimate

    r = regret_estimate(
        {"a": {"sends": 100, "successes": 10}, "b": {"sends": 300, "successes": 60}}
    )
    # best observed rate 0.2 (b); a's 100 sends lost 100 x (0.2 - 0.1) = 10 conversions
    assert r.best_arm == "b" and r.regret_conversions == 10.0
    assert r.equal_split_regret_conversions == 20.0 and r.share_to_best == 0.75
