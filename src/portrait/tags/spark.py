"""Run the compiled catalog on Apache Spark (PySpark) through Ibis's PySpark backend.

The canonical tables are exported from the warehouse as Parquet, read by Spark as temporary
views, and the very same expressions that DuckDB runs are executed by Spark. The session runs
in UTC; tags only use epoch seconds and integer arithmetic for time, so results match DuckDB's.

The event and user sources (joins with identity and products, local calendar fields) are
computed once and cached in Spark before the catalog is compiled over them: the profile reads
the event source in dozens of places (every ranked tag is a branch of a union), and Spark,
unlike DuckDB, would otherwise recompute the joins for each of them.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from portrait.store.pii import BUILD_USERS
from portrait.store.profile_build import export_parquet
from portrait.store.warehouse import Warehouse
from portrait.tags.catalog import Catalog
from portrait.tags.compile import Sources, compile_facts, compile_rules
from portrait.tags.sources import AsOf, event_source, user_source

TABLES = ("events", "products", "users", "identity_map", "model_scores")


class SparkUnavailableError(RuntimeError):
    """PySpark or Java is missing."""


def spark_session(app: str = "portrait") -> Any:
    """A local Spark session in UTC (``PORTRAIT_SPARK_MASTER`` overrides ``local[*]``), quiet:
    no UI, no console progress bars, errors only in the log."""
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
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("PORTRAIT_SPARK_MEMORY", "4g"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # a profile pipelines some thirty aggregations and joins in one stage; with the
        # default page size their hash maps exhaust a task's execution memory
        .config("spark.buffer.pageSize", os.environ.get("PORTRAIT_SPARK_PAGE_SIZE", "2m"))
    )
    try:
        session = builder.getOrCreate()
    except Exception as e:  # pragma: no cover - depends on the environment
        raise SparkUnavailableError(f"could not start Spark (is Java 17+ installed?): {e}") from e
    session.sparkContext.setLogLevel("ERROR")
    # One shuffle partition per core (PORTRAIT_SPARK_PARTITIONS overrides): a profile makes
    # dozens of small shuffles, and each extra partition is one more task for each of them.
    partitions = os.environ.get("PORTRAIT_SPARK_PARTITIONS")
    session.conf.set(
        "spark.sql.shuffle.partitions", partitions or str(session.sparkContext.defaultParallelism)
    )
    return session


@contextmanager
def _cached_views(session: Any, con: Any, exprs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each Ibis expression computed once, cached in Spark and read back as a table.

    The rows are hash-partitioned by ``person_id`` (into as many parts as a shuffle makes), so
    the many aggregates by person read the cache without shuffling it again. The cache is
    filled eagerly (``count``): a lazily cached plan read by several concurrent stages of one
    job may still be computed by each of them.
    """
    tag = uuid.uuid4().hex[:8]
    parts = int(session.conf.get("spark.sql.shuffle.partitions"))
    frames: dict[str, Any] = {}
    try:
        tables = {}
        for name, expr in exprs.items():
            view = f"portrait_{name}_{tag}"
            frame = session.sql(con.compile(expr)).repartition(parts, "person_id").cache()
            frames[view] = frame
            frame.count()
            frame.createOrReplaceTempView(view)
            tables[name] = con.table(view)
        yield tables
    finally:
        for view, frame in frames.items():
            session.catalog.dropTempView(view)
            frame.unpersist()


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
            # users through the build's view: birth dates decrypted, in this temporary folder
            export_parquet(wh, BUILD_USERS if name == "users" else name, path)
            session.read.parquet(str(path)).createOrReplaceTempView(f"portrait_{name}")
        timings["export"] = time.perf_counter() - tick
        tick = time.perf_counter()

        def table(name: str) -> Any:
            return con.table(f"portrait_{name}")

        sources = {
            "events": event_source(
                table("events"), table("products"), table("identity_map"), offsets
            ),
            "users": user_source(table("users"), table("identity_map")),
        }
        with _cached_views(session, con, sources) as cached:
            timings["sources"] = time.perf_counter() - tick
            tick = time.perf_counter()
            src = Sources(
                events=cached["events"], users=cached["users"], scores=table("model_scores")
            )
            expr = compile_rules(catalog, compile_facts(catalog, src, as_of), as_of, src)
            result = con.to_pyarrow(expr)
        timings["compute"] = time.perf_counter() - tick
    return result
