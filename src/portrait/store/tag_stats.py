"""Per-build tag statistics (``tag_stats``) and the quality reads over a snapshot.

A build stores every tag's coverage and distribution once, in a few passes over its snapshot;
the quality report compares them between builds, and checks tags against each other and, on
the simulator, against the users' known traits (``truth_users``).

A personal-data tag (``pii: true``) gets its coverage only: no mean, minimum, median, maximum
nor distribution is stored (they are single persons' values: the oldest birth date, the most
common street...), and what an older version stored for it is cleared by the next build.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from pydantic import BaseModel, ConfigDict

from portrait.store.profiles import quoted
from portrait.store.warehouse import Warehouse
from portrait.tags.model import TagDef

NUMERIC = {"int", "float", "timestamp"}
CATEGORICAL = {"enum", "bool", "text"}


class TagStats(BaseModel):
    """Coverage and distribution of one tag in one build (numbers: epoch seconds for times)."""

    model_config = ConfigDict(frozen=True)

    persons: int
    non_null: int
    coverage: float
    mean: float | None = None
    stddev: float | None = None
    min: float | None = None
    p50: float | None = None
    max: float | None = None
    distribution: dict[str, float] | None = None  # value -> share, the 12 most common

    def coverage_only(self) -> TagStats:
        """These statistics without the values (those of a personal-data tag)."""
        return self.model_copy(update=dict.fromkeys(_VALUE_FIELDS))


_VALUE_FIELDS = ("mean", "stddev", "min", "p50", "max", "distribution")


def compute_stats(wh: Warehouse, tags: Sequence[TagDef], snapshot: str, build_id: str) -> None:
    """Coverage and distribution of every tag of a snapshot, in a few passes."""
    persons = wh.fetchone(f"SELECT count(*) FROM {snapshot}")[0]
    aggs = []
    for t in tags:
        c = quoted(t.id)
        aggs.append(f"count({c})")
        if t.type in NUMERIC and not t.pii:
            x = f"epoch({c})" if t.type == "timestamp" else f"CAST({c} AS DOUBLE)"
            aggs += [f"avg({x})", f"stddev_samp({x})", f"min({x})", f"median({x})", f"max({x})"]
        else:
            aggs += ["NULL", "NULL", "NULL", "NULL", "NULL"]
    row = wh.fetchone(f"SELECT {', '.join(aggs) or '1'} FROM {snapshot}") if tags else ()
    records = []
    for i, t in enumerate(tags):
        non_null, mean, sd, lo, med, hi = row[i * 6 : i * 6 + 6]
        dist = None
        if t.type in CATEGORICAL and non_null and not t.pii:  # pii: coverage only
            dist = _distribution(wh, snapshot, quoted(t.id), non_null)
        elif t.type == "top" and non_null and not t.pii:
            dist = _distribution(wh, snapshot, f"{quoted(t.id)}[1].key", non_null)
        cov = non_null / persons if persons else 0.0
        records.append([build_id, t.id, persons, non_null, cov, mean, sd, lo, med, hi, dist])
    wh.executemany("INSERT INTO tag_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", records)
    clear_values(wh, [t.id for t in tags if t.pii])


def clear_values(wh: Warehouse, tag_ids: Sequence[str]) -> None:
    """Forget the values stored in any build's statistics of these (personal-data) tags."""
    if tag_ids:
        wh.execute(
            f"UPDATE tag_stats SET {', '.join(f'{c} = NULL' for c in _VALUE_FIELDS)} "
            f"WHERE tag_id IN (SELECT unnest(?::VARCHAR[])) AND NOT ("
            f"{' AND '.join(f'{c} IS NULL' for c in _VALUE_FIELDS)})",
            [list(tag_ids)],
        )


def _distribution(wh: Warehouse, snapshot: str, expr: str, non_null: int, k: int = 12) -> str:
    rows = wh.fetchall(
        f"SELECT CAST({expr} AS VARCHAR) AS v, count(*) AS n FROM {snapshot} "
        f"WHERE {expr} IS NOT NULL GROUP BY 1 ORDER BY n DESC, v LIMIT {k}"
    )
    return json.dumps({str(v): round(n / non_null, 6) for v, n in rows}, ensure_ascii=False)


def stats(wh: Warehouse, build_id: str, pii: Collection[str] = ()) -> dict[str, TagStats]:
    """Tag id -> its statistics in a build (coverage only for the ``pii`` tags, whatever a
    build made by an older version stored)."""
    cols = tuple(TagStats.model_fields)
    rows = wh.fetchall(
        f"SELECT tag_id, {', '.join(cols)} FROM tag_stats WHERE build_id = ?", [build_id]
    )
    out = {}
    for r in rows:
        d = dict(zip(cols, r[1:], strict=True))
        d["distribution"] = json.loads(d["distribution"]) if d["distribution"] else None
        out[r[0]] = TagStats(**d) if r[0] not in pii else TagStats(**d).coverage_only()
    return out


def agreement(wh: Warehouse, snapshot: str, a: str, b: str) -> tuple[int, float | None]:
    """Persons with both tags set, and the share on which they agree."""
    qa, qb = quoted(a), quoted(b)
    n, same = wh.fetchone(
        f"SELECT count(*), avg(CASE WHEN CAST({qa} AS VARCHAR) = CAST({qb} AS VARCHAR) "
        f"THEN 1.0 ELSE 0.0 END) FROM {snapshot} WHERE {qa} IS NOT NULL AND {qb} IS NOT NULL"
    )
    return n, same


# --- simulator ground truth -----------------------------------------------------------------
def persona_confusion(
    wh: Warehouse, snapshot: str, tag: str, label: str
) -> tuple[int, int, int, int, int, int]:
    """(truth users, with evidence, tp, fp, fn among those with evidence, truth positives)."""
    q = quoted(tag)
    return wh.fetchone(
        f"""SELECT count(*),
                   count(p.{q}),
                   count(*) FILTER (p.{q} AND list_contains(t.personas, ?)),
                   count(*) FILTER (p.{q} AND NOT list_contains(t.personas, ?)),
                   count(*) FILTER (NOT p.{q} AND list_contains(t.personas, ?)),
                   count(*) FILTER (list_contains(t.personas, ?))
            FROM truth_users t JOIN {snapshot} p ON p.person_id = t.user_id""",
        [label, label, label, label],
    )


def affinity_hits(
    wh: Warehouse, snapshot: str, tag: str, min_orders: int
) -> tuple[int, float | None, float | None]:
    """Users with min_orders+ orders; share whose true top category is in the tag's top-N
    list, and share for whom it is the first."""
    q = quoted(tag)
    return wh.fetchone(
        f"""SELECT count(*),
                   avg(CASE WHEN list_contains(list_transform(p.{q}, lambda x: x.key),
                                               t.top_category) THEN 1.0 ELSE 0.0 END),
                   avg(CASE WHEN p.{q}[1].key = t.top_category THEN 1.0 ELSE 0.0 END)
            FROM truth_users t JOIN {snapshot} p ON p.person_id = t.user_id
            WHERE p.orders_total >= ?""",
        [min_orders],
    )
