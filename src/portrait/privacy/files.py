"""Files the tool owns that may name a person: erasing them from the files, and finding them.

- **Data files**: exports (the manifest ``export_files``, wherever they were written) and the
  data files in the workspace folder (``sources/``: the simulator's shop and the data sets
  loaded, as Parquet, CSV or JSON lines). Erasure rewrites each one holding a row whose person
  column (``user_id``, ``anonymous_id``, ``person_id``...) is one of the person's identifiers,
  without those rows (a file left with no rows is deleted).
- **The recommender's saved state** (``recs/``): ``users.json`` (the id map: the person's
  entry becomes an unlinkable token, so the model's dense ids stay aligned) and
  ``history.npz`` (the person's rows dropped). What the model learnt of the items (pair counts,
  similarities, popularity) is an anonymous aggregate and is kept until the next training.
- **Searching**: every file of the workspace folder (the warehouse and its WAL, the key and
  audit files, the recommender's files, sources) and every exported file, for each identifier
  known in clear, as UTF-8, UTF-16 and UTF-32 bytes (numpy stores text as UTF-32) and, in
  Parquet files (compressed), in the decoded text; and, for identifiers known only by their
  keyed pseudonym, the person columns and id lists of the data and recommender files.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from portrait.store.erasure import PERSON_COLUMNS, REFERENCE_COLUMNS
from portrait.store.erasure_ledger import new_token
from portrait.store.residue import WORD_CHARS, word_pattern

DATA_SUFFIXES = (".parquet", ".csv", ".jsonl", ".ndjson")
RECS_FOLDER = "recs"
_WORD = re.compile(f"[{WORD_CHARS}]")


def data_files(root: Path, exported: Iterable[Path]) -> list[Path]:
    """The exports that still exist, and the data files under the workspace folder."""
    found = [p for p in exported if p.is_file()]
    found += sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in DATA_SUFFIXES and p.is_file() and RECS_FOLDER not in p.parts
    )
    return list(dict.fromkeys(found))


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    """Write the new content beside ``path`` and swap it in (the old bytes unlinked)."""
    tmp = path.with_name(path.name + ".erasing")
    write(tmp)
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)


def scrub_file(path: Path, ids: set[str]) -> int:
    """Drop the rows of a data file that name one of ``ids`` in a person column, and clear
    the references others' rows make to them (``REFERENCE_COLUMNS``); the rows changed (the
    file is rewritten only when there are some, deleted when no row is left)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _scrub_parquet(path, ids)
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if not rows:
            return 0
        header = rows[0]
        mine = [i for i, c in enumerate(header) if c in PERSON_COLUMNS]
        refs = [i for i, c in enumerate(header) if c in REFERENCE_COLUMNS]
        kept, changed = [header], 0
        for row in rows[1:]:
            if any(i < len(row) and row[i] in ids for i in mine):
                changed += 1
                continue
            if any(i < len(row) and row[i] in ids for i in refs):
                row = [("" if i in refs and v in ids else v) for i, v in enumerate(row)]
                changed += 1
            kept.append(row)
        if changed:
            _replace(path, lambda tmp: _write_csv(tmp, kept))
        return changed
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out, changed = [], 0
    for line in lines:
        record = _json_record(line)
        if record is not None and _names(record, PERSON_COLUMNS, ids):
            changed += 1
            continue
        if record is not None and _names(record, REFERENCE_COLUMNS, ids):
            cleared = {k: (None if k in REFERENCE_COLUMNS and str(v) in ids else v)
                       for k, v in record.items()}  # fmt: skip
            line = json.dumps(cleared, ensure_ascii=False) + "\n"
            changed += 1
        out.append(line)
    if changed:
        _replace(path, lambda tmp: tmp.write_text("".join(out), encoding="utf-8"))
    return changed


def _scrub_parquet(path: Path, ids: set[str]) -> int:
    table = pq.read_table(path)
    wanted = pa.array(sorted(ids), pa.string())

    def hits(c: str) -> pa.ChunkedArray:
        return pc.fill_null(pc.is_in(pc.cast(table[c], pa.string()), wanted), False)

    mine = [hits(c) for c in table.column_names if c in PERSON_COLUMNS]
    drop = functools.reduce(pc.or_, mine) if mine else None
    changed = 0 if drop is None else int(pc.sum(drop).as_py() or 0)
    kept = table if drop is None else table.filter(pc.invert(drop))
    for c in [c for c in kept.column_names if c in REFERENCE_COLUMNS]:
        hit = pc.fill_null(pc.is_in(pc.cast(kept[c], pa.string()), wanted), False)
        n = int(pc.sum(hit).as_py() or 0)
        if n:
            cleared = pc.if_else(hit, pa.scalar(None, kept[c].type), kept[c])
            kept = kept.set_column(kept.column_names.index(c), c, cleared)
            changed += n
    if changed:
        if kept.num_rows == 0:
            path.unlink()
        else:
            _replace(path, lambda tmp: pq.write_table(kept, tmp))
    return changed


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def _json_record(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _names(record: dict, columns: Iterable[str], ids: set[str]) -> bool:
    return any(record.get(c) is not None and str(record[c]) in ids for c in columns)


# --- the recommender's saved state --------------------------------------------------------
def scrub_recs(root: Path, person_id: str) -> list[str]:
    """Take ``person_id`` out of the recommender's saved state; the files changed."""
    folder = root / RECS_FOLDER
    changed: list[str] = []
    users = folder / "users.json"
    if users.exists():
        ids = json.loads(users.read_text())
        if person_id in ids:
            ids[ids.index(person_id)] = new_token()
            _replace(users, lambda tmp: tmp.write_text(json.dumps(ids)))
            changed.append(str(users))
    history = folder / "history.npz"
    if history.exists():
        with np.load(history, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        persons, offsets = arrays["persons"], arrays["offsets"]
        i = int(np.searchsorted(persons, person_id))
        if i < len(persons) and persons[i] == person_id:
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            for k in ("product_codes", "kinds", "ts"):
                arrays[k] = np.concatenate([arrays[k][:lo], arrays[k][hi:]])
            arrays["persons"] = np.delete(persons, i)
            arrays["offsets"] = np.concatenate([offsets[:i], offsets[i + 1 :] - (hi - lo)])

            def write_npz(tmp: Path) -> None:
                with tmp.open("wb") as f:
                    np.savez(f, **arrays)

            _replace(history, write_npz)
            changed.append(str(history))
    meta = folder / "meta.json"
    if changed and meta.exists():  # touched last: a server reloads the files (its mtime)
        _replace(meta, lambda tmp: tmp.write_text(meta.read_text()))
    return changed


# --- searching ----------------------------------------------------------------------------
def _word_hits(data: bytes, needle: str, encoding: str) -> int:
    """Occurrences of ``needle`` encoded as ``encoding`` in ``data``: as a whole word in
    UTF-8; in UTF-16 and UTF-32 (numpy's fixed-width text, where values touch) anywhere."""
    raw = needle.encode(encoding)
    if encoding != "utf-8":
        return data.count(raw)
    width = len("a".encode(encoding))
    n, at = 0, data.find(raw)
    while at >= 0:
        before = data[at - width : at].decode(encoding, "ignore") if at >= width else ""
        end = at + len(raw)
        after = data[end : end + width].decode(encoding, "ignore")
        if not _WORD.fullmatch(before or " ") and not _WORD.fullmatch(after or " "):
            n += 1
        at = data.find(raw, at + 1)
    return n


def byte_mentions(path: Path, identifiers: Iterable[str]) -> int:
    """Mentions of the identifiers in a file's bytes (UTF-8, UTF-16, UTF-32), and in the
    decoded text of a Parquet file."""
    ids = list(identifiers)
    data = path.read_bytes()
    n = sum(_word_hits(data, i, e) for i in ids for e in ("utf-8", "utf-16-le", "utf-32-le"))
    if path.suffix.lower() == ".parquet" and ids:
        table = pq.read_table(path)
        pattern = "|".join(word_pattern(i) for i in ids)
        for column in table.columns:
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                n += int(pc.sum(pc.match_substring_regex(column, pattern)).as_py() or 0)
    return n


def id_values(path: Path) -> list[str]:
    """The person identifiers a data or recommender file lists (for pseudonym matching)."""
    suffix = path.suffix.lower()
    values: set[str] = set()
    if path.name == "users.json" and path.parent.name == RECS_FOLDER:
        values.update(str(v) for v in json.loads(path.read_text()))
    elif path.name == "history.npz":
        with np.load(path, allow_pickle=False) as z:
            values.update(str(v) for v in z["persons"])
    elif suffix == ".parquet":
        schema = pq.read_schema(path)
        columns = [c for c in schema.names if c in PERSON_COLUMNS]
        if columns:
            table = pq.read_table(path, columns=columns)
            for c in columns:
                values.update(str(v) for v in pc.unique(table[c]).to_pylist() if v is not None)
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            for row in reader:
                values.update(v for c, v in row.items() if c in PERSON_COLUMNS and v)
    elif suffix in (".jsonl", ".ndjson"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                values.update(str(record[c]) for c in PERSON_COLUMNS if record.get(c) is not None)
    return sorted(values)


def workspace_files(root: Path, exported: Iterable[Path]) -> list[Path]:
    """Every file in the workspace folder, and every exported file that still exists."""
    found = sorted(p for p in root.rglob("*") if p.is_file())
    return list(dict.fromkeys([*found, *(p for p in exported if p.is_file())]))
