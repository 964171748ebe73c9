"""Sources as SQL relations: Parquet, CSV and JSON lines files, and HTTP batches.

Nothing here reads data: each function returns the SQL text of a relation (and how to number its
records) for the warehouse to scan. CSV is read as text so that a bad value becomes a quarantined
record rather than a failed load; JSON lines are read one line at a time as text, so a malformed
line is quarantined with its raw text instead of aborting the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from portrait.ingest.plan import JSON_EXTRAS, JSON_OK, JSON_TEXT, lit, q
from portrait.schema import CANONICAL, OPEN_MAP_COLUMN
from portrait.schema.tables import SYSTEM_COLUMNS

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
COMPRESSIONS = (".gz", ".zst")


class UnsupportedSourceError(ValueError):
    """A file whose format Portrait cannot read."""


@dataclass(frozen=True)
class SourceRelation:
    """SQL for a source relation, and the expression that numbers its records from 0."""

    sql: str
    row_number_sql: str
    hidden: tuple[str, ...] = ()  # columns of the relation that are not source fields


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise UnsupportedSourceError(
            f"{path}: cannot tell the format from the name; use a .parquet, .csv, .tsv or "
            ".jsonl file (optionally .gz)"
        )
    return fmt


def file_relation(path: Path, kind: str) -> SourceRelation:
    """The relation that reads ``path`` (records of ``kind``), whatever its format."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    fmt = detect_format(path)
    p = lit(str(path))
    if fmt == "parquet":
        return SourceRelation(
            sql=f"read_parquet({p}, file_row_number = true)",
            row_number_sql="file_row_number",
            hidden=("file_row_number",),
        )
    if fmt == "csv":
        delim = "\\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
        return SourceRelation(
            sql=f"read_csv({p}, all_varchar = true, header = true, delim = {lit(delim)}, "
            "strict_mode = false, null_padding = true)",
            row_number_sql="row_number() OVER () - 1",
        )
    # Lines are numbered before blank ones are skipped, so record_index is the line number
    # (0-based); a blank line is not a record, as in CSV.
    lines = (
        f"(SELECT * FROM (SELECT line, row_number() OVER () - 1 AS _line FROM "
        f"read_csv({p}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x01', "
        "quote = '', escape = '', auto_detect = false)) WHERE trim(coalesce(line, '')) <> '')"
    )
    return json_relation(lines, "line", "_line", kind)


def json_relation(
    relation: str,
    text_column: str,
    row_number_sql: str,
    kind: str,
) -> SourceRelation:
    """Records of ``kind`` held as JSON text, one per row of ``relation``.

    The canonical fields of ``kind`` are extracted as text (absent keys give NULL), all other
    keys are gathered into ``_extras`` (a JSON object, later merged into properties or
    attributes), and ``_json_ok`` says whether the row was a JSON object at all.
    """
    names = [c.name for c in CANONICAL[kind].columns if c.name not in SYSTEM_COLUMNS]
    names.append("currency")
    line = q(text_column)
    # One parse per record: json_transform reads every field at once (numbers and objects
    # arrive as their JSON text, JSON nulls and absent keys as NULL).
    spec = lit(
        "{"
        + ", ".join(
            f'"{n}": "{"JSON" if n in OPEN_MAP_COLUMN.values() else "VARCHAR"}"' for n in names
        )
        + "}"
    )
    fields = [
        f"CAST(_j.{q(n)} AS VARCHAR) AS {q(n)}"
        if n in OPEN_MAP_COLUMN.values()
        else f"_j.{q(n)} AS {q(n)}"
        for n in names
    ]
    # Merge-patching known keys with null removes them (RFC 7396), leaving only the others.
    drop_known = lit("{" + ", ".join(f'"{n}": null' for n in names) + "}")
    extras = (
        f"CASE WHEN {JSON_OK} THEN NULLIF(CAST(json_merge_patch({JSON_TEXT}, {drop_known}) "
        f"AS VARCHAR), '{{}}') END"
    )
    sql = (
        f"(SELECT {JSON_TEXT}, {JSON_OK}, _n, {', '.join(fields)}, {extras} AS {JSON_EXTRAS} "
        f"FROM (SELECT {JSON_TEXT}, {JSON_OK}, _n, "
        f"CASE WHEN {JSON_OK} THEN json_transform({JSON_TEXT}, {spec}) END AS _j "
        f"FROM (SELECT {line} AS {JSON_TEXT}, {row_number_sql} AS _n, "
        f"CASE WHEN json_valid({line}) THEN json_type({line}) = 'OBJECT' ELSE false END "
        f"AS {JSON_OK} FROM {relation})))"
    )
    return SourceRelation(sql=sql, row_number_sql="_n", hidden=("_n",))
