"""`portrait campaign ...` end to end on a small built shop, with the example campaign."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from campaign_shop import copy_shop
from typer.testing import CliRunner

from portrait.cli import app
from portrait.workspace import Workspace

runner = CliRunner()
EXAMPLE = Path(__file__).parents[2] / "examples" / "campaigns" / "winback.yaml"
INAPP = """
name: news
segment: orders_total > 0
channel: in_app
control_share: 0.2
schedule: {quiet_hours: {start: 0, end: 0}}
variants:
  - name: a
    offer: {type: free_shipping, min_spend: 99}
    message:
      subject: {en: "News for {{ name }}", zh: "{{ name }}，新品到了"}
      body: {en: "{{ offer.text }} this week", zh: "本周{{ offer.text }}"}
"""


def cli(root: Path, *args: str, code: int = 0) -> str:
    r = runner.invoke(app, [*args, "-w", str(root)])
    assert r.exit_code == code, r.output
    return r.stdout if code == 0 else r.output


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_shop(tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("cli") / "ws")


def test_create_preview_launch_the_example(shop: Path) -> None:
    assert "Saved campaign winback (draft)" in cli(shop, "campaign", "create", str(EXAMPLE))
    assert "exists (draft)" in cli(shop, "campaign", "create", str(EXAMPLE), code=2)
    cli(shop, "campaign", "create", str(EXAMPLE), "--replace")
    preview = cli(shop, "campaign", "launch", "winback", "--dry-run")
    assert "winback dry run (email)" in preview and "cost estimate" in preview
    assert "coupon / zh" in preview and "满199减20" in preview and "care / en" in preview
    dry = json.loads(cli(shop, "campaign", "launch", "winback", "--dry-run", "--json"))
    assert dry["persons"] == sum(dry["arms"].values()) > 0 and {"coupon", "care"} <= set(
        dry["arms"]
    )
    assert "winback" in cli(shop, "campaign", "list")
    launched = json.loads(cli(shop, "campaign", "launch", "winback", "--json"))
    assert launched["arms"] == dry["arms"] and launched["status"] == "launched"
    assert "entered" in cli(shop, "campaign", "launch", "winback")  # again: nobody new
    shown = json.loads(cli(shop, "campaign", "show", "winback", "--json"))
    assert shown["arms"] == dry["arms"] and shown["sends"] == {"queued": launched["queued"]}
    assert "only drafts can be deleted" in cli(shop, "campaign", "delete", "winback", code=2)
    assert "no campaign 'nope'" in cli(shop, "campaign", "show", "nope", code=2)


def test_bad_definitions_are_one_clear_line(shop: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(INAPP.replace("{{ offer.text }} this", "{{ offer.txt }} this"), "utf-8")
    assert "variants.a.message.body.en" in cli(shop, "campaign", "create", str(bad), code=2)
    bad.write_text(INAPP.replace("orders_total > 0", "lifecycle_stage = 'x'"), "utf-8")
    assert "neither a saved segment" in cli(shop, "campaign", "create", str(bad), code=2)


def test_dispatch_consent_and_inbox(shop: Path, tmp_path: Path) -> None:
    path = tmp_path / "news.yaml"
    path.write_text(INAPP, "utf-8")
    cli(shop, "campaign", "create", str(path))
    cli(shop, "campaign", "launch", "news")
    with Workspace.open(shop) as ws:  # time passes: every send comes due
        ws.warehouse.execute(
            "UPDATE campaign_sends SET scheduled_at = now() - INTERVAL 1 HOUR "
            "WHERE campaign = 'news'"
        )
        users = [s.user_id for s in ws.campaigns.sends("news")]
    assert "in_app: refused (cli)" in cli(
        shop, "campaign", "consent", users[0], "in_app", "--revoke"
    )
    csv = tmp_path / "consents.csv"
    csv.write_text(
        f"user_id,channel,granted\n{users[1]},sms,no\n{users[1]},fax,yes\nghost-7,sms,no\n",
        "utf-8",
    )
    text = cli(shop, "campaign", "consent-import", str(csv))
    assert "imported 2 consents" in text and "line 3 rejected" in text
    assert "1 user id(s) have no user record yet" in text and "ghost-7" in text
    excel = tmp_path / "excel.csv"  # a byte-order mark; a bad line with an extra field
    excel.write_text(
        f"\ufeffuser_id,channel,granted\n{users[2]},email,yes\n{users[2]},fax,no,extra\n", "utf-8"
    )
    r = json.loads(cli(shop, "campaign", "consent-import", str(excel), "--json"))
    assert r["imported"] == 1 and r["rejected"] == [
        {"line": 3, "record": {"user_id": users[2], "channel": "fax", "granted": "no",
                               "_extra": ["extra"]}, "reason": "invalid"}
    ]  # fmt: skip
    r = json.loads(cli(shop, "campaign", "dispatch", "--json"))
    assert r["sent"] == len(users) - 1 and r["reasons"] == {"no_consent": 1}
    text = cli(shop, "campaign", "inbox", users[1])
    assert "News for" in text or "新品到了" in text
    assert "(unread)" in text
    cli(shop, "campaign", "inbox", users[1], "--mark-read")
    assert "(unread)" not in cli(shop, "campaign", "inbox", users[1])
    assert "no in-app messages" in cli(shop, "campaign", "inbox", users[0])
    assert "sent 0" in cli(shop, "campaign", "dispatch")


def test_ingest_runs_launched_cart_journeys(shop: Path, tmp_path: Path) -> None:
    journey = tmp_path / "cart.yaml"
    journey.write_text(
        "name: cart-cli\ntrigger: {type: cart_abandonment, hours: 2}\nchannel: in_app\n"
        "control_share: 0\nvariants:\n  - name: a\n    message: {body: {en: Your cart}}\n",
        "utf-8",
    )
    cli(shop, "campaign", "create", str(journey))
    cli(shop, "campaign", "launch", "cart-cli")
    with Workspace.open(shop) as ws:
        (user,) = ws.warehouse.fetchone("SELECT min(user_id) FROM users")
    ago = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    events = tmp_path / "carts.csv"
    events.write_text(
        f"event_id,user_id,ts,type,product_id,quantity\ncli-cart-1,{user},{ago},add_to_cart,p1,1\n",
        "utf-8",
    )
    cli(shop, "ingest", str(events), "--kind", "events")
    shown = json.loads(cli(shop, "campaign", "show", "cart-cli", "--json"))
    assert shown["sends"] == {"queued": 1} and shown["arms"] == {"a": 1}
