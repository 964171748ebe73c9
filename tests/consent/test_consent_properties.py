"""Property test: whatever the consent per purpose and channel (recorded on either user id of
a merged person, or left to a default granted or denied), no campaign message, personalised
recommendation or segment export ever reaches a person whose consent forbids it; and those
whose consent allows it are not left out."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_shop import SEGMENT, USERS, campaign, make_shop

from portrait.campaigns.channels import OutgoingMessage
from portrait.consent.policy import purpose_of_use
from portrait.consent.settings import PURPOSES, ConsentSettings
from portrait.workspace import Workspace

PERSON = {u: ("u8" if u == "u9" else u) for u in USERS}  # u9 was merged into u8
LAUNCH = datetime(2026, 3, 2, 9, tzinfo=UTC)
STATED = [None, "marketing", "analytics", "analytics: churn study", "personalisation",
          "crm upload", "Analytics quarterly review"]  # fmt: skip
CAMPAIGNS = itertools.count()  # each example launches a campaign of its own


class Recorder:
    """An e-mail channel that records what it is given."""

    name = "email"
    idempotent = False

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str:
        self.sent.append(message)
        return message.key_hash


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = make_shop(tmp_path_factory.mktemp("consent-props") / "ws")
    with Workspace.open(root) as ws:
        yield ws


answer = st.sampled_from(["granted", "denied"])
defaults = st.fixed_dictionaries(
    {"default": answer}, optional={p: answer for p in PURPOSES}
)  # fmt: skip
record = st.tuples(
    st.sampled_from(USERS), st.sampled_from([*PURPOSES, "email"]), st.booleans()
)  # fmt: skip


class Oracle:
    """What the consents recorded so far allow, worked out apart from the code under test."""

    def __init__(self, consent: ConsentSettings, email_default: bool) -> None:
        self.consent, self.email_default = consent, email_default
        self.recorded: dict[tuple[str, str], bool] = {}

    def allows(self, person: str, purpose: str) -> bool:
        said = [g for (u, p), g in self.recorded.items() if p == purpose and PERSON[u] == person]
        return all(said) if said else self.consent.granted_by_default(purpose)

    def email(self, user: str) -> bool:
        return self.recorded.get((user, "email"), self.email_default)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    consent=defaults,
    email_default=st.booleans(),
    before=st.lists(record, max_size=12),
    after=st.lists(record, max_size=6),
    stated=st.sampled_from(STATED),
)
def test_nothing_reaches_a_person_whose_consent_forbids_it(
    shop: Workspace, tmp_path_factory: pytest.TempPathFactory, consent: dict[str, str],
    email_default: bool, before: list, after: list, stated: str | None,
) -> None:  # fmt: skip
    ws = shop
    ws.warehouse.execute("DELETE FROM purpose_consents")
    ws.warehouse.execute("DELETE FROM consents")
    ws.settings.consent = ConsentSettings.model_validate(consent)
    ws.settings.campaigns.consent_default["email"] = email_default
    oracle = Oracle(ws.settings.consent, email_default)
    for user, what, granted in before:
        ws.set_consent(user, what, granted, source="test")
        oracle.recorded[(user, what)] = granted
    persons = sorted(set(PERSON.values()))

    # recommendations: personalised exactly for those who consent to personalisation
    for user in USERS:
        r = ws.recs.recommend(user, k=3)
        assert r.personalised == oracle.allows(PERSON[user], "personalisation"), user
        if not r.personalised:
            assert {i.reason_code for i in r.items} <= {"popular"}

    # exports: exactly the members who consent to the purpose the export serves
    out = tmp_path_factory.mktemp("export") / "members.csv"
    export = ws.export_segment(SEGMENT, out, purpose=stated)
    exported = {row["user_id"] for row in csv.DictReader(out.open())}
    use = purpose_of_use(stated)
    assert export.consent_purpose == use
    assert exported == {p for p in persons if oracle.allows(p, use)}
    assert export.without_consent == len(persons) - len(exported)

    # campaigns: the audience leaves out who refuses marketing; a withdrawal after the launch
    # suppresses the send; nothing goes out without marketing and e-mail consent
    recorder = Recorder()
    ws.campaigns.channels["email"] = recorder
    name = f"c{next(CAMPAIGNS)}"
    ws.campaigns.create(campaign(name))
    launched = ws.campaigns.launch(name, now=LAUNCH)
    assert launched.no_marketing_consent == sum(not oracle.allows(p, "marketing") for p in persons)
    for user, what, granted in after:
        ws.set_consent(user, what, granted, source="test")
        oracle.recorded[(user, what)] = granted
    ws.campaigns.dispatch(now=LAUNCH + timedelta(days=2, hours=3))
    for m in recorder.sent:
        person = PERSON[m.user_id]
        assert oracle.allows(person, "marketing"), f"{person} refused marketing: {m.send_key}"
        assert oracle.email(m.user_id), f"{m.user_id} refused e-mail: {m.send_key}"
    reached = {PERSON[m.user_id] for m in recorder.sent}
    ledger = {s.person_id: s for s in ws.campaigns.sends(name)}
    for p, send in ledger.items():
        if p not in reached:
            assert send.status == "suppressed" and send.reason, (p, send)
        if send.reason == "no_marketing_consent":
            assert not oracle.allows(p, "marketing")
    ws.campaigns.channels.pop("email")
