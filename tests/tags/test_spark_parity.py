"""DuckDB and PySpark build the same profile: every tag of every person, compared value by value.

The shop spans a daylight-saving change in the build's time zone, so local calendar fields
(hour, weekday, day) are exercised across two UTC offsets; the build date falls before the last
event, so both engines must leave later events out; and model scores are filled for part of the
population, so the model tags and the rules over them are compared too.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest

from portrait.datasets.simulator import simulate
from portrait.tags.build import Builder
from portrait.tags.catalog import Catalog, load_catalog
from portrait.workspace import Workspace

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TIMEZONE = "America/New_York"  # daylight saving starts 2025-03-09, inside the shop's period
START = date(2025, 2, 1)
AS_OF = date(2025, 3, 25)  # a week before the last simulated day
REL_TOL = 1e-9
MIN_PERSONS = 200
MIN_NON_NULL_SHARE = 0.9  # of the catalog's tags, each must have a value for someone


def spark_missing() -> str | None:
    """Why the PySpark backend cannot run here, or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None:
        return "java is not on PATH (PySpark needs Java 17+; .ci/run installs it)"
    return None


def model_scores(ws: Workspace, catalog: Catalog) -> int:
    """Deterministic scores for about half the persons, for every model tag."""
    persons = [r[0] for r in ws.warehouse.fetchall("SELECT DISTINCT person_id FROM identity_map")]
    rows = []
    for person in sorted(persons):
        h = int(hashlib.sha256(person.encode()).hexdigest()[:12], 16)
        if h % 2:
            continue
        for t in catalog:
            if t.model is None:
                continue
            if t.type == "top":  # stored flat, as write_scores does: tag__k0, tag__w0, ...
                for i in range(2):
                    rows.append([person, f"{t.id}__k{i}", f"key{(h + i) % 5}", t.model.model])
                    rows.append([person, f"{t.id}__w{i}", repr(0.9 - i / 4), t.model.model])
                continue
            # float scores carry more digits than a build keeps
            value = repr((h % 1_000_003) / 1_000_003)
            if t.type == "enum":
                value = t.values[h % len(t.values)]
            elif t.type == "int":
                value = str(h % 7)
            elif t.type == "bool":
                value = "true" if h % 3 else "false"
            elif t.type == "date":
                value = (AS_OF + timedelta(days=h % 90)).isoformat()
            rows.append([person, t.id, value, t.model.model])
    ws.warehouse.executemany("INSERT INTO model_scores VALUES (?, ?, ?, ?, now())", rows)
    return len(rows)


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The same build run by DuckDB and by PySpark, both read into Arrow."""
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("parity")
    ws = Workspace.init(tmp / "ws")
    ws.ingest_dataset(simulate(tmp / "shop", users=300, days=60, seed=11, start=START))
    catalog = load_catalog()
    scores = model_scores(ws, catalog)
    builder = Builder(ws.warehouse, catalog, TIMEZONE, cipher=ws.pii)  # ages need birth dates
    out: dict[str, Any] = {"catalog": catalog, "scores": scores}
    for backend in ("duckdb", "pyspark"):
        result = builder.run(as_of=AS_OF, backend=backend, full=True)
        # a second build of the same date replaces the snapshot table: read it now
        out[backend] = ws.warehouse.arrow(f"SELECT * FROM {result.snapshot} ORDER BY person_id")
        out[f"{backend}_result"] = result
    yield out
    ws.close()


def by_person(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {row["person_id"]: row for row in table.to_pylist()}


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0)
    return a == b and type(a) is type(b)


def test_same_persons(profiles) -> None:
    duck, spark = profiles["duckdb"], profiles["pyspark"]
    assert profiles["pyspark_result"].backend == "pyspark"
    assert duck.num_rows == spark.num_rows >= MIN_PERSONS
    assert profiles["duckdb_result"].persons == profiles["pyspark_result"].persons
    duck_ids = set(duck.column("person_id").to_pylist())
    spark_ids = set(spark.column("person_id").to_pylist())
    assert duck_ids == spark_ids, (
        f"only in duckdb: {sorted(duck_ids - spark_ids)[:5]}, "
        f"only in pyspark: {sorted(spark_ids - duck_ids)[:5]}"
    )


def test_same_columns_and_types(profiles) -> None:
    duck, spark = profiles["duckdb"], profiles["pyspark"]
    catalog = profiles["catalog"]
    assert duck.column_names == spark.column_names == ["person_id", *(t.id for t in catalog)]
    differ = [
        f"{f.name}: duckdb {f.type}, pyspark {spark.schema.field(f.name).type}"
        for f in duck.schema
        if f.type != spark.schema.field(f.name).type
    ]
    assert not differ, "column types differ:\n" + "\n".join(differ)


def test_tags_are_not_vacuous(profiles) -> None:
    """Enough tags have values that the comparison below means something."""
    duck, catalog = profiles["duckdb"], profiles["catalog"]
    empty = [t.id for t in catalog if duck.column(t.id).null_count == duck.num_rows]
    assert len(empty) <= (1 - MIN_NON_NULL_SHARE) * len(catalog), f"tags with no value: {empty}"
    filled_groups = {t.group for t in catalog if t.id not in empty}
    assert filled_groups == {t.group for t in catalog}, f"tags with no value: {empty}"
    filled = {(t.type, t.kind) for t in catalog if t.id not in empty}
    assert filled == {(t.type, t.kind) for t in catalog}, f"tags with no value: {empty}"
    assert profiles["scores"] > 0
    assert all(duck.column(t.id).null_count < duck.num_rows for t in catalog if t.model)


def test_every_tag_matches(profiles) -> None:
    """Exact for everything but floats (relative 1e-9); names each differing tag and person."""
    duck, spark = by_person(profiles["duckdb"]), by_person(profiles["pyspark"])
    differ: dict[str, list[str]] = defaultdict(list)
    for person, d in duck.items():
        s = spark.get(person)
        if s is None:
            continue  # test_same_persons reports these
        for tag, value in d.items():
            if not same_value(value, s[tag]):
                differ[tag].append(f"person {person}: duckdb={value!r} pyspark={s[tag]!r}")
    compared = len(profiles["catalog"])
    report = [
        f"{tag}: {len(cases)} of {len(duck)} persons differ, e.g.\n    " + "\n    ".join(cases[:3])
        for tag, cases in sorted(differ.items())
    ]
    assert not differ, (
        f"{len(differ)} of {compared} tags differ between DuckDB and PySpark:\n" + "\n".join(report)
    )
