"""Warehouse tables of erasure (migration 12, issue 17): tombstones, the anonymous outcome
events campaign reports keep, and the manifest of files the tool wrote.

- ``erased_identifiers``: one row per identifier of an erased person (user ids, anonymous or
  device ids, merged user ids), keyed by its keyed pseudonym (HMAC-SHA256 under the workspace
  secret, ``PiiCipher.pseudonym("erased", id)``), never the id itself. Ingest refuses a record
  whose identifier has a row here; ``portrait privacy residue`` finds the other identifiers of an
  erasure from the one the caller gives. The HMAC key is the erasure key (below), not the
  workspace secret's, so a key rotation keeps every tombstone valid.
- ``erasure_keys``: the tombstones' HMAC key, sealed under each workspace key in force
  (``portrait.security.erasure_key``: it survives a key rotation).
- ``erasures``: one row per erasure: when, how many identifiers, the person's dense segment
  id (``pid``, never reused) so the residue check can still look for it in bitmaps, and when
  the warehouse file was last rewritten after it (until then, freed blocks may hold its bytes).
- ``erased_campaign_events``: the events campaign reports read (visits, orders, refunds,
  message opens and clicks) of an erased person who was in a campaign, from their first
  assignment or send on, under a random token that no identifier maps to (order ids replaced by
  tokens too), so a report computed after the erasure equals the one computed before.
- ``export_files``: every file an export wrote (path, rows, when), which erasure rewrites.
"""

from __future__ import annotations

ERASURE_TABLES_SQL: list[str] = [
    """CREATE TABLE IF NOT EXISTS erased_identifiers (
  pseudonym VARCHAR PRIMARY KEY,    -- HMAC of the identifier (never the identifier)
  id_kind VARCHAR NOT NULL,         -- user or anonymous
  erasure_id VARCHAR NOT NULL,
  key_id VARCHAR NOT NULL,          -- the workspace key the HMAC is under
  erased_at TIMESTAMPTZ NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS erasures (
  erasure_id VARCHAR PRIMARY KEY,
  identifiers INTEGER NOT NULL,
  pid UINTEGER,                     -- the person's dense segment id, if it had one
  rows_removed BIGINT NOT NULL,
  erased_at TIMESTAMPTZ NOT NULL,
  compacted_at TIMESTAMPTZ          -- when the file was rewritten after it (freed bytes gone)
)""",
    """CREATE TABLE IF NOT EXISTS erasure_keys (
  key_id VARCHAR PRIMARY KEY,       -- the workspace key the erasure key is sealed under
  sealed BLOB NOT NULL,             -- the erasure key (tombstones' HMAC key), AES-GCM sealed
  sealed_at TIMESTAMPTZ NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS erased_campaign_events (
  person_id VARCHAR NOT NULL,       -- erased:<random>, the token of the ledger rows
  type VARCHAR NOT NULL,
  ts TIMESTAMPTZ NOT NULL,
  order_id VARCHAR,                 -- a token per order (refunds point at it)
  quantity BIGINT,
  price DOUBLE,
  campaign_id VARCHAR
)""",
    """CREATE TABLE IF NOT EXISTS export_files (
  path VARCHAR PRIMARY KEY,         -- absolute path of the file written
  kind VARCHAR NOT NULL,            -- segment
  name VARCHAR,                     -- the segment exported
  rows BIGINT NOT NULL,
  written_at TIMESTAMPTZ NOT NULL
)""",
    # What campaign reports and bandits read: the live events of every person, and the outcome
    # events kept for erased persons under their tokens.
    """CREATE OR REPLACE VIEW campaign_events AS
SELECT person_id, type, ts, order_id, quantity, price, campaign_id FROM events_resolved
UNION ALL
SELECT person_id, type, ts, order_id, quantity, price, campaign_id FROM erased_campaign_events""",
]
