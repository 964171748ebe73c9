"""Run the compiled catalog on Apache Spark (PySpark) through Ibis's PySpark backend.

The canonical tables are exported from the warehouse as Parquet, read by Spark as temporary
views, and the very same expressions that DuckDB runs are executed by Spark. The session runs
in UTC; tags only use epoch seconds and integer arithmetic for time, so results match DuckDB's.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from portrait.store.warehouse import Warehouse
from portrait.tags.catalog import Catalog
from portrait.tags.compile import Sources, compile_facts, compile_rules
from portrait.tags.sources import AsOf, event_source, user_source

TABLES = ("events", "products", "users", "identity_map", "model_scores")


class SparkUnavailableError(RuntimeError):
    """PySpark or Java is missing."""


def spark_session(app: str = "portrait") -> Any:
    """A local Spark session in UTC (``PORTRAIT_SPARK_MASTER`` overrides ``local[*]``)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise SparkUnavailableError(
            "the pyspark backend needs PySpark and Java 17+: pip install 'portrait[spark]' "
            "and install a JDK (apt-get install openjdk-17-jre-headless)"
        ) from e
    builder = (
        SparkSession.builder.appName(app)
        .master(os.environ.get("PORTRAIT_SPARK_MASTER", "local[*]"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", os.environ.get("PORTRAIT_SPARK_PARTITIONS", "8"))
        .config("spark.driver.memory", os.environ.get("PORTRAIT_SPARK_MEMORY", "4g"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    try:
        session = builder.getOrCreate()
    except Exception as e:  # pragma: no cover - depends on the environment
        raise SparkUnavailableError(f"could not start Spark (is Java 17+ installed?): {e}") from e
    session.sparkContext.setLogLevel("ERROR")
    return session


def run_on_spark(
    wh: Warehouse,
    catalog: Catalog,
    as_of: AsOf,
    offsets: list[tuple[int, int]],
    timings: dict[str, float],
) -> pa.Table:
    """The profile computed by Spark, as an Arrow table of flat engine columns."""
    import ibis

    session = spark_session()
    con = ibis.pyspark.connect(session)
    with tempfile.TemporaryDirectory(prefix="portrait-spark-") as tmp:
        tick = time.perf_counter()
        for name in TABLES:
            path = Path(tmp) / f"{name}.parquet"
            with wh.lock:
                wh.con.execute(f"COPY (SELECT * FROM {name}) TO '{path}' (FORMAT parquet)")
            session.read.parquet(str(path)).createOrReplaceTempView(f"portrait_{name}")
        timings["export"] = time.perf_counter() - tick
        tick = time.perf_counter()

        def table(name: str) -> Any:
            return con.table(f"portrait_{name}")

        src = Sources(
            events=event_source(table("events"), table("products"), table("identity_map"), offsets),
            users=user_source(table("users"), table("identity_map")),
            scores=table("model_scores"),
        )
        expr = compile_rules(catalog, compile_facts(catalog, src, as_of), as_of, src)
        result = con.to_pyarrow(expr)
        timings["compute"] = time.perf_counter() - tick
    return result
