"""Public data sets through the whole ingest path (skipped when ../shared/data is absent)."""

from __future__ import annotations

import pytest

from portrait.datasets.base import DatasetMissingError
from portrait.datasets.registry import locate_source


def need(name: str) -> None:
    try:
        locate_source(name)
    except DatasetMissingError as e:
        pytest.skip(str(e))


@pytest.mark.realdata
@pytest.mark.slow
def test_online_retail_loads_with_bad_debt_lines_quarantined(ws):
    need("online-retail-ii")
    _, results = ws.load_dataset("online-retail-ii")
    by_kind = {r.kind: r for r in results}
    events = by_kind["events"]
    # 525,461 lines + 24,224 invoice payments; the 3 "Adjust bad debt" lines and their
    # 3 payments have negative prices and are the only rejects.
    assert events.received == 525_461 + 24_224
    assert events.quarantined == 6
    assert {q.reason_code for q in ws.quarantine(limit=10)} == {"negative_price"}
    assert events.accepted + events.duplicates == events.received - 6
    s = ws.summary()
    assert s.users == 4_383
    assert s.events_by_type["refund"] >= 10_206  # C-invoices, plus returns cleaned to refunds
    again = ws.load_dataset("online-retail-ii")[1]
    assert sum(r.accepted for r in again) == 0  # idempotent


@pytest.mark.realdata
def test_cdnow_sample_loads_completely(ws):
    need("cdnow")
    _, results = ws.load_dataset("cdnow")
    assert {r.kind: (r.received, r.quarantined) for r in results} == {
        "users": (2_357, 0),
        "events": (6_919 * 2, 0),
    }
    assert ws.summary().orders == 6_919


def test_loading_a_second_data_set_warns_that_ids_overlap(ws, tmp_path):
    from portrait.datasets.simulator import simulate

    ws.ingest_dataset(simulate(ws.root / "sources" / "simulated-shop", users=50, days=5))
    raw = tmp_path / "cdnow"
    raw.mkdir()
    (raw / "CDNOW_sample.txt").write_text(" 00004 0001 19970101  2   29.33\n")
    files, _ = ws.load_dataset("cdnow", path=raw)
    assert files.notes[0].startswith("warning: this workspace also holds simulated-shop")
    again, _ = ws.load_dataset("cdnow", path=raw)
    assert again.notes[0].startswith("warning: this workspace also holds simulated-shop")
    assert "cdnow" not in again.notes[0]
