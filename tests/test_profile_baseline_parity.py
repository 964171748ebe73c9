"""The hand-written baseline of bench/profile_baseline.py computes the build's 90 fact tags.

A small simulated shop in a time zone with daylight saving time (the shop's days span the
change of 2025-03-09), built as of a day before its last event (so the as-of cut, the windows
and users registered later matter); the baseline must give every fact column the same value
for every person, and the comparison must notice a changed value.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    tmp = tmp_path_factory.mktemp("baseline")
    ws = Workspace.init(tmp / "ws", timezone="America/New_York")
    ws.ingest_dataset(simulate(tmp / "shop", users=900, days=100, seed=7, start=date(2025, 1, 20)))
    result = ws.build(as_of=AS_OF, full=True)
    as_of, timezone, snapshot = pb.latest_build(ws.warehouse)
    assert snapshot == result.snapshot and timezone == "America/New_York"
    pb.run_baseline(ws.warehouse, as_of, timezone)
    yield ws, snapshot
    ws.close()


def test_the_baseline_covers_the_catalog_facts() -> None:
    facts = {t.id: t.type for t in load_catalog() if t.kind == "fact"}
    assert facts == pb.FACT_TYPES
    assert len(facts) == 90


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
        "lambda x: {'key': x.key, 'weight': x.weight + 1e-6}) WHERE person_id = ?",
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
        "top_brands_viewed",  # same keys, weights off by a millionth
    }
    assert all(parity.mismatches[c] == 1 for c in changed)
    assert not parity.ok
