"""Segments end to end on a small simulated shop: CLI, REST, built-in segments, and memberships
snapshotted across two builds."""

from __future__ import annotations

import csv
import json
import warnings
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from portrait.cli import app
from portrait.segments.builtin import builtin_segments
from portrait.segments.results import SegmentDetail
from portrait.workspace import Workspace
from shops import DemoShop

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app

runner = CliRunner()
FIRST, SECOND = "2025-01-25", "2025-02-10"
VIP = "gender = 'F' AND m_score >= 4"
RECENT = "days_since_last_order <= 7 OR 'beauty' IN category_affinity"


def cli(root: Path, *args: str, code: int = 0) -> str:
    r = runner.invoke(app, [*args, "-w", str(root)])
    assert r.exit_code == code, r.output
    return r.stdout if code == 0 else r.output


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, demo_shop: DemoShop) -> Path:
    """The demo shop (300 users, 40 days, seed 5) built as of FIRST, with two saved segments,
    then built as of SECOND."""
    root = demo_shop.copy(tmp_path_factory.mktemp("segments") / "ws")
    first = json.loads(cli(root, "build", "--as-of", FIRST, "--json"))
    assert first["timings"]["segments"] < first["seconds"]
    cli(root, "segment", "create", "vip_f", VIP, "--description", "women, high spend")
    cli(root, "segment", "create", "recent", RECENT)
    cli(root, "build", "--as-of", SECOND)
    return root


def sql_members(ws: Workspace, as_of: str, where: str) -> set[str]:
    snapshot = "snapshots.profile_" + as_of.replace("-", "")
    return {r[0] for r in ws.warehouse.fetchall(f"SELECT person_id FROM {snapshot} WHERE {where}")}


def test_count_paths_agree(shop: Path) -> None:
    expr = (
        "gender = 'F' AND rfm_segment IN ('champions', 'loyal', 'potential_loyalist') "
        "AND days_since_last_order <= 30 AND NOT price_sensitive"
    )
    fast = json.loads(cli(shop, "segment", "count", expr, "--json"))
    slow = json.loads(cli(shop, "segment", "count", expr, "--engine", "warehouse", "--json"))
    assert fast["path"] == "bitmap" and slow["path"] == "warehouse"
    assert fast["count"] == slow["count"] and fast["as_of"] == SECOND
    old = json.loads(cli(shop, "segment", "count", expr, "--as-of", FIRST, "--json"))
    assert old["as_of"] == FIRST and old["build_id"] != fast["build_id"]
    mixed = "city LIKE 'S%' AND orders_total > 0"
    mixed = json.loads(cli(shop, "segment", "count", mixed, "--json"))
    assert mixed["path"] == "bitmap+warehouse"
    assert mixed["warehouse_conditions"] == ["city LIKE 'S%'"]
    text = cli(shop, "segment", "count", expr)
    assert f"{fast['count']:,} persons" in text and "bitmap" in text


def test_cli_errors_are_one_clear_line(shop: Path) -> None:
    out = cli(shop, "segment", "count", "rfm_segment = 'champion'", code=2)
    assert "did you mean 'champions'" in out
    out = cli(shop, "segment", "create", "rfm_lost", "orders_total > 0", code=2)
    assert "built-in segment" in out
    out = cli(shop, "segment", "create", "Bad Name", "orders_total > 0", code=2)
    assert "not allowed" in out
    out = cli(shop, "segment", "create", "vip_f", "orders_total > 0", code=2)
    assert "exists" in out and "--replace" in out
    assert "cannot be deleted" in cli(shop, "segment", "delete", "persona_potential", code=2)
    assert "did you mean vip_f" in cli(shop, "segment", "show", "vip_g", code=2)
    out = cli(shop, "segment", "count", "gender = 'F'", "--engine", "fast", code=2)
    assert "auto, bitmap or warehouse" in out
    out = cli(shop, "segment", "count", "city LIKE 'S%'", "--engine", "bitmap", code=2)
    assert "cannot answer city LIKE 'S%'" in out


def test_builtin_segments_and_list(shop: Path) -> None:
    rows = json.loads(cli(shop, "segment", "list", "--json"))
    names = [r["name"] for r in rows]
    assert names[:2] == ["recent", "vip_f"]  # the user's own first
    assert set(names) >= {b.name for b in builtin_segments()}
    by_name = {r["name"]: r for r in rows}
    assert by_name["rfm_lost"]["builtin"] and not by_name["vip_f"]["builtin"]
    ws = Workspace.open(shop)
    try:  # the RFM groups partition the buyers
        rfm = sum(by_name[b.name]["size"] for b in builtin_segments() if b.family == "rfm")
        assert rfm == len(sql_members(ws, SECOND, "rfm_segment IS NOT NULL")) > 0
        potential = sql_members(ws, SECOND, "potential_customer AND lifecycle_stage = 'prospect'")
        assert by_name["persona_potential"]["size"] == len(potential)
    finally:
        ws.close()


def test_memberships_across_builds(shop: Path) -> None:
    s = json.loads(cli(shop, "segment", "show", "recent", "--json"))
    assert [h["as_of"] for h in s["history"]] == [FIRST, SECOND]
    ws = Workspace.open(shop)
    try:
        where = "days_since_last_order <= 7 OR list_contains(list_transform(category_affinity, " \
            "lambda x: x.key), 'beauty')"  # fmt: skip
        before, after = sql_members(ws, FIRST, where), sql_members(ws, SECOND, where)
    finally:
        ws.close()
    assert [h["size"] for h in s["history"]] == [len(before), len(after)]
    assert s["change"] == {"joined": len(after - before), "left": len(before - after),
                           "since": FIRST}  # fmt: skip
    assert s["change"]["joined"] + s["change"]["left"] > 0
    assert s["size"] == len(after)
    gender = {r["value"]: r["persons"] for r in s["composition"]["gender"]}
    assert sum(gender.values()) == s["size"]
    text = cli(shop, "segment", "show", "recent")
    assert "joined" in text and "history" in text and FIRST in text
    earlier = json.loads(cli(shop, "segment", "show", "recent", "--as-of", FIRST, "--json"))
    assert earlier["as_of"] == FIRST and earlier["size"] == len(before)
    assert earlier["change"] is None  # the first build it has: no change to show
    missing = cli(shop, "segment", "show", "recent", "--as-of", "2024-01-01", code=2)
    assert "no profile build as of 2024-01-01" in missing


def test_overlap_and_export(shop: Path, tmp_path: Path) -> None:
    o = json.loads(cli(shop, "segment", "overlap", "vip_f", "recent", "rfm_champions", "--json"))
    sizes = {s["name"]: s["size"] for s in o["segments"]}
    ws = Workspace.open(shop)
    try:
        vip = sql_members(ws, SECOND, "gender = 'F' AND m_score >= 4")
        champions = sql_members(ws, SECOND, "rfm_segment = 'champions'")
    finally:
        ws.close()
    assert sizes["vip_f"] == len(vip) and sizes["rfm_champions"] == len(champions)
    pair = next(p for p in o["pairs"] if {p["a"], p["b"]} == {"vip_f", "rfm_champions"})
    assert pair["both"] == len(vip & champions)
    assert pair["jaccard"] == pytest.approx(len(vip & champions) / len(vip | champions), abs=1e-6)
    csv_path = tmp_path / "vip.csv"
    cli(shop, "segment", "export", "vip_f", "--out", str(csv_path), "--tags",
        "gender,m_score,category_affinity")  # fmt: skip
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["user_id"] for r in rows} == vip
    assert all(r["gender"] == "F" and int(r["m_score"]) >= 4 for r in rows)
    parquet_path = tmp_path / "vip.parquet"
    cli(shop, "segment", "export", "vip_f", "--out", str(parquet_path))
    assert set(pq.read_table(parquet_path).column("user_id").to_pylist()) == vip
    assert "name it .csv or .parquet" in cli(
        shop, "segment", "export", "vip_f", "--out", str(tmp_path / "x.xlsx"), code=2
    )
    assert "unknown tag 'gendr'" in cli(
        shop, "segment", "export", "vip_f", "--out", str(csv_path), "--tags", "gendr", code=2
    )


def test_rest(shop: Path) -> None:
    ws = Workspace.open(shop)
    token = ws.create_key("admin", "test").token
    with TestClient(create_app(ws)) as client:
        h = {"Authorization": f"Bearer {token}"}
        r = client.post("/v1/segments/count", headers=h, json={"expression": VIP})
        assert r.status_code == 200 and r.json()["path"] == "bitmap"
        assert r.json()["count"] == len(sql_members(ws, SECOND, VIP))
        assert client.post("/v1/segments/count", json={"expression": VIP}).status_code == 401
        r = client.post("/v1/segments/count", headers=h, json={"expression": "gendr = 'F'"})
        assert r.status_code == 422 and "gender" in r.json()["detail"]
        body = {"expression": VIP, "as_of": "2020-01-01"}
        r = client.post("/v1/segments/count", headers=h, json=body)
        assert r.status_code == 404 and "no profile build as of 2020-01-01" in r.json()["detail"]
        body = {"name": "f_beauty", "expression": "gender = 'F' AND 'beauty' IN category_affinity"}
        r = client.post("/v1/segments", headers=h, json=body)
        assert r.status_code == 201 and r.json()["size"] >= 0
        assert client.post("/v1/segments", headers=h, json=body).status_code == 409
        assert any(s["name"] == "f_beauty" for s in client.get("/v1/segments", headers=h).json())
        shown = client.get("/v1/segments/f_beauty", headers=h, params={"by": "main_persona"})
        assert shown.status_code == 200 and list(shown.json()["composition"]) == ["main_persona"]
        assert client.get("/v1/segments/nope", headers=h).status_code == 404
        r = client.get("/v1/segments/vip_f", headers=h, params={"as_of": FIRST})
        assert r.status_code == 200 and r.json()["as_of"] == FIRST
        r = client.get("/v1/segments/vip_f", headers=h, params={"as_of": "2024-01-01"})
        assert r.status_code == 404 and "no profile build" in r.text
        r = client.post("/v1/segments/overlap", headers=h, json={"names": ["f_beauty", "vip_f"]})
        assert r.status_code == 200 and len(r.json()["pairs"]) == 1
        r = client.get("/v1/segments/f_beauty/export", headers=h,
                       params={"format": "csv", "tags": "gender"})  # fmt: skip
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        lines = r.text.strip().splitlines()
        assert lines[0] == '"user_id","gender"' and len(lines) == shown.json()["size"] + 1
        r = client.get("/v1/segments/f_beauty/export", headers=h, params={"format": "parquet"})
        assert r.status_code == 200 and r.content[:4] == b"PAR1"
        assert client.delete("/v1/segments/rfm_lost", headers=h).status_code == 409
        assert client.delete("/v1/segments/f_beauty", headers=h).status_code == 204
        assert client.get("/v1/segments/f_beauty", headers=h).status_code == 404
    ws.close()


def test_index_survives_reopening(shop: Path) -> None:
    info = json.loads(cli(shop, "segment", "index", "--json"))
    assert info["as_of"] == SECOND and info["tags"] > 100 and info["mib"] > 0
    ws = Workspace.open(shop, read_only=True)
    try:  # a read-only workspace counts on the stored index
        expr = "lifecycle_stage = 'new' AND orders_30d >= 1"
        r = ws.segments.count(expr)
        assert r.path == "bitmap" and r.count == len(sql_members(ws, SECOND, expr))
    finally:
        ws.close()


def test_python_results_are_typed(shop: Path) -> None:
    ws = Workspace.open(shop, read_only=True)
    try:
        assert ws.segments.check("NOT price_sensitive") == "price_sensitive = FALSE"
        with pytest.raises(ValueError, match="unknown tag"):
            ws.segments.check("no_such_tag = 1")
        shown = ws.segments.show("vip_f")
        assert isinstance(shown, SegmentDetail) and shown.as_of == date.fromisoformat(SECOND)
        assert shown.history[-1].build_id == shown.build_id and shown.change is not None
        assert ws.segments.select(VIP).num_rows == ws.segments.count(VIP).count == shown.size
    finally:
        ws.close()


def test_build_warns_of_a_saved_segment_it_cannot_evaluate(tmp_path: Path) -> None:
    """A saved segment over a workspace tag that was later removed from the catalog: the build
    still succeeds, and says which segment got no members and why (nothing silently skipped)."""
    root = tmp_path / "ws"
    ws = Workspace.init(root)
    ws.simulate(users=120, days=30, seed=3)
    tags_dir = root / "tags"
    tags_dir.mkdir()
    (tags_dir / "shop.yaml").write_text(
        """group: {id: shop, zh: 本店, en: This shop}
tags:
  - id: big_orders
    zh: 大单数
    en: Big order lines
    description: Order lines above 100.
    kind: fact
    type: int
    fact: {from: events, where: {type: order, price: {gt: 100}}, agg: count}
""",
        encoding="utf-8",
    )
    ws.profiles.reload_catalog()
    assert not ws.build().warnings
    ws.segments.create("big_buyers", "big_orders >= 1")
    (tags_dir / "shop.yaml").unlink()
    ws.close()
    r = runner.invoke(app, ["build", "-w", str(root)])
    assert r.exit_code == 0, r.output
    assert "warning: segment big_buyers has no members for this build" in r.output
    assert "big_orders" in r.output  # the reason names the missing tag
    result = json.loads(cli(root, "build", "--full", "--json"))
    assert any("big_buyers" in w for w in result["warnings"])
    again = json.loads(cli(root, "build", "--json"))  # nothing new: the last build stands
    assert again["mode"] == "unchanged" and again["build_id"] == result["build_id"]
    assert "up to date" in cli(root, "build")
