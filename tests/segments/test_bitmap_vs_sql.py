"""The bitmap path answers exactly what the warehouse answers, on random expressions.

Two property tests: random expression trees over one stored random profile table (through the
warehouse: dense ids, stored index, LIKE served by the warehouse), and over tiny random tables
drawn by hypothesis (all NULL, one value, empty) evaluated in memory.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from profiles import CATALOG, TAGS, expressions, random_profiles
from pyroaring import FrozenBitMap

from portrait.segments import bitmaps as bm
from portrait.segments.encode import build_tag, from_built
from portrait.segments.evaluate import Evaluator
from portrait.segments.expr import Cond, tags_of
from portrait.segments.indexer import IndexReader, build_index
from portrait.segments.parse import parse_segment
from portrait.segments.sql import condition_sql, where_sql
from portrait.store.warehouse import Warehouse

SNAPSHOT = "snapshots.profile_20250101"


@pytest.fixture(scope="module")
def stored():
    """A 600-person random profile table in an in-memory warehouse, indexed."""
    wh = Warehouse(None)
    table = random_profiles(np.random.default_rng(7), 600)
    with wh.lock:  # a registered table belongs to the connection that writes with it
        wh.register("_t", table)
        # rows in a shuffled order, so dense ids are not the row order of a later snapshot
        wh.execute(f"CREATE TABLE {SNAPSHOT} AS SELECT * FROM _t ORDER BY hash(person_id)")
        wh.unregister("_t")
    # half the persons already have dense ids, in another order: the rest get new ones
    wh.execute(
        "INSERT INTO segment_person_ids SELECT person_id, 1000 - row_number() OVER "
        f"(ORDER BY person_id) FROM {SNAPSHOT} WHERE hash(person_id) % 2 = 0"
    )
    report = build_index(wh, TAGS, "b1", SNAPSHOT)
    assert report.tags == len(TAGS) and not report.skipped
    reader = IndexReader.open(wh, "b1")
    assert reader is not None
    yield wh, reader
    wh.close()


def sql_pids(wh: Warehouse, where: str) -> set[int]:
    rows = wh.fetchall(
        f"SELECT m.pid FROM {SNAPSHOT} s JOIN segment_person_ids m USING (person_id) WHERE {where}"
    )
    return {r[0] for r in rows}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions())
def test_stored_index_equals_sql(stored, text: str) -> None:
    wh, reader = stored
    node = parse_segment(text, CATALOG)

    def fallback(c):
        return bm.from_sorted(np.array(sorted(sql_pids(wh, condition_sql(c, "s."))), np.uint32))

    result = Evaluator(reader.tags(tags_of(node)), reader.universe, fallback).run(node)
    assert set(result.members) == sql_pids(wh, where_sql(node, "s.")), text


@st.composite
def tiny_tables(draw: st.DrawFn) -> pa.Table:
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(0, 25))
    null_share = draw(st.sampled_from([0.0, 0.3, 1.0]))
    return random_profiles(np.random.default_rng(seed), n, null_share)


@settings(max_examples=80, deadline=None)
@given(table=tiny_tables(), text=expressions(max_leaves=5))
def test_tiny_tables_in_memory(table: pa.Table, text: str) -> None:
    ids = np.arange(table.num_rows, dtype=np.uint32)
    indexes = {t.id: from_built(build_tag(t.id, t.type, table.column(t.id), ids)) for t in TAGS}
    con = duckdb.connect()
    con.register("p", table.append_column("pid", pa.array(ids, pa.uint32())))
    node = parse_segment(text, CATALOG)

    def sql(where: str) -> set[int]:
        return {r[0] for r in con.execute(f"SELECT pid FROM p WHERE {where}").fetchall()}

    def fallback(c):
        return bm.from_sorted(np.array(sorted(sql(condition_sql(c))), np.uint32))

    universe = bm.from_sorted(ids)
    result = Evaluator(indexes, universe, fallback).run(node)
    assert set(result.members) == sql(where_sql(node)), text
    con.close()


@pytest.mark.parametrize("distinct", [1, 2, 31, 32, 255, 257, 500, 4000])
def test_sliced_index_every_bound(distinct: int) -> None:
    """Every comparison at every distinct value (and between and beyond them) against numpy,
    with and without a set of candidates to stay within."""
    rng = np.random.default_rng(distinct)
    pool = np.unique(np.round(rng.uniform(-50, 1000, 3 * distinct), 2))[:distinct]
    assert len(pool) == distinct
    values = pool[rng.integers(0, distinct, 6000)]
    ids = np.sort(rng.choice(10_000, 6000, replace=False)).astype(np.uint32)
    index = from_built(build_tag("x", "float", pa.array(values), ids))
    assert len(index.steps) <= min(distinct - 1, 15)
    assert len(index.tops) <= 256 and index.tops[-1] == len(np.unique(values)) - 1
    within = bm.from_sorted(np.sort(rng.choice(ids, 2000, replace=False)))
    uniq = np.unique(values)
    bounds = np.concatenate([uniq, (uniq[:-1] + uniq[1:]) / 2, [uniq[0] - 1, uniq[-1] + 1]])
    ops = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
           "gt": np.greater, "ge": np.greater_equal}  # fmt: skip
    for bound in rng.choice(bounds, min(len(bounds), 120), replace=False):
        for op, fn in ops.items():
            c = Cond("x", "float", op, (float(bound),))
            want = set(ids[fn(values, bound)].tolist())
            assert set(index.select(c, None)) == want, (op, bound)
            assert set(index.select(c, within)) == want & set(within), (op, bound)
    for _ in range(300):  # two bounds at once (x > a AND x <= b): one pass over the index
        (op_a, op_b), (a, b) = rng.choice(list(ops), 2), np.sort(rng.choice(bounds, 2))
        conds = [Cond("x", "float", op_a, (float(a),)), Cond("x", "float", op_b, (float(b),))]
        want = set(ids[ops[op_a](values, a) & ops[op_b](values, b)].tolist())
        if op_a != "ne" and op_b != "ne":
            assert set(index.select_all(conds, within)) == want & set(within), (conds,)


def test_known_answers() -> None:
    """Five persons by hand: NULLs are never selected, negated or not."""
    table = pa.table({
        "person_id": ["a", "b", "c", "d", "e"],
        "g": ["F", "M", None, "F", "U"],
        "n": pa.array([1, 5, 3, None, 5], pa.int64()),
        "flag": [True, False, None, True, None],
        "top": pa.array(
            [[{"key": "beauty", "weight": 1.0}], None, [{"key": "food", "weight": 0.5},
             {"key": "beauty", "weight": 0.5}], [{"key": "food", "weight": 1.0}], None],
            pa.list_(pa.struct([("key", pa.string()), ("weight", pa.float64())])),
        ),
    })  # fmt: skip
    ids = np.arange(5, dtype=np.uint32)
    indexes = {t: from_built(build_tag(t, CATALOG[t].type, table.column(t), ids)) for t in
               ("g", "n", "flag", "top")}  # fmt: skip
    universe = bm.from_sorted(ids)

    def who(text: str) -> str:
        members = Evaluator(indexes, universe).run(parse_segment(text, CATALOG)).members
        return "".join(table.column("person_id")[i].as_py() for i in members)

    assert who("g = 'F'") == "ad"
    assert who("g != 'F'") == "be"  # c has no gender: neither F nor not F
    assert who("NOT (g = 'F' OR n > 4)") == ""  # b: n > 4; c: g NULL; d: n NULL; e: n > 4
    assert who("NOT (g = 'F') OR n IS NULL") == "bde"
    assert who("n BETWEEN 2 AND 5") == "bce"
    assert who("n NOT BETWEEN 2 AND 4") == "abe"
    assert who("n IN (1, 3)") == "ac"
    assert who("NOT flag") == "b"
    assert who("flag IS NOT TRUE") == "bce"
    assert who("'beauty' IN top") == "ac"
    assert who("'beauty' NOT IN top") == "d"  # b and e have no list
    assert who("top IS NULL AND g IS NOT NULL") == "be"


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 4096, 50_000, 300_000])
def test_bitmaps_from_sorted_ids(size: int) -> None:
    """Bitmaps made from numpy ids (written in the serialised format when every container is
    an array) hold exactly those ids, sparse or dense, at either end of the id range."""
    rng = np.random.default_rng(size)
    for top in (10_000_000, 400_000, 2**32):
        ids = np.unique(rng.integers(0, top, size, dtype=np.uint64)).astype(np.uint32)
        made = bm.from_sorted(ids)
        assert np.array_equal(bm.to_numpy(made), ids)
        assert made == FrozenBitMap(ids.tolist())
    edges = np.array([0, 1, 65_535, 65_536, 2**31, 2**32 - 2, 2**32 - 1], dtype=np.uint32)
    assert (
        list(bm.from_sorted(np.concatenate([np.arange(2000, dtype=np.uint32), edges[2:]])))[-5:]
        == edges[2:].tolist()
    )
