"""The closed loop through the campaign machinery: launch, simulated responses, report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from portrait.datasets.simulator.campaign_events import offer_of, run_campaign_loop
from portrait.workspace import Workspace


def test_simulated_responses_flow_into_the_campaign_report(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        files, _ = ws.simulate(users=400, days=30, seed=3)
        ws.build()
        definition = {
            "name": "loop-smoke",
            "segment": "is_registered",
            "channel": "in_app",
            "control_share": 0.5,
            "goal": {"metric": "conversion", "attribution_days": 14},
            "variants": [
                {
                    "name": "pct30",
                    "offer": {"type": "percent", "percent": 0.3},
                    "message": {"subject": {"en": "30% off"}, "body": {"en": "30% off for you"}},
                }
            ],
        }
        shop = files.users[0].parent
        result = run_campaign_loop(
            ws, shop, definition, datetime(2025, 1, 31, tzinfo=UTC), seed=1, shop_seed=3
        )
        arms = result["truth"]["arms"]
        assert set(arms) == {"control", "pct30"}
        assert sum(a["assigned"] for a in arms.values()) > 300
        assert arms["pct30"]["true_uplift_vs_no_offer"] > 0.01
        row = result["variants"]["pct30"]
        assert row["measured_difference"] is not None and row["ci"][0] < row["ci"][1]
        # what the report counts is exactly what was drawn
        drawn = {a: v["drawn_conversions"] for a, v in arms.items()}
        assert row["conversion_rate"] == drawn["pct30"] / arms["pct30"]["assigned"]
        assert row["control_conversion_rate"] == drawn["control"] / arms["control"]["assigned"]
        events = pq.read_table(result["truth"]["path"]).to_pandas()
        assert result["events"] == len(events)
        assert set(events["type"]) <= {
            "message_opened", "message_clicked", "order", "coupon_used", "payment",
        }  # fmt: skip
        used = events[events["type"] == "coupon_used"]
        assert (used["campaign_id"] == "loop-smoke").all() and (used["discount"] > 0).all()
        control_users = {
            r[0]
            for r in ws.warehouse.fetchall(
                "SELECT user_id FROM campaign_assignments WHERE arm = 'control'"
            )
        }
        assert not set(used["user_id"]) & control_users  # no coupon without the offer


def test_offer_mapping() -> None:
    class Pct:
        type, percent, min_spend, max_discount = "percent", 0.15, 99.0, 50.0

    class Fixed:
        type, amount, min_spend = "fixed", 20.0, 100.0

    class Perk:
        type = "member_perk"

    assert offer_of(Pct(), "sms").max_discount == 50.0
    fixed = offer_of(Fixed(), "email")
    assert (fixed.kind, fixed.threshold, fixed.amount) == ("threshold", 100.0, 20.0)
    assert offer_of(Perk(), "webhook").percent == 0.0
