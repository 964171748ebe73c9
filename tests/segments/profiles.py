"""Random profile tables and random segment expressions over them (hypothesis strategies).

The schema has one tag of every indexable kind: enums, a yes/no flag, an integer, a float with
few distinct values and one with hundreds (range-encoded steps), a timestamp, a date, free text
and a top-N list, all with NULLs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import strategies as st
from pydantic import TypeAdapter

from portrait.tags.model import TagDef

SEGS = ["a", "b", "c", "d"]
CITIES = ["Shanghai", "Shenzhen", "Beijing", "Hangzhou", "Chengdu"]
KEYS = ["beauty", "books", "food", "home", "sport"]
AMOUNTS = [i / 4 for i in range(401)]  # many distinct values: stepped bit slices
T0 = datetime(2025, 1, 1, tzinfo=UTC)
D0 = date(1990, 1, 1)


def tag(tag_id: str, value_type: str, values: list[str] | None = None) -> TagDef:
    # validated as data: TagDef is one tag class or a union of kinds, whichever the catalog has
    return TypeAdapter(TagDef).validate_python({
        "id": tag_id, "zh": tag_id, "en": tag_id, "description": tag_id, "group": "test",
        "kind": "model", "type": value_type, "values": values, "model": {"model": "test"},
    })  # fmt: skip


TAGS = [
    tag("g", "enum", ["F", "M", "U"]),
    tag("seg", "enum", [*SEGS, "never"]),
    tag("flag", "bool"),
    tag("n", "int"),
    tag("x", "float"),
    tag("amount", "float"),
    tag("t", "timestamp"),
    tag("d", "date"),
    tag("city", "text"),
    tag("top", "top"),
]
CATALOG = {t.id: t for t in TAGS}
ARROW_TYPES = {
    "g": pa.string(), "seg": pa.string(), "flag": pa.bool_(), "n": pa.int64(),
    "x": pa.float64(), "amount": pa.float64(), "t": pa.timestamp("us", tz="UTC"),
    "d": pa.date32(), "city": pa.string(),
    "top": pa.list_(pa.struct([("key", pa.string()), ("weight", pa.float64())])),
}  # fmt: skip


def random_profiles(rng: np.random.Generator, n: int, null_share: float = 0.2) -> pa.Table:
    """``n`` persons ``p0000``.. with random tags, about ``null_share`` of each tag empty."""

    def pick(values: list[Any]) -> list[Any]:
        return [
            None if rng.random() < null_share else values[int(rng.integers(len(values)))]
            for _ in range(n)
        ]

    floats = [-1.5, 0.0, 0.25, 0.5, 2.0, 3.75, 10.0]
    times = [T0 + timedelta(hours=int(h)) for h in rng.integers(-500, 500, 12)]
    days = [D0 + timedelta(days=int(d)) for d in rng.integers(0, 400, 10)]
    tops = []
    for _ in range(n):
        if rng.random() < null_share:
            tops.append(None)
            continue
        keys = rng.choice(KEYS, size=int(rng.integers(1, 4)), replace=False)
        tops.append([{"key": str(k), "weight": round(float(rng.random()), 3)} for k in keys])
    columns = {
        "person_id": [f"p{i:04d}" for i in range(n)],
        "g": pick(["F", "M", "U"]),
        "seg": pick(SEGS),
        "flag": pick([True, False]),
        "n": pick(list(range(-2, 60))),
        "x": pick(floats),
        "amount": pick(AMOUNTS),
        "t": pick(times),
        "d": pick(days),
        "city": pick(CITIES),
        "top": tops,
    }
    types = {"person_id": pa.string(), **ARROW_TYPES}
    return pa.table({k: pa.array(v, types[k]) for k, v in columns.items()})


# --- expressions --------------------------------------------------------------------------------
def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in(col: str, values: list[str], negate: bool) -> str:
    return f"{col} {'NOT IN' if negate else 'IN'} ({', '.join(values)})"


def _compare(col: str, literals: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    ops = st.sampled_from(["=", "!=", "<>", "<", "<=", ">", ">="])
    plain = st.builds(lambda op, v: f"{col} {op} {v}", ops, literals)
    flipped = st.builds(lambda op, v: f"{v} {op} {col}", ops, literals)
    between = st.builds(
        lambda lo, hi, neg: f"{col} {'NOT ' if neg else ''}BETWEEN {lo} AND {hi}",
        literals, literals, st.booleans(),
    )  # fmt: skip
    listed = st.builds(
        lambda vs, neg: _in(col, vs, neg), st.lists(literals, min_size=1, max_size=3), st.booleans()
    )
    return st.one_of(plain, flipped, between, listed)


def _nulls(col: str) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{col} IS NULL", f"{col} IS NOT NULL"])


def _categorical(col: str, values: list[str]) -> st.SearchStrategy[str]:
    lit = st.sampled_from(values).map(_q)
    return st.one_of(
        st.builds(lambda op, v: f"{col} {op} {v}", st.sampled_from(["=", "!=", "<>"]), lit),
        st.builds(
            lambda vs, neg: _in(col, vs, neg), st.lists(lit, min_size=1, max_size=3), st.booleans()
        ),
        _nulls(col),
    )


BOOL_CONDITIONS = [
    "flag", "NOT flag", "flag = TRUE", "flag = FALSE", "flag != TRUE", "flag IS TRUE",
    "flag IS NOT TRUE", "flag IS NOT FALSE", "flag IS NULL", "flag IN (TRUE, FALSE)",
]  # fmt: skip


def conditions() -> st.SearchStrategy[str]:
    ints = st.one_of(st.integers(-4, 62).map(str), st.sampled_from(["2.5", "-0.5", "1e1"]))
    amounts = st.one_of(
        st.sampled_from(AMOUNTS).map(repr), st.floats(-1, 101, allow_nan=False).map(repr)
    )
    floats = st.one_of(
        st.sampled_from(["-1.5", "0", "0.25", "0.5", "2", "3.75", "10", "-2", "0.3", "11"]),
        st.floats(-3, 12, allow_nan=False).map(lambda f: repr(round(f, 3))),
    )
    times = st.one_of(
        st.integers(-600, 600).map(lambda h: _q((T0 + timedelta(hours=h)).isoformat())),
        st.sampled_from(["'2025-01-01'", "'2025-01-03T08:00:00+08:00'", "'2024-12-20 06:30'"]),
    )
    days = st.integers(-20, 420).map(lambda d: _q((D0 + timedelta(days=d)).isoformat()))
    top_key = st.sampled_from([*KEYS, "toys"]).map(_q)
    pattern = st.sampled_from(["'Sh%'", "'%n%'", "'Beijing'", "'_hengdu'"])
    return st.one_of(
        _categorical("g", ["F", "M", "U"]),
        _categorical("seg", [*SEGS, "never"]),
        _categorical("city", [*CITIES, "Xi'an"]),
        st.sampled_from(BOOL_CONDITIONS),
        _compare("n", ints) | _nulls("n"),
        _compare("x", floats) | _nulls("x"),
        _compare("amount", amounts) | _nulls("amount"),
        _compare("t", times) | _nulls("t"),
        _compare("d", days) | _nulls("d"),
        st.builds(lambda k, neg: f"{k} {'NOT IN' if neg else 'IN'} top", top_key, st.booleans()),
        _nulls("top"),
        st.builds(
            lambda op, p: f"city {op} {p}", st.sampled_from(["LIKE", "NOT LIKE", "ILIKE"]), pattern
        ),
    )


def expressions(max_leaves: int = 8) -> st.SearchStrategy[str]:
    """Random trees of conditions with AND, OR, NOT and parentheses."""
    return st.recursive(
        conditions(),
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
            st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
            st.builds(lambda a: f"NOT ({a})", inner),
        ),
        max_leaves=max_leaves,
    )
