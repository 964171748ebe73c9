"""Serving keeps persons' purchases and recent views in memory: grouping, order, reload, and the
warehouse read again only after a write."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.recs.history import PersonHistory
from portrait.store import recs as store_recs
from portrait.workspace import Workspace
from shops import DemoShop


def test_groups_by_person_newest_first() -> None:
    h = PersonHistory.from_rows(
        ["b", "a", "a", "a", "b"],
        ["x", "p", "q", "r", "y"],
        ["order", "order", "product_view", "order", "add_to_cart"],
        [5.0, 1.0, 3.0, 2.0, 6.0],
    )
    assert h.of("a") == ([("r", 2.0), ("p", 1.0)], [("q", "product_view", 3.0)])
    assert h.of("b") == ([("x", 5.0)], [("y", "add_to_cart", 6.0)])
    assert h.of("c") == ([], [])
    assert h.of("") == ([], [])
    assert PersonHistory.empty().of("a") == ([], [])


def test_save_and_load(tmp_path: Path) -> None:
    h = PersonHistory.from_rows(["u1", "u2"], ["p", "q"], ["order", "product_view"], [1.0, 2.0])
    h.save(tmp_path / "history.npz")
    loaded = PersonHistory.load(tmp_path / "history.npz")
    assert loaded is not None
    assert loaded.of("u1") == h.of("u1") and loaded.of("u2") == h.of("u2")
    assert PersonHistory.load(tmp_path / "missing.npz") is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, demo_shop: DemoShop) -> Path:
    """A copy of the demo shop (not built) with the recommender trained."""
    root = demo_shop.copy(tmp_path_factory.mktemp("recs-history") / "ws")
    with Workspace.open(root) as ws:
        ws.recs.train()
    return root


def test_history_matches_the_events_table(trained: Path) -> None:
    with Workspace.open(trained) as ws:
        history = ws.recs.trained().history
        person = ws.warehouse.fetchone(
            "SELECT person_id FROM events_resolved WHERE type = 'order' "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )[0]
        rows = ws.warehouse.fetchall(
            "SELECT product_id, epoch(ts) FROM events_resolved WHERE person_id = ? "
            "AND type = 'order' AND product_id IS NOT NULL ORDER BY ts DESC",
            [person],
        )
        purchases, _ = history.of(person)
        assert sorted(purchases) == sorted((p, float(t)) for p, t in rows)
        assert [t for _, t in purchases] == sorted((t for _, t in purchases), reverse=True)


def test_warehouse_read_again_only_after_a_write(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = store_recs.events_since

    def counting(wh, since):  # type: ignore[no-untyped-def]
        calls.append(since)
        return real(wh, since)

    monkeypatch.setattr(store_recs, "events_since", counting)
    with Workspace.open(trained) as ws:
        user = ws.warehouse.fetchone("SELECT user_id FROM users ORDER BY user_id LIMIT 1")[0]
        product = ws.warehouse.fetchone("SELECT product_id FROM products LIMIT 1")[0]
        ws.recs.recommend(user)
        ws.recs.recommend(user, k=5)
        assert len(calls) == 1
        ws.create_key("admin", "a write serving does not read")
        ws.recs.recommend(user)
        assert len(calls) == 1
        last = ws.warehouse.fetchone("SELECT max(ts) FROM events")[0]
        event = {"user_id": user, "type": "add_to_cart", "product_id": product}
        r = ws.ingest_records([{**event, "ts": last.isoformat()}])
        assert r.accepted == 1
        out = ws.recs.recommend(user)
        assert len(calls) == 2
        assert product in out.session  # the cart add ingested after training is seen


def test_person_tags_lookup() -> None:
    import pyarrow as pa

    from portrait.recs.history import PersonTags

    table = pa.table(
        {
            "person_id": ["c", "a", "b"],
            "gender": ["F", None, "M"],
            "favourite_brand": ["x", "y", None],
        }
    )
    tags = PersonTags.from_arrow(table, "build-1")
    assert tags.of("a") == {"favourite_brand": "y"}
    assert tags.of("b") == {"gender": "M"}
    assert tags.of("c") == {"gender": "F", "favourite_brand": "x"}
    assert tags.of("d") == {} and not tags.has("d") and tags.has("a")
