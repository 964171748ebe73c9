"""Sources as SQL relations: Parquet, CSV and JSON lines files, and HTTP batches.

Each function returns the SQL text of a relation (and how to number its records) for the
warehouse to scan. CSV is read as text so that a bad value becomes a quarantined record rather
than a failed load; JSON lines are read one line at a time as text, so a malformed line is
quarantined with its raw text instead of aborting the file.

Before that, a file is checked (:mod:`portrait.ingest.textfiles` for text, the footer for
Parquet): a line that is not UTF-8, holds a NUL byte or is over ``max_line_bytes`` becomes a
quarantined record (read from a temporary copy with that line replaced by a marker, deleted with
the relation); a file that cannot be read at all raises :class:`SourceReadError`, one line
naming the file, what is wrong and the fix. :func:`read_error` says the same of an error the
warehouse meets while scanning a file.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import orjson

from portrait.config import IngestSettings
from portrait.ingest.plan import JSON_EXTRAS, JSON_OK, JSON_TEXT, lit, q
from portrait.ingest.sql import READER_DETAIL, READER_RAW, READER_REASON
from portrait.ingest.textfiles import (
    MARK,
    SEP,
    SourceReadError,
    TextCheck,
    check_text_file,
    compressed_but_unreadable,
    copy_with_markers,
)
from portrait.schema import CANONICAL, OPEN_MAP_COLUMN
from portrait.schema.tables import SYSTEM_COLUMNS

__all__ = [
    "SourceReadError",
    "SourceRelation",
    "UnsupportedSourceError",
    "detect_format",
    "file_relation",
    "json_relation",
    "read_error",
    "record_json",
]

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
    # A temporary copy the relation reads (a file with bad lines): deleted with the relation.
    copy: tempfile.TemporaryDirectory | None = field(default=None, compare=False, repr=False)


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


def file_relation(path: Path, kind: str, settings: IngestSettings | None = None) -> SourceRelation:
    """The relation that reads ``path`` (records of ``kind``), whatever its format.

    Raises FileNotFoundError, UnsupportedSourceError (an unknown format) or SourceReadError (a
    file that cannot be read at all), each one line naming the file and the fix.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise SourceReadError(f"{path}: is a folder; give the files in it")
    fmt = detect_format(path)
    settings = settings or IngestSettings()
    if fmt == "parquet":
        _check_parquet(path)
        rel = SourceRelation(
            sql=f"read_parquet({lit(str(path))}, file_row_number = true)",
            row_number_sql="file_row_number",
            hidden=("file_row_number",),
        )
        _probe(rel, path)
        return rel
    max_line = settings.max_line_bytes
    check = TextCheck(clean=True)
    if not compressed_but_unreadable(path):
        check = check_text_file(path, fmt, max_line)
    copy = None
    source = path
    if not check.clean:
        copy = tempfile.TemporaryDirectory(prefix="portrait-ingest-")
        source = Path(copy.name) / ("source.csv" if fmt == "csv" else "source.jsonl")
        check = copy_with_markers(path, fmt, source, check, max_line, settings.max_raw_length)
        if fmt == "csv":
            with source.open("rb") as f:
                if f.readline().lstrip(b'"').startswith(MARK.encode()):
                    raise SourceReadError(
                        f"{path}: the header line cannot be read (not UTF-8, a NUL byte, or "
                        "too long); export the file as UTF-8 CSV with a header line"
                    )
    # DuckDB's own line limit stays above ours (a longer line never reaches it).
    line_size = f", max_line_size = {max_line + 65536}" if max_line > 1_900_000 else ""
    p = lit(str(source))
    marked = check.bad_lines > 0
    if fmt == "csv":
        delim = "\\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
        # A quoted field over several lines cannot be padded by the parallel reader.
        parallel = ", parallel = false" if check.quoted_newlines else ""
        sql = (
            f"read_csv({p}, all_varchar = true, header = true, delim = {lit(delim)}, "
            f"strict_mode = false, null_padding = true{parallel}{line_size})"
        )
        if marked:
            sql = _unmark_csv(sql, _first_column(sql, path))
        rel = SourceRelation(sql=sql, row_number_sql="row_number() OVER () - 1", copy=copy)
        _probe(rel, path)
        return rel
    # Lines are numbered before blank ones are skipped, so record_index is the line number
    # (0-based); a blank line is not a record, as in CSV.
    lines = (
        f"(SELECT * FROM (SELECT line, row_number() OVER () - 1 AS _line FROM "
        f"read_csv({p}, columns = {{'line': 'VARCHAR'}}, header = false, delim = E'\\x01', "
        f"quote = '', escape = '', auto_detect = false{line_size})) "
        "WHERE trim(coalesce(line, '')) <> '')"
    )
    passthrough: tuple[str, ...] = ()
    if marked:
        lines = _unmark_lines(lines)
        passthrough = (READER_REASON, READER_DETAIL, READER_RAW)
    rel = json_relation(lines, "line", "_line", kind, passthrough=passthrough)
    rel = SourceRelation(rel.sql, rel.row_number_sql, rel.hidden, copy=copy)
    _probe(rel, path)
    return rel


def _marker_parts(col: str) -> tuple[str, str, str, str]:
    """(is a marker, reason, detail, raw) of a text column holding a marker line."""
    is_marker = f"starts_with({col}, {lit(MARK + SEP)})"

    def part(i: int) -> str:
        return f"CASE WHEN {is_marker} THEN split_part({col}, {lit(SEP)}, {i}) END"

    raw = (
        f"CASE WHEN {is_marker} THEN substr({col}, "
        f"length(split_part({col}, {lit(SEP)}, 1)) + length(split_part({col}, {lit(SEP)}, 2)) "
        f"+ length(split_part({col}, {lit(SEP)}, 3)) + 4) END"
    )
    return is_marker, part(2), part(3), raw


def _unmark_lines(lines: str) -> str:
    is_marker, reason, detail, raw = _marker_parts("line")
    return (
        f"(SELECT CASE WHEN {is_marker} THEN NULL ELSE line END AS line, _line, "
        f"{reason} AS {READER_REASON}, {detail} AS {READER_DETAIL}, {raw} AS {READER_RAW} "
        f"FROM {lines})"
    )


def _unmark_csv(sql: str, first: str) -> str:
    col = q(first)
    is_marker, reason, detail, raw = _marker_parts(col)
    return (
        f"(SELECT * REPLACE (CASE WHEN {is_marker} THEN NULL ELSE {col} END AS {col}), "
        f"{reason} AS {READER_REASON}, {detail} AS {READER_DETAIL}, {raw} AS {READER_RAW} "
        f"FROM {sql})"
    )


def _first_column(sql: str, path: Path) -> str:
    try:
        with duckdb.connect() as con:
            return con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()[0][0]
    except duckdb.Error as e:
        raise read_error(str(path), e) or e from None


def _probe(rel: SourceRelation, path: Path) -> None:
    """Let DuckDB open the relation (a CSV's dialect is sniffed here, a Parquet footer read)
    on a connection of its own, so that a file it cannot open is said plainly."""
    try:
        with duckdb.connect() as con:
            con.execute(f"DESCRIBE SELECT * FROM {rel.sql}").fetchall()
    except duckdb.Error as e:
        raise read_error(str(path), e) or e from None


def _check_parquet(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(max(0, size - 4))
        tail = f.read(4)
    if size == 0:
        raise SourceReadError(f"{path}: is empty (0 bytes), not a Parquet file; write it again")
    if head != b"PAR1":
        what = "gzip-compressed data" if head[:2] == b"\x1f\x8b" else "not Parquet"
        raise SourceReadError(
            f"{path}: is {what} (no Parquet header); name the file after its format "
            "(.csv, .jsonl, .gz) or export it as Parquet again"
        )
    if size < 12 or tail != b"PAR1":
        raise SourceReadError(
            f"{path}: is truncated: it has no Parquet footer ({size:,} bytes; an interrupted "
            "copy or write?); copy or export it again"
        )
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except Exception as e:  # pyarrow raises several kinds for a bad footer
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise SourceReadError(
            f"{path}: has a damaged Parquet footer ({first}); copy or export it again"
        ) from None


_READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException)


def read_error(source: str, error: BaseException) -> SourceReadError | None:
    """The one-line SourceReadError for an error the warehouse met reading file ``source``;
    None when ``error`` is not about reading a file (a bug elsewhere is not hidden)."""
    if not isinstance(error, _READ_ERRORS) or not Path(source).is_absolute():
        return None
    text = str(error)
    first = re.sub(r"^[A-Za-z ]+Error: ", "", text.strip().splitlines()[0] if text else "")
    first = first[:200] + ("..." if len(first) > 200 else "")
    if "not a GZIP stream" in text or "Not a gzip" in text:
        return SourceReadError(
            f"{source}: is not gzip-compressed although its name ends in .gz; rename it "
            "without .gz (or compress it with gzip)"
        )
    if "GZIP" in text.upper() or "zstd" in text.lower():
        return SourceReadError(
            f"{source}: the compressed data is truncated or damaged ({first}); nothing was "
            "stored; copy or download the file again"
        )
    if "too small to be a Parquet file" in text or "magic bytes" in text:
        return SourceReadError(
            f"{source}: is empty or truncated: it is not a whole Parquet file; copy or export "
            "it again"
        )
    if "parquet" in text.lower() or source.lower().endswith((".parquet", ".pq")):
        return SourceReadError(
            f"{source}: cannot be read as Parquet ({first}); export it again, or as CSV"
        )
    return SourceReadError(f"{source}: cannot be read ({first}); check the file's format")


def record_json(record: object) -> str:
    """One record as JSON text for the JSON path, whatever it holds: an integer beyond 64 bits
    or a lone surrogate, which orjson refuses, is written by the standard library instead (the
    record is then quarantined or stored like any other, never a crash)."""
    try:
        return orjson.dumps(record, default=str).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(record, default=str)


def json_relation(
    relation: str,
    text_column: str,
    row_number_sql: str,
    kind: str,
    passthrough: tuple[str, ...] = (),
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
    keep = "".join(f", {q(c)}" for c in passthrough)  # the reader's columns, if any
    sql = (
        f"(SELECT {JSON_TEXT}, {JSON_OK}, _n, {', '.join(fields)}, {extras} AS {JSON_EXTRAS}"
        f"{keep} FROM (SELECT {JSON_TEXT}, {JSON_OK}, _n{keep}, "
        f"CASE WHEN {JSON_OK} THEN json_transform({JSON_TEXT}, {spec}) END AS _j "
        f"FROM (SELECT {line} AS {JSON_TEXT}, {row_number_sql} AS _n{keep}, "
        f"CASE WHEN json_valid({line}) THEN json_type({line}) = 'OBJECT' ELSE false END "
        f"AS {JSON_OK} FROM {relation})))"
    )
    return SourceRelation(sql=sql, row_number_sql="_n", hidden=("_n",))
