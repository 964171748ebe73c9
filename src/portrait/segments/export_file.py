"""The file a segment export writes: CSV (nested values as JSON text) or Parquet."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc

EXPORT_FORMATS = {".csv": "csv", ".parquet": "parquet"}


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
        return
    import pyarrow.csv as pcsv

    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_list(column.type) or pa.types.is_struct(column.type):
            # nested values (top-N lists) as JSON text in a CSV cell
            column = pa.array(
                [None if v is None else orjson.dumps(v).decode() for v in column.to_pylist()],
                pa.string(),
            )
        columns.append(column if name != "user_id" else pc.cast(column, pa.string()))
    pcsv.write_csv(pa.table(columns, names=table.column_names), path)
