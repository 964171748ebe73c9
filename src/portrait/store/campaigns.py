"""Campaign SQL: definitions, assignments, the send ledger, consent, in-app messages, bandit.

With ``campaign_state``, ``campaign_messages`` and ``campaign_reports``, the only modules of the
campaign code that talk to the database; the rest works on the plain rows they return. The
tables are made by migrations 5 and 9 (``portrait.store.ddl``). A send's row is its claim:
``claim_send`` moves it from queued to sending in one statement, so two dispatches (or a retry
and a restart) never both get it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from portrait.store.warehouse import Warehouse

if TYPE_CHECKING:
    from portrait.security.pii import PiiCipher

# The ledger's columns. It keeps a reference to the person, not where the message went nor
# what it said: the table's address, subject and body columns stay NULL (migration 14 cleared
# what an older version wrote).
SEND_COLUMNS = (
    "send_key", "campaign", "person_id", "user_id", "variant", "channel", "status", "reason",
    "attempts", "scheduled_at", "sent_at", "language", "cost", "provider_id", "last_error",
    "updated_at", "next_attempt_at", "claimed_at", "offer_cost", "entered_at",
)  # fmt: skip
CAMPAIGN_COLUMNS = (
    "name", "definition", "status", "created_at", "updated_at", "launched_at", "build_id",
)  # fmt: skip


def writable(wh: Warehouse) -> bool:
    """False for a warehouse opened read-only (state derived while reading is not kept)."""
    mode = wh.fetchone("SELECT current_setting('access_mode')")[0]
    return str(mode).lower() != "read_only"


def as_dicts(cols: Sequence[str], rows: Iterable[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(cols, r, strict=True)) for r in rows]


def with_ids(wh: Warehouse, name: str, ids: Sequence[str], sql: str, params: list | None = None):
    """Run ``sql`` with the table ``name`` (column ``id``) holding ``ids``."""
    with wh.lock:  # one connection for the registered table and the query
        wh.register(name, pa.table({"id": pa.array(list(ids), pa.string())}))
        try:
            return wh.fetchall(sql, params or [])
        finally:
            wh.unregister(name)


# --- definitions --------------------------------------------------------------------------------
def get_campaign(wh: Warehouse, name: str) -> dict[str, Any] | None:
    rows = wh.fetchall(
        f"SELECT {', '.join(CAMPAIGN_COLUMNS)} FROM campaigns WHERE name = ?", [name]
    )
    return as_dicts(CAMPAIGN_COLUMNS, rows)[0] if rows else None


def list_campaigns(wh: Warehouse) -> list[dict[str, Any]]:
    rows = wh.fetchall(f"SELECT {', '.join(CAMPAIGN_COLUMNS)} FROM campaigns ORDER BY created_at")
    return as_dicts(CAMPAIGN_COLUMNS, rows)


def put_campaign(wh: Warehouse, name: str, definition: str, now: datetime) -> None:
    """Insert a draft, or replace a draft's definition (keeping its creation time)."""
    wh.execute(
        "INSERT INTO campaigns VALUES (?, ?, 'draft', ?, ?, NULL, NULL) ON CONFLICT (name) "
        "DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
        [name, definition, now, now],
    )


def delete_campaign(wh: Warehouse, name: str) -> None:
    with wh.transaction() as con:
        for table in ("campaign_assignments", "campaign_sends", "campaign_bandit"):
            con.execute(f"DELETE FROM {table} WHERE campaign = ?", [name])
        con.execute("DELETE FROM campaigns WHERE name = ?", [name])


def set_status(
    wh: Warehouse, name: str, status: str, now: datetime, build_id: str | None = None
) -> None:
    wh.execute(
        "UPDATE campaigns SET status = ?, updated_at = ?, launched_at = coalesce(launched_at, ?), "
        "build_id = coalesce(?, build_id) WHERE name = ?",
        [status, now, now, build_id, name],
    )


def stop_campaign(wh: Warehouse, name: str, now: datetime) -> int:
    """Mark the campaign stopped and its queued sends suppressed (reason campaign_stopped), in
    one transaction; the number of sends withdrawn."""
    with wh.transaction() as con:
        con.execute(
            "UPDATE campaigns SET status = 'stopped', updated_at = ? WHERE name = ?", [now, name]
        )
        rows = con.execute(
            "UPDATE campaign_sends SET status = 'suppressed', reason = 'campaign_stopped', "
            "updated_at = ? WHERE campaign = ? AND status = 'queued' RETURNING send_key",
            [now, name],
        ).fetchall()
    return len(rows)


def campaign_counts(wh: Warehouse, name: str) -> dict[str, Any]:
    """Persons per arm, sends per status and suppressions per reason."""
    arms = dict(
        wh.fetchall(
            "SELECT arm, count(*) FROM campaign_assignments WHERE campaign = ? GROUP BY 1 "
            "ORDER BY 1",
            [name],
        )
    )
    status = dict(
        wh.fetchall(
            "SELECT status, count(*) FROM campaign_sends WHERE campaign = ? GROUP BY 1 ORDER BY 1",
            [name],
        )
    )
    reasons = dict(
        wh.fetchall(
            "SELECT reason, count(*) FROM campaign_sends WHERE campaign = ? "
            "AND status IN ('suppressed', 'failed') GROUP BY 1 ORDER BY 2 DESC",
            [name],
        )
    )
    cost = wh.fetchone(
        "SELECT coalesce(sum(cost), 0), coalesce(sum(offer_cost), 0) FROM campaign_sends "
        "WHERE campaign = ? AND status IN ('sent', 'sending')",
        [name],
    )
    return {
        "arms": arms,
        "sends": status,
        "reasons": reasons,
        "send_cost": cost[0],
        "expected_offer_cost": cost[1],
    }


def assignments(wh: Warehouse, campaign: str) -> pa.Table:
    """Who is in which arm of ``campaign`` since when (person_id, user_id, arm, assigned_at),
    by person."""
    with wh.reading() as con:
        return con.execute(
            "SELECT person_id, user_id, arm, assigned_at FROM campaign_assignments "
            "WHERE campaign = ? ORDER BY person_id",
            [campaign],
        ).to_arrow_table()


# --- audience -----------------------------------------------------------------------------------
def assigned(wh: Warehouse, campaign: str, person_ids: Sequence[str]) -> set[str]:
    """The persons already assigned in ``campaign``."""
    rows = with_ids(
        wh,
        "_camp_pids",
        person_ids,
        "SELECT a.person_id FROM campaign_assignments a JOIN _camp_pids p ON p.id = a.person_id "
        "WHERE a.campaign = ?",
        [campaign],
    )
    return {r[0] for r in rows}


def last_entries(
    wh: Warehouse, campaign: str, person_ids: Sequence[str]
) -> dict[str, tuple[str, str | None, datetime]]:
    """Per person already in ``campaign``: (arm, user id, when they last entered)."""
    rows = with_ids(
        wh,
        "_camp_pids",
        person_ids,
        "SELECT a.person_id, a.arm, a.user_id, max(coalesce(s.entered_at, a.assigned_at)) "
        "FROM campaign_assignments a JOIN _camp_pids p ON p.id = a.person_id "
        "LEFT JOIN campaign_sends s ON s.campaign = a.campaign AND s.person_id = a.person_id "
        "WHERE a.campaign = ? GROUP BY 1, 2, 3",
        [campaign],
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def pre_spend(wh: Warehouse, person_ids: Sequence[str], at: datetime, days: int = 30) -> dict:
    """Order revenue net of refunds per person in the ``days`` before ``at`` (the CUPED
    covariate; net, like the revenue the report compares)."""
    rows = with_ids(
        wh,
        "_camp_pids",
        person_ids,
        "SELECT e.person_id, sum(CASE e.type WHEN 'refund' THEN -1 ELSE 1 END "
        "* coalesce(e.quantity * e.price, 0)) FROM events_resolved e "
        "JOIN _camp_pids p ON p.id = e.person_id WHERE e.type IN ('order', 'refund') "
        "AND e.ts >= ? AND e.ts < ? GROUP BY 1",
        [at - timedelta(days=days), at],
    )
    return {r[0]: float(r[1] or 0.0) for r in rows}


def contacts(
    wh: Warehouse, person_ids: Sequence[str], cipher: PiiCipher | None = None
) -> dict[str, dict[str, Any]]:
    """Per person: the user id messages go to (the person's own id first), e-mail, phone,
    name and language from the users table. E-mail, phone and name are decrypted with
    ``cipher`` (a send needs them); without it they stay encrypted tokens, enough to know
    whether an address exists."""
    rows = with_ids(
        wh,
        "_camp_pids",
        person_ids,
        "SELECT coalesce(m.person_id, u.user_id) AS pid, u.user_id, u.email, u.phone, u.name, "
        "u.language FROM users u LEFT JOIN identity_map m ON m.id_kind = 'user' "
        "AND m.identifier = u.user_id JOIN _camp_pids p ON p.id = coalesce(m.person_id, u.user_id) "
        "ORDER BY pid, (u.user_id = pid) DESC, u.registered_at DESC NULLS LAST",
    )
    out: dict[str, dict[str, Any]] = {}
    for pid, uid, email, phone, name, language in rows:
        if pid in out:
            continue
        if cipher is not None:
            email, phone, name = (
                cipher.decrypt(c, uid, v)
                for c, v in (("email", email), ("phone", phone), ("name", name))
            )
        out[pid] = {
            "user_id": uid, "email": email, "phone": phone, "name": name, "language": language
        }  # fmt: skip
    return out


# --- enrolment ----------------------------------------------------------------------------------
ASSIGNMENT_COLUMNS = (
    "assign_key", "campaign", "person_id", "user_id", "arm", "assigned_at", "source", "pre_spend",
)  # fmt: skip


def record_enrolment(
    wh: Warehouse, assignments: list[dict[str, Any]], sends: list[dict[str, Any]]
) -> tuple[int, int]:
    """Insert assignments and queued sends together; rows whose key exists are left alone.
    Returns (assignments inserted, sends inserted)."""
    if not assignments and not sends:
        return 0, 0
    a = pa.Table.from_pylist(assignments, schema=_assignment_schema())
    s = pa.Table.from_pylist(sends, schema=_send_schema())
    with wh.transaction() as con:
        con.register("_camp_assign", a)
        con.register("_camp_sends", s)
        try:
            n_a = con.execute(
                "INSERT INTO campaign_assignments SELECT * FROM _camp_assign "
                "ON CONFLICT DO NOTHING RETURNING assign_key"
            ).fetchall()
            cols = ", ".join(SEND_COLUMNS)
            n_s = con.execute(
                f"INSERT INTO campaign_sends ({cols}) SELECT {cols} FROM _camp_sends "
                "ON CONFLICT DO NOTHING RETURNING send_key"
            ).fetchall()
        finally:
            con.unregister("_camp_assign")
            con.unregister("_camp_sends")
    return len(n_a), len(n_s)


def _assignment_schema() -> pa.Schema:
    ts = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [("assign_key", pa.string()), ("campaign", pa.string()), ("person_id", pa.string()),
         ("user_id", pa.string()), ("arm", pa.string()), ("assigned_at", ts),
         ("source", pa.string()), ("pre_spend", pa.float64())]
    )  # fmt: skip


def _send_schema() -> pa.Schema:
    ts = pa.timestamp("us", tz="UTC")
    types = {"attempts": pa.int32(), "cost": pa.float64(), "offer_cost": pa.float64()}
    for c in ("scheduled_at", "sent_at", "updated_at", "next_attempt_at", "claimed_at",
              "entered_at"):  # fmt: skip
        types[c] = ts
    return pa.schema([(c, types.get(c, pa.string())) for c in SEND_COLUMNS])


# --- the ledger ---------------------------------------------------------------------------------
def due_sends(wh: Warehouse, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Queued sends whose time has come (and whose retry wait is over), oldest first."""
    rows = wh.fetchall(
        f"SELECT {', '.join(SEND_COLUMNS)} FROM campaign_sends WHERE status = 'queued' "
        "AND coalesce(scheduled_at, updated_at) <= ? AND coalesce(next_attempt_at, ?) <= ? "
        "ORDER BY scheduled_at, send_key LIMIT ?",
        [now, now, now, limit],
    )
    return as_dicts(SEND_COLUMNS, rows)


def next_due(wh: Warehouse) -> datetime | None:
    """When the earliest queued send (or retry) comes due; None when nothing is queued."""
    row = wh.fetchone(
        "SELECT min(greatest(coalesce(next_attempt_at, scheduled_at, updated_at), "
        "coalesce(scheduled_at, updated_at))) FROM campaign_sends WHERE status = 'queued'"
    )
    return row[0] if row else None


def queued_summary(wh: Warehouse) -> tuple[int, datetime | None]:
    """(sends still queued, when the first of them is scheduled or retried)."""
    row = wh.fetchone(
        "SELECT count(*), min(coalesce(next_attempt_at, scheduled_at)) FROM campaign_sends "
        "WHERE status = 'queued'"
    )
    return int(row[0]), row[1]


def in_doubt(wh: Warehouse, claimed_before: datetime) -> list[dict[str, Any]]:
    """Sends claimed by a dispatch that never recorded the outcome (it died mid-send)."""
    rows = wh.fetchall(
        f"SELECT {', '.join(SEND_COLUMNS)} FROM campaign_sends WHERE status = 'sending' "
        "AND claimed_at < ?",
        [claimed_before],
    )
    return as_dicts(SEND_COLUMNS, rows)


def claim_send(wh: Warehouse, send_key: str, now: datetime, fields: dict[str, Any]) -> bool:
    """Queued -> sending with the attempt counted and how it is about to go out (language,
    costs; never the address nor the text); False when another dispatch got it first."""
    sets = ", ".join(f"{k} = ?" for k in fields)
    row = wh.fetchone(
        f"UPDATE campaign_sends SET status = 'sending', attempts = attempts + 1, "
        f"claimed_at = ?, updated_at = ?{', ' + sets if sets else ''} "
        "WHERE send_key = ? AND status = 'queued' RETURNING send_key",
        [now, now, *fields.values(), send_key],
    )
    return row is not None


def update_send(wh: Warehouse, send_key: str, now: datetime, **fields: Any) -> None:
    """Set ``fields`` (status, reason, provider_id, ...) of one send."""
    sets = ", ".join(f"{k} = ?" for k in fields)
    wh.execute(
        f"UPDATE campaign_sends SET {sets}, updated_at = ? WHERE send_key = ?",
        [*fields.values(), now, send_key],
    )


def recent_sends(wh: Warehouse, person_ids: Sequence[str], since: datetime) -> dict[str, int]:
    """Messages sent (or being sent) to each person since ``since``, over every campaign."""
    rows = with_ids(
        wh,
        "_camp_pids",
        person_ids,
        "SELECT s.person_id, count(*) FROM campaign_sends s JOIN _camp_pids p "
        "ON p.id = s.person_id WHERE s.status IN ('sent', 'sending') "
        "AND coalesce(s.sent_at, s.claimed_at) >= ? GROUP BY 1",
        [since],
    )
    return dict(rows)


def campaign_spent(wh: Warehouse, campaign: str) -> tuple[int, float]:
    """(sends, send cost + expected offer cost) of a campaign so far."""
    row = wh.fetchone(
        "SELECT count(*), coalesce(sum(coalesce(cost, 0) + coalesce(offer_cost, 0)), 0) "
        "FROM campaign_sends WHERE campaign = ? AND status IN ('sent', 'sending')",
        [campaign],
    )
    return int(row[0]), float(row[1])


def sends_of(wh: Warehouse, campaign: str | None = None) -> list[dict[str, Any]]:
    where = "WHERE campaign = ? " if campaign else ""
    rows = wh.fetchall(
        f"SELECT {', '.join(SEND_COLUMNS)} FROM campaign_sends {where}ORDER BY send_key",
        [campaign] if campaign else [],
    )
    return as_dicts(SEND_COLUMNS, rows)
