"""Property tests: random and malformed records never get lost and counts always add up."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portrait.schema import EVENT_TYPES
from portrait.workspace import Workspace

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "2025-03-01T10:00:00Z",
            "2025-03-01 10:00",
            "1740816000",
            "not-a-time",
            "-1",
            "0",
            "3.5",
            "{}",
            "[1]",
            "u1",
            "d1",
        ]
    ),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
)
event_like = st.fixed_dictionaries(
    {
        "ts": st.one_of(st.just("2025-03-01T10:00:00Z"), values),
        "type": st.one_of(st.sampled_from(sorted(EVENT_TYPES)), values),
    },
    optional={
        "event_id": st.one_of(st.sampled_from(["e1", "e2", "e3"]), values),
        "user_id": st.one_of(st.sampled_from(["u1", "u2"]), values),
        "anonymous_id": st.one_of(st.sampled_from(["d1", "d2"]), values),
        "product_id": values,
        "quantity": values,
        "price": values,
        "discount": values,
        "order_id": values,
        "query": values,
        "rating": values,
        "properties": values,
        "currency": values,
        "extra_field": values,
    },
)
records = st.lists(st.one_of(event_like, values), min_size=1, max_size=25)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=records)
def test_random_batches_lose_nothing_and_counts_add_up(tmp_path: Path, batch: list) -> None:
    with Workspace.open(Workspace.init(tmp_path / "ws").root, in_memory=True) as ws:
        r = ws.ingest_records(batch)
        assert r.received == len(batch)
        assert r.accepted + r.duplicates + r.quarantined == r.received
        events, quarantined = ws.warehouse.fetchone(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine)"
        )
        assert (events, quarantined) == (r.accepted, r.quarantined)
        assert len(r.rejections) == r.quarantined
        # Whatever was stored satisfies the canonical rules.
        bad = ws.warehouse.fetchone(
            "SELECT count(*) FROM events WHERE ts IS NULL OR type IS NULL "
            "OR (user_id IS NULL AND anonymous_id IS NULL) OR price < 0 OR quantity = 0 "
            "OR rating NOT BETWEEN 1 AND 5 OR event_id IS NULL "
            "OR (properties IS NOT NULL AND json_type(properties) <> 'OBJECT')"
        )[0]
        assert bad == 0
        assert {t for (t,) in ws.warehouse.fetchall("SELECT DISTINCT type FROM events")} <= set(
            EVENT_TYPES
        )
        # Each quarantined record keeps its raw payload and a known reason.
        assert (
            ws.warehouse.fetchone(
                "SELECT count(*) FROM quarantine WHERE raw IS NULL OR reason_code IS NULL"
            )[0]
            == 0
        )
        again = ws.ingest_records(batch)
        assert again.accepted == 0
        assert again.duplicates == r.accepted + r.duplicates
