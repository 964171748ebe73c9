"""PII tags (``pii: true``: the catalog's birth_date) sealed in profile snapshots: the column
holds tokens bound to the tag and the person, reads open them (masked for a role without
pii:read), segments refuse them, incremental builds, key rotation and an older workspace's
clear snapshots keep working."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from portrait.security.pii import PiiDecryptError, is_token, token_key_id
from portrait.security.secrets import SECRET_ENV
from portrait.segments.expr import SegmentExpressionError
from portrait.store import pii_tags
from portrait.workspace import Workspace
from security.test_pii_at_rest import found_in_files

BIRTH = "1990-04-02"  # 34 on the build date below
AS_OF = "2025-04-01"


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)


def _ingest(ws: Workspace, users: tuple[str, ...] = ("u1", "u2", "u3")) -> None:
    births = {"u1": BIRTH, "u2": "1990-04-01", "u3": None, "u4": "2001-12-31"}
    ws.ingest_records(
        [{"user_id": u, "birth_date": births[u], "registered_at": "2024-01-01T00:00:00Z"}
         for u in users],
        kind="users",
    )  # fmt: skip
    ws.ingest_records(
        [{"event_id": f"e{u}", "user_id": u, "ts": "2025-03-01T10:00:00Z", "type": "page_view"}
         for u in users]
    )  # fmt: skip


def _stored(ws: Workspace, snapshot: str | None = None) -> dict[str, str | None]:
    table = snapshot or ws.profiles.live_build().snapshot
    return dict(ws.warehouse.fetchall(f"SELECT person_id, birth_date FROM {table}"))


def _column_type(ws: Workspace, table: str = "profile") -> str:
    return ws.warehouse.columns_of(f"(SELECT birth_date FROM {table})")[0][1]


def _birth(profile) -> object:
    return next(t.value for g in profile.groups for s in g.groups for t in s.tags
                if t.id == "birth_date")  # fmt: skip


@pytest.fixture
def ws(tmp_path: Path):
    ws = Workspace.init(tmp_path / "ws")
    _ingest(ws)
    ws.build(as_of=AS_OF)
    yield ws
    ws.close()


def test_the_snapshot_holds_tokens_bound_to_tag_and_person(ws: Workspace) -> None:
    stored = _stored(ws)
    assert _column_type(ws) == "VARCHAR"
    assert stored["u3"] is None and all(is_token(stored[u]) for u in ("u1", "u2"))
    assert ws.pii.decrypt("tag:birth_date", "u1", stored["u1"]) == BIRTH
    with pytest.raises(PiiDecryptError):  # copied to another person, or to the users column
        ws.pii.decrypt("tag:birth_date", "u2", stored["u1"])
    with pytest.raises(PiiDecryptError):
        ws.pii.decrypt("birth_date", "u1", stored["u1"])
    # ages are computed from the decrypted dates, as before
    ages = dict(ws.warehouse.fetchall("SELECT person_id, age FROM profile"))
    assert (ages["u1"], ages["u2"], ages["u3"]) == (34, 35, None)
    ws.warehouse.execute("CHECKPOINT")
    assert found_in_files(ws.root, {"birth": BIRTH.encode()}) == {}
    # coverage (the one statistic of a PII tag) counts the tokens as values
    assert ws.profiles.tag("birth_date").coverage == round(2 / 3, 4)


def test_reads_open_the_tag_and_mask_it_without_pii_read(ws: Workspace) -> None:
    assert _birth(ws.profile("u1")) == BIRTH
    analyst = ws.as_role("analyst")
    assert _birth(analyst.profile("u1")) == "1990-**-**"
    frame = ws.profile_table(tags=["birth_date", "age"])
    assert str(frame.schema.field("birth_date").type) == "date32[day]"
    rows = {r["person_id"]: r["birth_date"] for r in frame.to_pylist()}
    assert rows == {"u1": date(1990, 4, 2), "u2": date(1990, 4, 1), "u3": None}
    masked = analyst.profile_table(tags=["birth_date"]).column("birth_date").to_pylist()
    assert sorted(v for v in masked if v) == ["1990-**-**", "1990-**-**"]
    full = ws.profile_table()  # every tag: the PII one opened, the others untouched
    assert full.column("birth_date").type == frame.column("birth_date").type


def test_exports_open_the_tag_for_admin_with_a_purpose(ws: Workspace, tmp_path: Path) -> None:
    ws.segments.create("everyone", "age >= 0")
    members = ws.segments.members("everyone", tags=["birth_date"], purpose="birthday mailing")
    assert dict(zip(members.column("user_id").to_pylist(),
                    members.column("birth_date").to_pylist(), strict=True)) == {
        "u1": date(1990, 4, 2), "u2": date(1990, 4, 1)}  # fmt: skip
    out = ws.export_segment("everyone", tmp_path / "e.parquet", tags=["birth_date"],
                            purpose="birthday mailing")  # fmt: skip
    assert out.pii_tags == ["birth_date"]
    assert sorted(pq.read_table(out.path).column("birth_date").to_pylist()) == [
        date(1990, 4, 1), date(1990, 4, 2)]  # fmt: skip


def test_segments_refuse_the_tag_and_the_index_skips_it(ws: Workspace) -> None:
    with pytest.raises(SegmentExpressionError) as e:
        ws.segments.count("birth_date < '2000-01-01'")
    assert "birth_date is personal data stored encrypted" in str(e.value)
    assert "segment on age or age_band instead" in str(e.value)
    with pytest.raises(SegmentExpressionError, match="stored encrypted"):
        ws.segments.create("young", "birth_date IS NOT NULL")
    assert ws.segments.count("age >= 35").count == 1
    assert "birth_date" in ws.segments.index().skipped


def test_an_incremental_build_keeps_unchanged_tokens(ws: Workspace) -> None:
    before = _stored(ws)
    _ingest(ws, ("u4",))
    result = ws.build(as_of="2025-04-02")
    assert result.mode == "incremental" and 0 < result.recomputed < result.persons
    after = _stored(ws, result.snapshot)
    assert {u: after[u] for u in before} == before  # the same value, person and key
    assert ws.pii.decrypt("tag:birth_date", "u4", after["u4"]) == "2001-12-31"
    ages = dict(ws.warehouse.fetchall(f"SELECT person_id, age FROM {result.snapshot}"))
    assert (ages["u1"], ages["u2"], ages["u4"]) == (35, 35, 23)  # u1's birthday: the new date
    # the base snapshot's opened dates lived in the build's temporary objects only
    temp = ws.warehouse.fetchall("SELECT table_name FROM duckdb_tables() WHERE temporary")
    assert not [t for (t,) in temp if t.startswith("_pii")]


def test_key_rotation_reseals_every_snapshot(ws: Workspace) -> None:
    _ingest(ws, ("u4",))
    second = ws.build(as_of="2025-04-02").snapshot
    first = ws.profiles.builds()[-1].snapshot
    old_key = ws.pii.key_id
    ws.privacy.rotate_key()
    new_key = ws.pii.key_id
    assert new_key != old_key
    for table in (first, second):
        tokens = [v for v in _stored(ws, table).values() if v is not None]
        assert tokens and {token_key_id(v) for v in tokens} == {new_key}
    assert _birth(ws.profile("u1")) == BIRTH
    past = ws.profile_table(as_of="2025-04-01", tags=["birth_date"]).to_pylist()
    assert {r["person_id"]: r["birth_date"] for r in past}["u1"] == date(1990, 4, 2)


def test_an_older_workspaces_clear_snapshots_are_sealed_on_open(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest.cipher = lambda: None  # as an older version: users and the tag in clear
    ws.profiles.pii = lambda: None
    _ingest(ws)
    ws.build(as_of=AS_OF)
    assert _column_type(ws) == "DATE"
    assert pii_tags.clear_count(ws.warehouse, ["birth_date"]) == 2
    ws.close()
    with Workspace.open(tmp_path / "ws") as ws:
        status = ws.privacy.status()
        assert status.clear_tag_values == 0 and status.clear_values == 0
        assert _column_type(ws) == "VARCHAR"
        assert all(is_token(v) for v in _stored(ws).values() if v is not None)
        assert _birth(ws.profile("u1")) == BIRTH
        ws.privacy.compact()  # the clear values' freed blocks go with the rewrite
        assert found_in_files(ws.root, {"birth": BIRTH.encode()}) == {}


def test_migrate_seals_a_text_pii_tag_left_in_clear(ws: Workspace) -> None:
    snapshot = ws.profiles.live_build().snapshot
    clear = ws.profile_table(tags=["birth_date"])  # written back as ISO text, as if in clear
    ws.warehouse.register("_clear", clear)
    ws.warehouse.execute(
        f"UPDATE {snapshot} SET birth_date = CAST(c.birth_date AS VARCHAR) FROM _clear c "
        f"WHERE {snapshot}.person_id = c.person_id"
    )
    ws.warehouse.unregister("_clear")
    assert ws.privacy.status().clear_tag_values == 2
    assert _birth(ws.profile("u1")) == BIRTH  # a clear value reads as it is
    migrated = ws.privacy.migrate()
    assert migrated.clear_tag_values == 0 and migrated.sealed_now >= 2
    assert all(is_token(v) for v in _stored(ws).values() if v is not None)
