"""The manifest of files exports wrote (``export_files``, migration 12): erasure rewrites
them without the erased person, and the residue check searches them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from portrait.store.warehouse import Warehouse


def record_export(wh: Warehouse, path: str | Path, kind: str, name: str | None, rows: int) -> None:
    """Remember a file an export wrote (a read-only warehouse cannot: nothing is recorded)."""
    if wh.read_only:
        return
    wh.execute(
        "INSERT OR REPLACE INTO export_files VALUES (?, ?, ?, ?, ?)",
        [str(Path(path).resolve()), kind, name, rows, datetime.now(UTC)],
    )


def exported_files(wh: Warehouse) -> list[Path]:
    """Every file an export wrote (that may still exist), in the order written."""
    return [Path(r[0]) for r in wh.fetchall("SELECT path FROM export_files ORDER BY written_at")]
