"""Statistics of personal-data tags (``pii: true``): a build stores their coverage only (no
distribution, minimum, median or maximum: those are single persons' values), clears what an
older version stored, and the tag detail, the quality report and the CLI show none."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from portrait.cli import app
from portrait.store import tag_stats

TAGS = """
group: {id: private, zh: 私密, en: Private}
tags:
  - id: home_city
    zh: 住址城市
    en: Home city
    description: The user's city, flagged personal data.
    kind: fact
    type: text
    pii: true
    fact: {from: users, agg: value, of: city}
  - id: joined_t
    zh: 注册时刻
    en: Joined at
    description: Registration time (epoch seconds), flagged personal data.
    kind: fact
    type: int
    pii: true
    fact: {from: users, agg: value, of: registered_t}
"""
CITIES = ["Zzyzx", "Zzyzx", "Truth or Consequences"]


def _build(ws) -> str:
    (ws.root / "tags").mkdir(exist_ok=True)
    (ws.root / "tags" / "private.yaml").write_text(TAGS, encoding="utf-8")
    ws.profiles.reload_catalog()
    ws.ingest_records(
        [{"user_id": f"u{i}", "city": c, "registered_at": f"2025-01-0{i + 1}T00:00:00Z"}
         for i, c in enumerate(CITIES)],
        kind="users",
    )  # fmt: skip
    ws.ingest_records(
        [{"event_id": f"e{i}", "user_id": f"u{i}", "ts": "2025-02-01T10:00:00Z",
          "type": "page_view"} for i in range(len(CITIES))]
    )  # fmt: skip
    return ws.build(as_of="2025-03-01").build_id


def test_a_pii_tag_keeps_its_coverage_only(ws) -> None:
    build_id = _build(ws)
    stored = {
        r[0]: r[1:]
        for r in ws.warehouse.fetchall(
            "SELECT tag_id, persons, non_null, mean, min, p50, max, distribution FROM tag_stats "
            "WHERE build_id = ? AND tag_id IN ('home_city', 'joined_t', 'city')",
            [build_id],
        )
    }
    assert stored["home_city"] == (3, 3, None, None, None, None, None)
    assert stored["joined_t"] == (3, 3, None, None, None, None, None)
    assert json.loads(stored["city"][-1])["Zzyzx"] > 0.6  # the same values, not flagged
    detail = ws.tag("home_city")
    assert detail.stats is not None and detail.stats.coverage == 1.0
    assert detail.stats.distribution is None and ws.tag("joined_t").stats.max is None
    quality = {t.id: t for t in ws.tag_quality().tags}
    assert quality["home_city"].distribution is None and quality["joined_t"].summary is None
    assert quality["city"].distribution is not None
    shown = CliRunner().invoke(app, ["tags", "show", "home_city", "-w", str(ws.root)])
    assert shown.exit_code == 0, shown.output
    assert "personal data" in shown.output and "Zzyzx" not in shown.output


def test_values_an_older_version_stored_are_hidden_then_cleared(ws) -> None:
    build_id = _build(ws)
    ws.warehouse.execute(  # as a build before pii tags had coverage only
        "UPDATE tag_stats SET distribution = '{\"Zzyzx\": 0.67}', min = 1, max = 9 "
        "WHERE build_id = ? AND tag_id IN ('home_city', 'joined_t')",
        [build_id],
    )
    assert ws.tag("home_city").stats.distribution is None  # hidden on read
    assert tag_stats.stats(ws.warehouse, build_id)["joined_t"].max == 9  # still stored
    ws.build(as_of="2025-03-02")
    left = ws.warehouse.fetchone(
        "SELECT count(*) FROM tag_stats WHERE tag_id IN ('home_city', 'joined_t') "
        "AND (distribution IS NOT NULL OR min IS NOT NULL OR max IS NOT NULL)"
    )[0]
    assert left == 0  # the next build cleared them in every build
