"""Identity resolution: stitching, chains of merges, conflicts, and nothing lost."""

from __future__ import annotations

import pytest

from event_records import event
from portrait.identity.graph import UnionFind, merge_users
from portrait.workspace import UnknownIdentifierError


def person_of(ws, user_id=None, anonymous_id=None):
    """The person the events of a user id (or of a device, before login) resolve to."""
    if user_id is not None:
        where, arg = "user_id = ?", user_id
    else:
        where, arg = "user_id IS NULL AND anonymous_id = ?", anonymous_id
    rows = ws.warehouse.fetchall(
        f"SELECT DISTINCT person_id FROM events_resolved WHERE {where}", [arg]
    )
    assert len(rows) == 1
    return rows[0][0]


def test_union_find_chains_and_leader_is_first_registered():
    uf = UnionFind()
    uf.union("a", "b")
    uf.union("c", "d")
    uf.union("b", "d")
    assert len({uf.find(x) for x in "abcd"}) == 1
    person = merge_users(
        [("u3", "u2"), ("u2", "u1"), ("x", "y")],
        {"u1": (0, "2025-02-01"), "u2": (0, "2025-01-01"), "u3": (1,)},
    )
    assert person == {"u1": "u2", "u2": "u2", "u3": "u2", "x": "x", "y": "x"}


def test_anonymous_history_is_stitched_to_the_user_who_logs_in(ws):
    ws.ingest_records(
        [
            event(event_id="1", user_id=None, anonymous_id="dev1", ts="2025-03-01T10:00:00Z"),
            event(event_id="2", user_id=None, anonymous_id="dev1", ts="2025-03-01T10:05:00Z"),
            event(
                event_id="3",
                user_id="u1",
                anonymous_id="dev1",
                type="login",
                product_id=None,
                ts="2025-03-01T10:06:00Z",
            ),
            event(event_id="4", user_id="u1", ts="2025-03-01T10:07:00Z"),
            event(event_id="5", user_id=None, anonymous_id="dev2", ts="2025-03-01T10:00:00Z"),
        ]
    )
    assert person_of(ws, anonymous_id="dev1") == "u1"
    assert person_of(ws, anonymous_id="dev2") is None  # never logged in
    report = ws.identity("dev1")
    assert report.person_id == "u1"
    assert {(i.identifier, i.events) for i in report.identifiers} == {
        ("u1", 2),
        ("dev1", 3),
    }
    (link,) = report.links
    assert (link.rule, link.evidence) == ("seen_together", "3")
    assert ws.identity("dev2").anonymous_only is True


def test_login_arriving_in_a_later_batch_stitches_earlier_history(ws):
    ws.ingest_records([event(event_id="1", user_id=None, anonymous_id="dev1")])
    assert person_of(ws, anonymous_id="dev1") is None
    ws.ingest_records(
        [event(event_id="2", user_id="u1", anonymous_id="dev1", type="login", product_id=None)]
    )
    assert person_of(ws, anonymous_id="dev1") == "u1"


def test_chain_of_merges_by_phone_and_explicit_merge(ws):
    ws.ingest_records(
        [
            {"user_id": "u1", "phone": "138 0000 0001", "registered_at": "2025-02-01T00:00:00Z"},
            {"user_id": "u2", "phone": "+86-13800000001", "registered_at": "2025-01-01T00:00:00Z"},
            {"user_id": "u3", "phone": "13900000009", "registered_at": "2024-06-01T00:00:00Z"},
            {"user_id": "u4", "registered_at": "2025-03-01T00:00:00Z"},
        ],
        kind="users",
    )
    ws.ingest_records([event(event_id=f"e{u}", user_id=u) for u in ("u1", "u2", "u3", "u4")])
    assert person_of(ws, user_id="u1") == "u2"  # same phone; u2 registered first
    assert person_of(ws, user_id="u3") == "u3"
    ws.merge_users("u1", "u3", reason="customer service call #42")
    # u1~u2 (phone) and u1~u3 (explicit): one person, led by u3, the first registered.
    assert {person_of(ws, user_id=u) for u in ("u1", "u2", "u3")} == {"u3"}
    assert person_of(ws, user_id="u4") == "u4"
    report = ws.identity("u2")
    assert report.person_id == "u3"
    rules = sorted(link.rule for link in report.links)
    assert rules == ["explicit_merge", "same_phone"]
    assert any(link.evidence == "customer service call #42" for link in report.links)


def test_shared_device_is_a_conflict_and_does_not_merge_people(ws):
    ws.ingest_records(
        [
            event(
                event_id="a0", user_id=None, anonymous_id="family-ipad", ts="2025-03-01T09:00:00Z"
            ),
            event(
                event_id="a1",
                user_id="mum",
                anonymous_id="family-ipad",
                type="login",
                product_id=None,
                ts="2025-03-01T10:00:00Z",
            ),
            event(
                event_id="a2",
                user_id="son",
                anonymous_id="family-ipad",
                type="login",
                product_id=None,
                ts="2025-03-02T10:00:00Z",
            ),
        ]
    )
    assert person_of(ws, user_id="mum") == "mum"
    assert person_of(ws, user_id="son") == "son"
    # The anonymous history goes to the first person seen on the device.
    assert person_of(ws, anonymous_id="family-ipad") == "mum"
    report = ws.identity("family-ipad")
    assert [c.model_dump() for c in report.conflicts] == [
        {"anonymous_id": "family-ipad", "seen_with_users": ["mum", "son"]}
    ]
    summary = ws.summary().identity
    assert summary.anonymous_ids_in_conflict == 1
    assert summary.users_merged_into_another == 0


def test_placeholder_phone_shared_by_many_users_merges_nobody(ws):
    ws.ingest_records(
        [{"user_id": f"u{i}", "phone": "00000000000"} for i in range(8)], kind="users"
    )
    assert ws.summary().identity.users_merged_into_another == 0


def test_merges_lose_no_event_and_no_identifier(ws):
    ws.ingest_records([{"user_id": u, "phone": "13800000001"} for u in ("a", "b")], kind="users")
    events = [
        event(event_id=str(i), user_id=u, anonymous_id=d)
        for i, (u, d) in enumerate(
            [("a", "d1"), ("b", "d2"), (None, "d1"), (None, "d3"), ("b", None)]
        )
    ]
    ws.ingest_records(events)
    ws.merge_users("a", "b")
    n_events, n_resolved = ws.warehouse.fetchone(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM events_resolved)"
    )
    assert n_events == n_resolved == 5
    raw = ws.warehouse.fetchall("SELECT event_id, user_id, anonymous_id FROM events ORDER BY 1")
    assert raw == [(str(i), e.get("user_id"), e.get("anonymous_id")) for i, e in enumerate(events)]
    report = ws.identity("d2")
    assert {i.identifier for i in report.identifiers} == {"a", "b", "d1", "d2"}


def test_merge_errors_are_clear(ws):
    ws.ingest_records([event(user_id="u1")])
    with pytest.raises(UnknownIdentifierError, match="nobody"):
        ws.merge_users("u1", "nobody")
    with pytest.raises(ValueError, match="itself"):
        ws.merge_users("u1", "u1")
    with pytest.raises(UnknownIdentifierError, match="ghost"):
        ws.identity("ghost")


def test_incremental_refresh_matches_a_full_rebuild(ws):
    import random

    from portrait.store.identity_ops import rebuild_map

    rng = random.Random(5)
    ws.ingest_records(
        [{"user_id": f"u{i}", "phone": f"1380000{i % 4:04d}"} for i in range(12)], kind="users"
    )
    for b in range(6):
        batch = [
            event(
                event_id=f"b{b}-{i}",
                user_id=rng.choice([None, f"u{rng.randrange(12)}"]),
                anonymous_id=f"d{rng.randrange(15)}",
                ts=f"2025-03-0{1 + b}T10:{i:02d}:00Z",
            )
            for i in range(20)
        ]
        ws.ingest_records(batch)
        if b == 2:
            ws.merge_users("u1", "u2")
    query = "SELECT * FROM identity_map ORDER BY id_kind, identifier"
    incremental = ws.warehouse.fetchall(query)
    with ws.warehouse.transaction() as con:
        rebuild_map(con)
    assert ws.warehouse.fetchall(query) == incremental
    assert any(kind == "anonymous" for _, kind, _, _ in incremental)
