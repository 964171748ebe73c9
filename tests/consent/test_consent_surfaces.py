"""Consent per purpose through each surface: the [consent] setting, Python (audited), REST,
the CLI, the CSV import, and what each use of the data does without it (campaign audience and
dispatch, recommendations, segment exports)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tiny_shop import SEGMENT, campaign, make_shop
from typer.testing import CliRunner

from portrait.api.app import create_app
from portrait.cli import app
from portrait.config import ConfigError, load_settings, write_settings
from portrait.consent import policy
from portrait.consent.policy import purpose_of_use
from portrait.consent.settings import ConsentSettings
from portrait.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LAUNCH = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shop(tmp_path_factory.mktemp("consent-shop") / "ws")


@pytest.fixture
def shop(built: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A private copy of the built shop, open."""
    import shutil

    root = Path(shutil.copytree(built, tmp_path / "ws"))
    with Workspace.open(root) as ws:
        yield ws


# --- the setting ---------------------------------------------------------------------------------
def test_the_default_per_purpose_comes_from_portrait_toml(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.close()
    toml = (tmp_path / "ws" / "portrait.toml").read_text()
    assert '[consent]\ndefault = "granted"' in toml  # a new workspace shows the setting
    settings = load_settings(tmp_path / "ws")
    settings.consent = ConsentSettings(default="denied", analytics="granted")
    write_settings(tmp_path / "ws", settings)
    read = load_settings(tmp_path / "ws").consent
    assert [read.granted_by_default(p) for p in ("marketing", "personalisation", "analytics")] == [
        False, False, True,
    ]  # fmt: skip
    path = tmp_path / "ws" / "portrait.toml"
    for bad, said in [
        ('marketting = "denied"', "unknown purpose(s) ['marketting']"),
        ('default = "no"', 'default = \'no\': use "granted" or "denied"'),
        ("analytics = false", "analytics = False"),
    ]:
        path.write_text(toml.replace('default = "granted"', bad))
        with pytest.raises(ConfigError, match="consent") as e:
            load_settings(tmp_path / "ws")
        assert said in str(e.value) and "portrait.toml" in str(e.value)


def test_the_stated_purpose_decides_what_an_export_serves() -> None:
    assert purpose_of_use(None) == purpose_of_use("") == "marketing"
    assert purpose_of_use("CRM upload") == purpose_of_use("analyticsish") == "marketing"
    assert purpose_of_use("analytics") == purpose_of_use("Analytics: churn study") == "analytics"
    assert purpose_of_use("personalisation feed") == "personalisation"


# --- Python --------------------------------------------------------------------------------------
def test_a_purpose_is_recorded_shown_and_audited(shop: Workspace) -> None:
    before = shop.campaigns.consent("u1")
    assert {p: c.source for p, c in before.purposes.items()} == dict.fromkeys(
        ("marketing", "personalisation", "analytics"), "default"
    )
    state = shop.set_consent("u1", "marketing", False, source="preference centre")
    assert state.purposes["marketing"].granted is False
    assert state.purposes["marketing"].source == "preference centre"
    assert state.channels["email"].granted is True  # a purpose is not a channel
    entry = shop.audit.entries()[0]
    assert entry.action == "consent.change"
    assert entry.params == {"purpose": "marketing", "granted": False,
                            "source": "preference centre"}  # fmt: skip
    shop.set_consent("u1", "email", False)
    assert shop.audit.entries()[0].params["channel"] == "email"
    with pytest.raises(ValueError, match=r"unknown channel or purpose 'marketting'.*analytics"):
        shop.set_consent("u1", "marketting", False)
    with pytest.raises(LookupError, match="no user 'nobody'"):
        shop.set_consent("nobody", "analytics", False)


def test_a_no_on_either_user_id_of_a_merged_person_holds_for_the_person(shop: Workspace) -> None:
    shop.set_consent("u9", "analytics", False)  # u9 was merged into u8
    shown = shop.campaigns.consent("u8").purposes["analytics"]
    assert (shown.granted, shown.source) == (False, "merged")
    shop.set_consent("u8", "analytics", True)
    assert shop.campaigns.consent("u8").purposes["analytics"].granted is False  # the no wins
    assert shop.campaigns.consents.allowed("analytics", ["u8", "u1"]) == {"u1"}


def test_an_opt_in_regime_refuses_whoever_has_not_said_yes(shop: Workspace) -> None:
    shop.settings.consent = ConsentSettings(default="denied")
    assert not any(c.granted for c in shop.campaigns.consent("u2").purposes.values())
    shop.set_consent("u2", "personalisation", True)
    assert shop.campaigns.consents.allowed("personalisation", ["u1", "u2"]) == {"u2"}


def test_the_csv_import_takes_a_purpose_column_and_old_files_still_work(
    shop: Workspace, tmp_path: Path
) -> None:
    old = tmp_path / "old.csv"
    old.write_text("user_id,channel,granted\nu1,email,false\nu2,sms,yes\n")
    assert shop.import_consents(old).imported == 2
    assert shop.campaigns.consent("u1").channels["email"].granted is False
    new = tmp_path / "new.csv"
    new.write_text(
        "user_id,channel,purpose,granted,source\n"
        "u3,,marketing,no,shop form\n"  # a purpose
        "u3,push,,no,\n"  # a channel
        "u4,analytics,,false,\n"  # a purpose written under channel
        "u5,email,marketing,no,\n"  # both: which one? rejected
        "u6,,spam,no,\n"  # unknown purpose: rejected
    )
    r = shop.import_consents(new)
    assert r.imported == 3 and [b.line for b in r.rejected] == [5, 6]
    u3 = shop.campaigns.consent("u3")
    assert (u3.purposes["marketing"].granted, u3.purposes["marketing"].source) == (
        False, "shop form",
    )  # fmt: skip
    assert u3.channels["push"].granted is False
    assert shop.campaigns.consent("u4").purposes["analytics"].granted is False
    assert shop.campaigns.consent("u5").purposes["marketing"].granted is True


# --- what each use does without consent ----------------------------------------------------------
def test_recommendations_without_personalisation_consent_are_the_best_sellers(
    shop: Workspace,
) -> None:
    mine = shop.recs.recommend("u1", k=3)
    assert mine.personalised and any(i.reason_code != "popular" for i in mine.items)
    shop.set_consent("u1", "personalisation", False)
    plain = shop.recs.recommend("u1", k=3)
    assert not plain.personalised and plain.items
    assert {i.reason_code for i in plain.items} == {"popular"}
    # the same list as another person's without consent: nothing of u1's own data is used
    shop.set_consent("u2", "personalisation", False)
    assert shop.recs.recommend("u2", k=3).items == plain.items


@pytest.mark.parametrize("limit", [100_000, -1])  # answers read once, or per person
def test_a_person_answer_is_current_after_each_change(
    shop: Workspace, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    monkeypatch.setattr(policy, "CACHE_LIMIT", limit)
    consents = shop.campaigns.consents
    assert consents.allows("personalisation", "u3")
    shop.set_consent("u3", "personalisation", False)
    assert not consents.allows("personalisation", "u3")
    shop.set_consent("u3", "personalisation", True)
    assert consents.allows("personalisation", "u3")
    shop.set_consent("u9", "personalisation", False)  # u9 is one person with u8
    assert not consents.allows("personalisation", "u8")


def test_exports_and_member_listings_leave_out_who_refuses_their_purpose(
    shop: Workspace, tmp_path: Path
) -> None:
    everyone = shop.segment_members(SEGMENT).num_rows
    shop.set_consent("u1", "marketing", False)
    shop.set_consent("u2", "analytics", False)
    listed = shop.segment_members(SEGMENT).column("user_id").to_pylist()
    assert "u1" not in listed and "u2" in listed and len(listed) == everyone - 1
    export = shop.export_segment(SEGMENT, tmp_path / "study.csv", purpose="analytics: churn")
    assert (export.consent_purpose, export.without_consent, export.rows) == (
        "analytics", 1, everyone - 1,
    )  # fmt: skip
    assert "u2" not in (tmp_path / "study.csv").read_text()


def test_a_campaign_reaches_only_who_consents_to_marketing(shop: Workspace) -> None:
    sent = []

    class Recorder:
        name, idempotent = "email", False

        def send(self, message):
            sent.append(message.user_id)
            return message.key_hash

    shop.campaigns.channels["email"] = Recorder()
    shop.set_consent("u1", "marketing", False)
    shop.campaigns.create(campaign("spring"))
    dry = shop.campaigns.launch("spring", dry_run=True, now=LAUNCH)
    launched = shop.campaigns.launch("spring", now=LAUNCH)
    assert dry.no_marketing_consent == launched.no_marketing_consent == 1
    assert "u1" not in {s.person_id for s in shop.campaigns.sends("spring")}
    shop.set_consent("u2", "marketing", False)  # withdrawn after the launch
    done = shop.campaigns.dispatch(now=LAUNCH + timedelta(days=2))
    assert done.reasons == {"no_marketing_consent": 1}
    assert "u2" not in sent and "u1" not in sent and len(sent) == done.sent > 0
    u2 = next(s for s in shop.campaigns.sends("spring") if s.person_id == "u2")
    assert (u2.status, u2.reason) == ("suppressed", "no_marketing_consent")


# --- REST and CLI --------------------------------------------------------------------------------
def test_rest_records_a_purpose_and_only_consent_writers_may(shop: Workspace) -> None:
    admin = {"Authorization": f"Bearer {shop.create_key('admin', 'test').token}"}
    marketer = {"Authorization": f"Bearer {shop.create_key('marketer', 'test').token}"}
    with TestClient(create_app(shop)) as client:
        r = client.put("/v1/users/u1/purposes/personalisation", headers=admin,
                       json={"granted": False, "source": "app settings"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["purposes"]["personalisation"] == {
            "granted": False, "source": "app settings", "updated_at": r.json()["purposes"][
                "personalisation"]["updated_at"],
        }  # fmt: skip
        got = client.get("/v1/users/u1/consent", headers=marketer).json()
        assert got["purposes"]["personalisation"]["granted"] is False
        assert set(got["channels"]) == {"email", "sms", "push", "in_app"}
        bad = client.put("/v1/users/u1/purposes/email", headers=admin, json={"granted": False})
        assert bad.status_code == 422 and "unknown purpose 'email'" in bad.text
        denied = client.put("/v1/users/u1/purposes/marketing", headers=marketer,
                            json={"granted": False})  # fmt: skip
        assert denied.status_code == 403
        recs = client.get("/v1/users/u1/recommendations", headers=admin)
        assert recs.status_code == 200 and recs.json()["personalised"] is False
        imported = client.post(
            "/v1/consents/import", headers={**admin, "Content-Type": "text/csv"},
            content="user_id,purpose,granted\nu3,analytics,no\n",
        )  # fmt: skip
        assert imported.json()["imported"] == 1
    assert shop.campaigns.consent("u3").purposes["analytics"].granted is False


def test_the_cli_records_and_shows_purposes(built: Path, tmp_path: Path) -> None:
    import shutil

    root = Path(shutil.copytree(built, tmp_path / "ws"))
    runner = CliRunner()
    r = runner.invoke(app, ["campaign", "consent", "u1", "analytics", "--revoke", "-w", str(root)])
    assert r.exit_code == 0, r.output
    assert "analytics: refused (cli)" in r.stdout and "marketing: granted (default)" in r.stdout
    r = runner.invoke(app, ["campaign", "consent", "u1", "email", "--json", "-w", str(root)])
    assert json.loads(r.stdout)["purposes"]["analytics"]["granted"] is False
    r = runner.invoke(app, ["campaign", "consent", "u1", "adverts", "--grant", "-w", str(root)])
    assert r.exit_code != 0 and "unknown channel or purpose 'adverts'" in r.output
    assert "Traceback" not in r.output
