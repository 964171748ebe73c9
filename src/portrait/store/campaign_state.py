"""Campaign state beside the send ledger: consent per user and channel, the in-app inbox and
the bandit's counts per variant (SQL only, like ``portrait.store.campaigns``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from portrait.store.campaigns import as_dicts, with_ids
from portrait.store.warehouse import Warehouse


# --- consent ------------------------------------------------------------------------------------
def put_consents(
    wh: Warehouse, rows: list[tuple[str, str, bool, str | None]], now: datetime
) -> int:
    """Upsert (user_id, channel, granted, source) rows; the latest word wins (within ``rows``
    too: the last row of a user and channel)."""
    return upsert_answers(wh, "consents", "channel", rows, now)


def upsert_answers(
    wh: Warehouse, table: str, what: str, rows: list[tuple[str, str, bool, str | None]],
    now: datetime,
) -> int:  # fmt: skip
    """Upsert (user_id, ``what``, granted, source) rows into a consent table keyed by
    ``user_id/what`` (``consents`` by channel, ``purpose_consents`` by purpose); the last row
    of a user and ``what`` wins."""
    rows = list({(r[0], r[1]): r for r in rows}.values())
    if not rows:
        return 0
    t = pa.table(
        {
            "consent_key": [f"{u}/{c}" for u, c, _, _ in rows],
            "user_id": [r[0] for r in rows],
            what: [r[1] for r in rows],
            "granted": pa.array([r[2] for r in rows], pa.bool_()),
            "source": [r[3] for r in rows],
            "updated_at": pa.array([now] * len(rows), pa.timestamp("us", tz="UTC")),
        }
    )
    with wh.transaction() as con:
        con.register("_consent_rows", t)
        try:
            con.execute(
                f"INSERT INTO {table} SELECT * FROM _consent_rows "
                "ON CONFLICT (consent_key) DO UPDATE SET granted = excluded.granted, "
                "source = excluded.source, updated_at = excluded.updated_at"
            )
        finally:
            con.unregister("_consent_rows")
    return len(rows)


def consents(wh: Warehouse, user_ids: Sequence[str]) -> dict[tuple[str, str], bool]:
    rows = with_ids(
        wh,
        "_camp_users",
        user_ids,
        "SELECT c.user_id, c.channel, c.granted FROM consents c JOIN _camp_users u "
        "ON u.id = c.user_id",
    )
    return {(u, c): bool(g) for u, c, g in rows}


def consent_rows(wh: Warehouse, user_id: str) -> list[dict[str, Any]]:
    cols = ("channel", "granted", "source", "updated_at")
    rows = wh.fetchall(
        f"SELECT {', '.join(cols)} FROM consents WHERE user_id = ? ORDER BY channel", [user_id]
    )
    return as_dicts(cols, rows)


def user_exists(wh: Warehouse, user_id: str) -> bool:
    return bool(wh.fetchone("SELECT count(*) FROM users WHERE user_id = ?", [user_id])[0])


# --- in-app messages ----------------------------------------------------------------------------
INAPP_COLUMNS = ("message_id", "campaign", "user_id", "subject", "body", "created_at", "read_at")


def put_inapp(wh: Warehouse, message: dict[str, Any]) -> None:
    """Store an in-app message; storing the same message id again changes nothing."""
    wh.execute(
        f"INSERT INTO inapp_messages ({', '.join(INAPP_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, NULL) "
        "ON CONFLICT DO NOTHING",
        [message[c] for c in INAPP_COLUMNS[:-1]],
    )


def inbox(wh: Warehouse, user_id: str, unread_only: bool = False) -> list[dict[str, Any]]:
    where = " AND read_at IS NULL" if unread_only else ""
    rows = wh.fetchall(
        f"SELECT {', '.join(INAPP_COLUMNS)} FROM inapp_messages WHERE user_id = ?{where} "
        "ORDER BY created_at DESC, message_id",
        [user_id],
    )
    return as_dicts(INAPP_COLUMNS, rows)


def mark_read(wh: Warehouse, user_id: str, message_ids: Sequence[str] | None, now: datetime) -> int:
    """Mark messages (all of the user's when ``message_ids`` is None) read; returns how many."""
    if message_ids is None:
        rows = wh.fetchall(
            "UPDATE inapp_messages SET read_at = ? WHERE user_id = ? AND read_at IS NULL "
            "RETURNING message_id",
            [now, user_id],
        )
        return len(rows)
    rows = with_ids(
        wh,
        "_camp_msgs",
        message_ids,
        "UPDATE inapp_messages SET read_at = ? WHERE user_id = ? AND read_at IS NULL "
        "AND message_id IN (SELECT id FROM _camp_msgs) RETURNING message_id",
        [now, user_id],
    )
    wh.generation += 1
    return len(rows)


def unknown_users(wh: Warehouse, user_ids: Sequence[str]) -> list[str]:
    """The ``user_ids`` that are in no user record, sorted."""
    if not user_ids:
        return []
    rows = with_ids(
        wh, "_consent_uids", user_ids,
        "SELECT id FROM _consent_uids u ANTI JOIN users ON users.user_id = u.id ORDER BY id",
    )  # fmt: skip
    return [r[0] for r in rows]


# --- bandit state -------------------------------------------------------------------------------
def bandit_state(wh: Warehouse, campaign: str) -> dict[str, tuple[int, int]]:
    rows = wh.fetchall(
        "SELECT variant, sends, successes FROM campaign_bandit WHERE campaign = ?", [campaign]
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def bandit_outcomes(
    wh: Warehouse, campaign: str, attribution_days: float
) -> dict[str, tuple[int, int]]:
    """Per variant: (messages sent, of which the person ordered within the attribution
    window after the send). An order refunded whole within that window is no success (as in
    the campaign report)."""
    rows = wh.fetchall(
        """WITH x AS (
          SELECT send_key, person_id, sent_at, sent_at + to_seconds(CAST($w AS BIGINT)) AS until
          FROM campaign_sends WHERE campaign = $c AND status = 'sent'
        ), o AS (
          SELECT x.send_key, x.person_id, x.sent_at, x.until, e.order_id,
                 sum(coalesce(e.quantity * e.price, 0)) AS value
          FROM x JOIN campaign_events e ON e.person_id = x.person_id AND e.type = 'order'
            AND e.ts >= x.sent_at AND e.ts < x.until
          GROUP BY ALL
        ), rf AS (
          SELECT o.send_key, o.order_id, sum(coalesce(r.quantity * r.price, 0)) AS refunded
          FROM o JOIN campaign_events r ON r.type = 'refund' AND r.order_id = o.order_id
            AND (r.person_id IS NULL OR r.person_id = o.person_id)
            AND r.ts >= o.sent_at AND r.ts < o.until
          GROUP BY ALL
        ), won AS (
          SELECT DISTINCT o.send_key FROM o LEFT JOIN rf USING (send_key, order_id)
          WHERE NOT (coalesce(rf.refunded, 0) > 0 AND coalesce(rf.refunded, 0) >= o.value)
        )
        SELECT s.variant, count(*), count(won.send_key) FROM campaign_sends s
        LEFT JOIN won USING (send_key)
        WHERE s.campaign = $c AND s.status = 'sent' GROUP BY 1""",
        {"w": int(attribution_days * 86400), "c": campaign},
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def put_bandit_state(
    wh: Warehouse, campaign: str, state: dict[str, tuple[int, int]], now: datetime
) -> None:
    with wh.transaction() as con:
        for variant, (sends, successes) in state.items():
            con.execute(
                "INSERT INTO campaign_bandit VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (arm_key) "
                "DO UPDATE SET sends = excluded.sends, successes = excluded.successes, "
                "updated_at = excluded.updated_at",
                [f"{campaign}/{variant}", campaign, variant, sends, successes, now],
            )
