"""The campaign ledger's part of an erasure (``store.erasure``): the person's assignments,
sends and journey entries, and their dense segment id, under a random token; the events
campaign reports read of them kept under it (``erased_campaign_events``), so a report computed
after the erasure equals the one computed before."""

from __future__ import annotations

import secrets

import duckdb

from portrait.store.campaign_reports import ACTIVITY_TYPES

TOKEN_PREFIX = "erased:"
IDS = "_erase_ids"  # the erased identifiers, a one-column (id) table the caller registers
MINE = f"person_id IN (SELECT id FROM {IDS})"


def new_token() -> str:
    """A random token for an erased person's anonymous campaign rows (unlinkable)."""
    return TOKEN_PREFIX + secrets.token_hex(10)


def keep_campaign_events(con: duckdb.DuckDBPyConnection, person: str, token: str) -> int:
    """Copy what campaign reports read of ``person`` (from their first assignment or send on)
    under ``token``, order ids replaced by tokens of their own."""
    salt = secrets.token_hex(16)
    types = ", ".join(f"'{t}'" for t in (*ACTIVITY_TYPES, "refund"))
    return con.execute(
        f"""INSERT INTO erased_campaign_events
        WITH since AS (
          SELECT min(t) AS t FROM (
            SELECT min(assigned_at) AS t FROM campaign_assignments WHERE {MINE}
            UNION ALL SELECT min(coalesce(sent_at, updated_at)) FROM campaign_sends
            WHERE {MINE}))
        SELECT $token, r.type, r.ts,
               CASE WHEN r.order_id IS NOT NULL THEN '{TOKEN_PREFIX}' || md5($salt || r.order_id)
               END, r.quantity, r.price, r.campaign_id
        FROM events_resolved r, since
        WHERE r.person_id = $p AND since.t IS NOT NULL AND (
          (r.type IN ({types}) AND r.ts >= since.t)
          OR r.type IN ('message_opened', 'message_clicked'))""",
        {"p": person, "token": token, "salt": salt},
    ).fetchall()[0][0]


def tokenize(con: duckdb.DuckDBPyConnection, token: str) -> dict[str, int]:
    """The person's campaign ledger rows and dense ids, under ``token``: every row whose
    person is one of their identifiers (``IDS``: an earlier canonical id of a merged person
    too)."""
    out: dict[str, int] = {}
    p = {"t": token}
    # keys are "<campaign>/<person>[/...]": the person's part replaced
    rekey = "campaign || '/' || $t || substr({key}, length(campaign || '/' || person_id) + 1)"
    # whatever could say who they were or what they were sent goes (the columns there are)
    columns = {d[0] for d in con.execute("SELECT * FROM campaign_sends LIMIT 0").description}
    cleared = "".join(
        f"NULL AS {c}, "
        for c in ("user_id", "address", "subject", "body", "provider_id", "last_error")
        if c in columns
    )
    out["campaign_sends"] = con.execute(
        "CREATE OR REPLACE TEMP TABLE _erase_sends AS SELECT * REPLACE ("
        f"{rekey.format(key='send_key')} AS send_key, $t AS person_id, {cleared}"
        "CASE WHEN status IN ('queued', 'sending') THEN 'suppressed' "
        "ELSE status END AS status, CASE WHEN status IN ('queued', 'sending') THEN "
        f"'erased_person' ELSE reason END AS reason) FROM campaign_sends WHERE {MINE}",
        p,
    ).fetchall()[0][0]
    out["campaign_assignments"] = con.execute(
        "CREATE OR REPLACE TEMP TABLE _erase_assign AS SELECT * REPLACE ("
        f"{rekey.format(key='assign_key')} AS assign_key, $t AS person_id, NULL AS user_id) "
        f"FROM campaign_assignments WHERE {MINE}",
        p,
    ).fetchall()[0][0]
    out["journey_entries"] = con.execute(
        "CREATE OR REPLACE TEMP TABLE _erase_entries AS SELECT * REPLACE ("
        f"{rekey.format(key='entry_key')} AS entry_key, $t AS person_id) "
        f"FROM journey_entries WHERE {MINE}",
        p,
    ).fetchall()[0][0]
    for table, temp in (
        ("campaign_sends", "_erase_sends"),
        ("campaign_assignments", "_erase_assign"),
        ("journey_entries", "_erase_entries"),
    ):
        con.execute(f"DELETE FROM {table} WHERE {MINE}")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {temp}")
        con.execute(f"DROP TABLE {temp}")
    out["segment_person_ids"] = con.execute(
        f"UPDATE segment_person_ids SET person_id = $t WHERE {MINE}", p
    ).fetchall()[0][0]
    return out
