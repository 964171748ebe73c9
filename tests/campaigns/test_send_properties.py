"""Property tests: whatever the order of consents, campaigns, enrolments and dispatches, an
opted-out user is never contacted and nobody gets more messages than the cap allows."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portrait.campaigns.channels import OutgoingMessage
from portrait.config import Settings
from portrait.workspace import Workspace

USERS = [f"u{i}" for i in range(6)]
START = datetime(2026, 3, 2, 9, tzinfo=UTC)


class Recorder:
    """A channel that records what it is given."""

    name = "email"
    idempotent = False

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str:
        self.sent.append(message)
        return message.key_hash


campaign = st.tuples(st.just("campaign"), st.lists(st.sampled_from(USERS), min_size=1, unique=True))
ops = st.lists(
    st.one_of(
        st.tuples(st.just("consent"), st.sampled_from(USERS), st.booleans()),
        campaign,
        campaign,  # twice as likely: caps need several campaigns
        st.tuples(st.just("advance"), st.integers(1, 72)),
        st.tuples(st.just("dispatch")),
    ),
    min_size=5,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=ops,
    max_messages=st.integers(1, 3),
    per_days=st.sampled_from([1.0, 3.0, 7.0]),
    default_granted=st.booleans(),
)
def test_no_opted_out_user_is_contacted_and_caps_hold(
    steps, max_messages: int, per_days: float, default_granted: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings_ = Settings()
        settings_.campaigns.consent_default["email"] = default_granted
        ws = Workspace(Path(tmp), settings_, in_memory=True)
        try:
            ws.ingest_records(
                [{"user_id": u, "email": f"{u}@example.com", "language": "en"} for u in USERS],
                kind="users",
            )
            recorder = Recorder()
            ws.campaigns.channels["email"] = recorder
            consent = dict.fromkeys(USERS, default_granted)
            now, n = START, 0
            for op in [*steps, ("advance", 72), ("dispatch",)]:
                if op[0] == "consent":
                    ws.campaigns.set_consent(op[1], "email", op[2], source="test")
                    consent[op[1]] = op[2]
                elif op[0] == "campaign":
                    n += 1
                    name = f"c{n}"
                    ws.campaigns.create({
                        "name": name, "trigger": {"type": "win_back"}, "channel": "email",
                        "control_share": 0.0, "caps": {"max_messages": max_messages,
                                                       "per_days": per_days},
                        "variants": [{"name": "a", "message": {"body": {"en": "hi {{ name }}"}}}],
                    })  # fmt: skip
                    ws.campaigns.launch(name, now=now)
                    ws.campaigns.enroll(name, [(u, u) for u in op[1]], source="test", at=now)
                elif op[0] == "advance":
                    now += timedelta(hours=op[1])
                else:
                    before = len(recorder.sent)
                    ws.campaigns.dispatch(now=now)
                    for m in recorder.sent[before:]:
                        assert consent[m.user_id], f"{m.user_id} opted out but got {m.send_key}"
            rows = ws.warehouse.fetchall(
                "SELECT user_id, sent_at FROM campaign_sends WHERE status = 'sent' ORDER BY 2"
            )
            assert len(rows) == len(recorder.sent)
            assert len({m.send_key for m in recorder.sent}) == len(recorder.sent)
            window = timedelta(days=per_days)
            for user in USERS:
                times = [t for u, t in rows if u == user]
                for t in times:
                    in_window = [x for x in times if t - window <= x <= t]
                    assert len(in_window) <= max_messages, (user, times)
        finally:
            ws.close()
