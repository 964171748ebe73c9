"""What a data set adapter or the simulator hands to the workspace: canonical Parquet files.

Adapters never touch the warehouse. They convert a source into Parquet files whose columns are
the canonical source columns (``source_schema(kind)``), and the workspace ingests those files
through the one validation path, so a public data set's bad rows land in quarantine like any
other source's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from portrait.schema import source_columns

KINDS_IN_ORDER = ("users", "products", "events")


def source_schema(kind: str) -> pa.Schema:
    """The Arrow schema of a canonical source file of ``kind`` (users, products or events)."""
    return pa.schema([pa.field(c.name, c.type) for c in source_columns(kind)])


def empty_columns(kind: str, n: int) -> dict[str, pa.Array]:
    """All-null columns of the right types for ``n`` rows, to fill what a source lacks."""
    return {c.name: pa.nulls(n, c.type) for c in source_columns(kind)}


def conform(kind: str, columns: dict[str, pa.Array | list]) -> pa.Table:
    """Build a table with exactly the canonical columns of ``kind``; missing ones are null.

    Raises ``KeyError`` naming a column that is not canonical, so adapters cannot invent fields
    (put those in the JSON ``attributes``/``properties`` column instead).
    """
    schema = source_schema(kind)
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise KeyError(f"not canonical {kind} columns: {sorted(unknown)}")
    n = None
    for v in columns.values():
        n = len(v)
        break
    if n is None:
        raise ValueError("conform() needs at least one column")
    arrays = []
    for f in schema:
        v = columns.get(f.name)
        arrays.append(
            pa.nulls(n, f.type)
            if v is None
            else pa.array(v, type=f.type)
            if not isinstance(v, pa.Array | pa.ChunkedArray)
            else v.cast(f.type)
        )
    return pa.Table.from_arrays(arrays, schema=schema)


@dataclass
class DatasetFiles:
    """Canonical Parquet files produced by an adapter or the simulator, ready to ingest."""

    name: str
    users: list[Path] = field(default_factory=list)
    products: list[Path] = field(default_factory=list)
    events: list[Path] = field(default_factory=list)
    # Side tables that are not canonical input (e.g. the simulator's ground truth), by name.
    extra: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def in_ingest_order(self) -> list[tuple[str, Path]]:
        """(kind, path) pairs: users first, then products, then events."""
        return [(kind, p) for kind in KINDS_IN_ORDER for p in getattr(self, kind)]


class DatasetMissingError(FileNotFoundError):
    """A public data set's files are not where they were looked for."""


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def write_canonical(con: duckdb.DuckDBPyConnection, kind: str, query: str, path: Path) -> int:
    """Run ``query`` and write its rows as a canonical ``kind`` Parquet file; return the count."""
    tbl = con.sql(query).to_arrow_table()
    out = conform(kind, {name: tbl.column(name) for name in tbl.column_names})
    pq.write_table(out, path)
    return out.num_rows


def converter(out_dir: Path) -> duckdb.DuckDBPyConnection:
    """A scratch in-memory DuckDB (UTC) for a conversion, with ``out_dir`` created.

    Conversions read source files and write canonical files; they never touch a warehouse.
    """
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def load_text_csv(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    required: tuple[str, ...],
    what: str,
    upper: bool,
) -> str:
    """Read a CSV (optionally gzipped) as text into table ``raw`` (file order kept, so
    rowid + 1 is the 1-based data row number); return a SELECT list renaming its columns to
    their normalised names (BOM, spaces and quotes stripped; upper or lower case).

    Raises ValueError naming the missing columns when the file is not a ``what`` file.
    """
    con.execute(
        f"CREATE TABLE raw AS SELECT * FROM read_csv({sql_str(str(source))}, "
        "all_varchar = true, header = true, delim = ',', quote = '\"', escape = '\"')"
    )
    cols = [r[0] for r in con.sql("DESCRIBE raw").fetchall()]
    clean = [c.lstrip("\ufeff").strip().strip('"') for c in cols]
    renames = dict(zip(cols, (c.upper() if upper else c.lower() for c in clean), strict=True))
    missing = [c for c in required if c not in renames.values()]
    if missing:
        raise ValueError(f"{source} is not {what}: missing columns {missing} (has {cols})")
    return ", ".join(f'"{old}" AS "{new}"' for old, new in renames.items())
