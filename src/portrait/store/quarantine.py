"""The quarantine: rejected records with their reason (``store.loader`` writes them)."""

from __future__ import annotations

from portrait.ingest.reasons import explain
from portrait.ingest.results import QuarantineCount, QuarantinedRecord
from portrait.store.warehouse import Warehouse


def quarantined(
    wh: Warehouse,
    limit: int = 50,
    reason: str | None = None,
    batch_id: str | None = None,
    kind: str | None = None,
) -> list[QuarantinedRecord]:
    """Quarantined records, newest first, optionally of one reason, batch or kind."""
    where, params = [], []
    for col, val in (("reason_code", reason), ("batch_id", batch_id), ("kind", kind)):
        if val:
            where.append(f"{col} = ?")
            params.append(val)
    sql = (
        "SELECT batch_id, kind, source, record_index, reason_code, detail, raw, "
        "quarantined_at FROM quarantine"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY quarantined_at DESC, record_index LIMIT ?"
    )
    return [
        QuarantinedRecord(
            batch_id=r[0],
            kind=r[1],
            source=r[2],
            record_index=r[3],
            reason_code=r[4],
            detail=r[5],
            explanation=explain(r[4], r[5]),
            raw=r[6],
            quarantined_at=r[7],
        )
        for r in wh.fetchall(sql, [*params, limit])
    ]


def quarantine_counts(wh: Warehouse) -> list[QuarantineCount]:
    """Records per kind and reason, the most frequent first."""
    rows = wh.fetchall(
        "SELECT kind, reason_code, count(*) FROM quarantine GROUP BY 1, 2 ORDER BY 3 DESC"
    )
    return [
        QuarantineCount(kind=k, reason_code=c, count=n, explanation=explain(c)) for k, c, n in rows
    ]


def counts_by_reason(wh: Warehouse) -> dict[str, int]:
    """``"kind: reason_code"`` -> records, the most frequent first (for the summary)."""
    return dict(
        wh.fetchall(
            "SELECT kind || ': ' || reason_code, count(*) FROM quarantine "
            "GROUP BY 1 ORDER BY 2 DESC"
        )
    )
