"""The hand-written baseline of bench/profile_baseline.py computes the build's 90 fact tags.

A small simulated shop in a time zone with daylight saving time (the shop's days span the
change of 2025-03-09), built as of a day before its last event (so the as-of cut, the windows
and users registered later matter); the baseline must give every fact column the same value
for every person, and the comparison must notice a changed value.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from portrait.datasets.simulator import simulate
from portrait.tags.catalog import load_catalog
from portrait.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import profile_baseline as pb

AS_OF = "2025-04-20"  # the shop runs 2025-01-20 .. 2025-04-29


def add_edge_cases(ws: Workspace) -> None:
    """Events the simulator does not write, for one buyer: an order line of an unknown product
    (its units count against brand concentration) and one without a quantity, a review without
    a rating, an event of a type no tag names, a share of no product, events a second either
    side of the 7-day window's start (local midnight, 04:00 UTC) and of the as-of instant,
    with sub-second times, and a search by an anonymous id of the same person."""
    wh = ws.warehouse
    buyer = wh.fetchone(
        "SELECT min(user_id) FROM events WHERE type = 'order' AND user_id IS NOT NULL "
        "AND user_id NOT IN (SELECT identifier FROM identity_map WHERE id_kind = 'user')"
    )[0]
    product = wh.fetchone("SELECT min(product_id) FROM products WHERE brand IS NOT NULL")[0]
    anonymous = wh.fetchone(
        "SELECT min(identifier) FROM identity_map WHERE id_kind = 'anonymous' AND person_id = ?",
        [buyer],
    )[0]
    assert buyer is not None and product is not None and anonymous is not None
    rows = [  # event_id, user_id, anonymous_id, ts, type, product_id, quantity, price, order_id
        ("x1", buyer, None, "2025-04-19 12:00:00", "order", "no-such-product", 3, 10.0, "ox1"),
        ("x2", buyer, None, "2025-04-18 10:00:00", "order", product, None, 5.0, "ox2"),
        ("x3", buyer, None, "2025-04-13 04:00:00", "review", product, None, None, None),
        ("x4", buyer, None, "2025-04-13 03:59:59.5", "product_view", product, None, None, None),
        ("x5", buyer, None, "2025-04-20 03:59:59.9", "page_view", None, None, None, None),
        ("x6", buyer, None, "2025-04-20 04:00:00", "page_view", None, None, None, None),
        ("x7", buyer, None, "2025-04-16 23:30:00", "mystery", None, None, None, None),
        ("x8", buyer, None, "2025-04-16 23:40:00", "share", None, None, None, None),
        ("x9", None, anonymous, "2025-04-17 01:00:00", "search", None, None, None, None),
    ]
    for r in rows:
        wh.execute(
            "INSERT INTO events BY NAME SELECT ? AS event_id, ? AS user_id, ? AS anonymous_id, "
            "CAST(? || '+00' AS TIMESTAMPTZ) AS ts, ? AS type, ? AS product_id, "
            "CAST(? AS BIGINT) AS quantity, CAST(? AS DOUBLE) AS price, ? AS order_id, "
            "'edge' AS query, 'app' AS device",
            list(r),
        )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    tmp = tmp_path_factory.mktemp("baseline")
    ws = Workspace.init(tmp / "ws", timezone="America/New_York")
    ws.ingest_dataset(simulate(tmp / "shop", users=900, days=100, seed=7, start=date(2025, 1, 20)))
    add_edge_cases(ws)
    result = ws.build(as_of=AS_OF, full=True)
    as_of, timezone, snapshot = pb.latest_build(ws.warehouse)
    assert snapshot == result.snapshot and timezone == "America/New_York"
    pb.run_baseline(ws.warehouse, as_of, timezone, cipher=ws.pii)
    # the snapshot's PII tags (the birth date) are stored sealed: compared decrypted
    yield ws, pb.opened_snapshot(ws.warehouse, snapshot, ws.profiles.catalog, ws.pii)
    ws.close()


def test_the_baseline_covers_the_catalog_facts() -> None:
    catalog = load_catalog()
    facts = {t.id: t.type for t in catalog if t.kind == "fact"}
    assert facts == pb.FACT_TYPES
    assert len(facts) == 90
    # the definitions the SQL was written for: a changed fact means reading the SQL again
    pairs = sorted((t.id, t.fingerprint) for t in catalog if t.kind == "fact")
    assert hashlib.sha256(repr(pairs).encode()).hexdigest()[:16] == pb.FACTS_DIGEST


def test_every_fact_column_matches_the_build(built: tuple[Workspace, str]) -> None:
    ws, snapshot = built
    parity = pb.compare_with_snapshot(ws.warehouse, snapshot)
    assert parity.persons[0] == parity.persons[1] > 500
    assert parity.missing == 0
    differing = {c: (n, parity.examples[c]) for c, n in parity.mismatches.items() if n}
    assert not differing
    assert len(parity.matching) == 90
    # not a comparison of empty columns: most facts have values for someone
    filled = ws.warehouse.fetchone(
        "SELECT "
        + ", ".join(f'count("{c}")' for c in pb.FACT_TYPES)
        + f" FROM {snapshot} WHERE person_id IN (SELECT person_id FROM baseline_profile)"
    )
    assert all(n > 0 for n in filled)
    zero = ws.warehouse.fetchone(
        "SELECT count(*) FILTER (visits_7d > 0), count(*) FILTER (orders_90d <> orders_120d), "
        "count(*) FILTER (registered_at IS NULL) FROM baseline_profile"
    )
    assert zero[0] > 0 and zero[1] > 0 and zero[2] > 0
    # the edge cases are in play: the last second before the as-of is the buyer's last visit,
    # and their unknown product's 3 units keep brand concentration below 1
    edge = ws.warehouse.fetchone(
        "SELECT count(*), min(brand_concentration) FROM baseline_profile "
        "WHERE last_visit_at = TIMESTAMPTZ '2025-04-20 03:59:59+00' "
        "AND list_contains(list_transform(search_keywords, lambda x: x.key), 'edge')"
    )
    assert edge[0] == 1 and edge[1] < 1


def test_the_comparison_notices_a_changed_value(built: tuple[Workspace, str]) -> None:
    ws, snapshot = built
    wh = ws.warehouse
    wh.execute("CREATE OR REPLACE TEMP TABLE baseline_mutant AS SELECT * FROM baseline_profile")
    one = wh.fetchone(
        "SELECT person_id FROM baseline_mutant WHERE len(top_colours) > 1 "
        "AND len(top_brands_viewed) > 0 AND total_spend > 0 AND active_hour IS NOT NULL "
        "ORDER BY person_id LIMIT 1"
    )[0]
    wh.execute(
        "UPDATE baseline_mutant SET top_colours = list_reverse(top_colours), "
        "total_spend = total_spend * (1 + 1e-6), active_hour = (active_hour + 1) % 24, "
        "main_device = 'fridge', last_order_at = last_order_at + INTERVAL 1 SECOND, "
        "top_brands_viewed = list_transform(top_brands_viewed, "
        "lambda x: {'key': x.key, 'weight': x.weight + 3e-6}) WHERE person_id = ?",
        [one],
    )
    parity = pb.compare_with_snapshot(wh, snapshot, table="baseline_mutant")
    changed = {c for c, n in parity.mismatches.items() if n}
    assert changed == {
        "top_colours",  # keys out of order
        "total_spend",  # off by a millionth, relative
        "active_hour",
        "main_device",
        "last_order_at",  # off by a second
        "top_brands_viewed",  # same keys, weights off by 3 units of the 6th decimal
    }
    assert all(parity.mismatches[c] == 1 for c in changed)
    assert not parity.ok
