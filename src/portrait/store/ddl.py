"""Warehouse tables and views, generated from the canonical model, as numbered migrations."""

from __future__ import annotations

from portrait.schema import CANONICAL, Table
from portrait.store.campaigns_ddl import CAMPAIGN_COLUMNS_SQL, CAMPAIGN_TABLES_SQL
from portrait.store.erasure_ddl import ERASURE_TABLES_SQL
from portrait.store.models_ddl import MODEL_TABLES_SQL
from portrait.store.segments_ddl import SEGMENT_LAYOUT_SQL, SEGMENT_TABLES_SQL


def create_table_sql(table: Table) -> str:
    cols = ",\n  ".join(
        f"{c.name} {c.sql_type}{' NOT NULL' if c.required else ''}" for c in table.columns
    )
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n  {cols}\n)"


QUARANTINE_SQL = """
CREATE TABLE IF NOT EXISTS quarantine (
  batch_id VARCHAR NOT NULL,     -- the ingest batch that received the record
  kind VARCHAR NOT NULL,         -- events, users or products
  source VARCHAR,                -- file path or 'http'
  record_index BIGINT,           -- 0-based position of the record in its source
  reason_code VARCHAR NOT NULL,  -- machine-readable reason (see portrait.ingest.reasons)
  detail VARCHAR,                -- the offending value or field
  raw VARCHAR,                   -- the record as received, as JSON
  quarantined_at TIMESTAMPTZ NOT NULL
)"""

BATCHES_SQL = """
CREATE TABLE IF NOT EXISTS ingest_batches (
  batch_id VARCHAR PRIMARY KEY,
  kind VARCHAR NOT NULL,
  source VARCHAR,
  received BIGINT NOT NULL,
  accepted BIGINT NOT NULL,
  duplicates BIGINT NOT NULL,
  quarantined BIGINT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ NOT NULL
)"""

# Evidence that two identifiers belong to one person. Rows are only ever added.
IDENTITY_LINKS_SQL = """
CREATE TABLE IF NOT EXISTS identity_links (
  from_kind VARCHAR NOT NULL,   -- 'anonymous' or 'user'
  from_id VARCHAR NOT NULL,
  to_user_id VARCHAR NOT NULL,
  rule VARCHAR NOT NULL,        -- 'seen_together', 'same_phone', 'explicit_merge'
  evidence VARCHAR,             -- event id, phone hash or the reason given
  first_seen TIMESTAMPTZ,
  batch_id VARCHAR,
  linked_at TIMESTAMPTZ NOT NULL
)"""

# The resolved identity graph (recomputed from identity_links after each change).
IDENTITY_MAP_SQL = """
CREATE TABLE IF NOT EXISTS identity_map (
  identifier VARCHAR NOT NULL,
  id_kind VARCHAR NOT NULL,     -- 'anonymous' or 'user'
  person_id VARCHAR NOT NULL,   -- the canonical user id of the person
  conflict BOOLEAN NOT NULL,    -- an anonymous id seen with several people
  PRIMARY KEY (id_kind, identifier)
)"""

API_KEYS_SQL = """
CREATE TABLE IF NOT EXISTS api_keys (
  key_id VARCHAR PRIMARY KEY,
  secret_hash VARCHAR NOT NULL, -- SHA-256 of the secret; the secret itself is never stored
  role VARCHAR NOT NULL,
  note VARCHAR,
  created_at TIMESTAMPTZ NOT NULL,
  revoked_at TIMESTAMPTZ
)"""

# Who sent each batch, phones trusted to link persons, and unmerges (issue 15).
IDENTITY_PHONES_SQL = """
CREATE TABLE IF NOT EXISTS identity_phones (
  user_id VARCHAR PRIMARY KEY,  -- the user's phone as last sent by a trusted sender
  phone_hash VARCHAR NOT NULL,
  batch_id VARCHAR,
  recorded_at TIMESTAMPTZ NOT NULL
)"""

# "These two users are different persons": links between them are ignored from then on.
IDENTITY_UNMERGES_SQL = """
CREATE TABLE IF NOT EXISTS identity_unmerges (
  user_id VARCHAR NOT NULL,     -- the user made its own person again
  other_user_id VARCHAR NOT NULL,  -- a user it had been merged with
  reason VARCHAR,
  actor VARCHAR,                -- who unmerged: key:<id>, cli:<user>, local:<user>
  unmerged_at TIMESTAMPTZ NOT NULL
)"""

ORDER_LINES_VIEW = """
CREATE OR REPLACE VIEW order_lines AS
SELECT order_id, event_id, user_id, anonymous_id, ts, product_id, quantity, price,
       coalesce(discount, 0) AS discount, coupon_id, quantity * price AS revenue
FROM events WHERE type = 'order'"""

ORDERS_VIEW = """
CREATE OR REPLACE VIEW orders AS
SELECT order_id, any_value(user_id) AS user_id, any_value(anonymous_id) AS anonymous_id,
       min(ts) AS ordered_at, count(*) AS lines, sum(quantity) AS items,
       sum(quantity * price) AS revenue, sum(quantity * coalesce(discount, 0)) AS discount,
       any_value(coupon_id) AS coupon_id
FROM events WHERE type = 'order' GROUP BY order_id"""

EVENTS_RESOLVED_VIEW = """
CREATE OR REPLACE VIEW events_resolved AS
SELECT e.*,
       coalesce(mu.person_id, e.user_id, ma.person_id) AS person_id
FROM events e
LEFT JOIN identity_map mu ON mu.id_kind = 'user' AND mu.identifier = e.user_id
LEFT JOIN identity_map ma ON ma.id_kind = 'anonymous' AND ma.identifier = e.anonymous_id"""


# Profiles (tag engine): snapshots per build date, the build log, tag versions, statistics.
PROFILE_TABLES_SQL = [
    "CREATE SCHEMA IF NOT EXISTS snapshots",
    """CREATE TABLE IF NOT EXISTS tag_builds (
  build_id VARCHAR PRIMARY KEY,
  as_of DATE NOT NULL,              -- the profile uses events before local midnight of this day
  as_of_epoch BIGINT NOT NULL,
  timezone VARCHAR NOT NULL,
  backend VARCHAR NOT NULL,         -- duckdb or pyspark
  mode VARCHAR NOT NULL,            -- full or incremental
  catalog_fingerprint VARCHAR NOT NULL,
  snapshot VARCHAR NOT NULL,        -- the table holding this build's profile
  persons BIGINT NOT NULL,
  recomputed BIGINT NOT NULL,       -- persons whose facts were computed (all, when full)
  events_seen BIGINT NOT NULL,      -- events stored when the build started
  last_batch VARCHAR,               -- latest ingest batch included
  identity_digest VARCHAR,          -- digest of the identity map the build used
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ NOT NULL,
  seconds DOUBLE NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS tag_versions (
  tag_id VARCHAR NOT NULL,
  version INTEGER NOT NULL,
  fingerprint VARCHAR NOT NULL,
  definition VARCHAR NOT NULL,      -- the definition (JSON) this version computes
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tag_id, version)
)""",
    """CREATE TABLE IF NOT EXISTS tag_build_tags (
  build_id VARCHAR NOT NULL,
  tag_id VARCHAR NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (build_id, tag_id)
)""",
    """CREATE TABLE IF NOT EXISTS tag_stats (
  build_id VARCHAR NOT NULL,
  tag_id VARCHAR NOT NULL,
  persons BIGINT NOT NULL,
  non_null BIGINT NOT NULL,
  coverage DOUBLE NOT NULL,
  mean DOUBLE,
  stddev DOUBLE,
  min DOUBLE,
  p50 DOUBLE,
  max DOUBLE,
  distribution VARCHAR,             -- JSON {value: share} for enum, bool and text tags
  PRIMARY KEY (build_id, tag_id)
)""",
    """CREATE TABLE IF NOT EXISTS model_scores (
  person_id VARCHAR NOT NULL,
  tag_id VARCHAR NOT NULL,          -- a model tag of the catalog
  value VARCHAR,                    -- the score, as text (cast to the tag's type on build)
  model VARCHAR NOT NULL,
  scored_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (person_id, tag_id)
)""",
]


MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            *(create_table_sql(t) for t in CANONICAL.values()),
            QUARANTINE_SQL,
            BATCHES_SQL,
            IDENTITY_LINKS_SQL,
            IDENTITY_MAP_SQL,
            API_KEYS_SQL,
            ORDER_LINES_VIEW,
            ORDERS_VIEW,
            EVENTS_RESOLVED_VIEW,
        ],
    ),
    (2, PROFILE_TABLES_SQL),
    (3, SEGMENT_TABLES_SQL),
    (4, MODEL_TABLES_SQL),
    (5, CAMPAIGN_TABLES_SQL),
    # what else a build read, besides events and identities (the model scores): a rebuild of
    # the same date with none of it changed has nothing to do
    (6, ["ALTER TABLE tag_builds ADD COLUMN IF NOT EXISTS inputs_digest VARCHAR"]),
    # who sent each ingest batch (an API key's id, or the CLI's OS user); the phones that may
    # link persons under identity.auto_merge = 'trusted' (every phone stored so far was one:
    # it had linked already); unmerges, remembered so that no ingest or rebuild re-links
    (
        7,
        [
            "ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS actor VARCHAR",
            IDENTITY_PHONES_SQL,
            "INSERT INTO identity_phones SELECT user_id, phone_hash, batch_id, "
            "coalesce(ingested_at, now()) FROM users WHERE phone_hash IS NOT NULL "
            "QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY ingested_at DESC) = 1",
            IDENTITY_UNMERGES_SQL,
        ],
    ),
    # the segment tables of any earlier layout (or none) to today's: memberships kept, the
    # index (derived data) made again when next needed
    (8, SEGMENT_LAYOUT_SQL),
    # the campaign tables and columns added after migration 5 first shipped (journey entries,
    # bandit state, in-app messages; the ledger's retry, claim, offer-cost and entry columns),
    # which opening a campaign once created lazily: every statement is idempotent, so a
    # warehouse made by a later migration 5 changes nothing
    (9, [*CAMPAIGN_TABLES_SQL, *CAMPAIGN_COLUMNS_SQL]),
    # the identity map the live build used (its next incremental build diffs against it),
    # which a build used to create; an older workspace's copy is kept as it is
    (
        10,
        [
            "CREATE TABLE IF NOT EXISTS profile_identity "
            "(id_kind VARCHAR, identifier VARCHAR, person_id VARCHAR)"
        ],
    ),
    # PII at rest (issue 17): users' phone, email, name and address hold AES-GCM tokens under
    # the workspace secret kept outside the warehouse; pii_key names that key (one row). An
    # older warehouse's clear values are sealed by a Python step on first open
    # (store.pii.seal_clear_rows), which records the key.
    (
        11,
        [
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS address VARCHAR",
            "CREATE TABLE IF NOT EXISTS pii_key "
            "(key_id VARCHAR PRIMARY KEY, recorded_at TIMESTAMPTZ NOT NULL)",
        ],
    ),
    # erasure (issue 17): tombstones keyed by HMAC, erasures, the outcome events campaign
    # reports keep under random tokens, the manifest of exported files, and the view campaign
    # reports read (see store/erasure_ddl.py)
    (12, ERASURE_TABLES_SQL),
    # consent per purpose (issue 17): each user's yes or no for marketing, personalisation and
    # analytics; persons with none get the [consent] default of portrait.toml
    (
        13,
        [
            """CREATE TABLE IF NOT EXISTS purpose_consents (
  consent_key VARCHAR PRIMARY KEY,    -- user_id/purpose
  user_id VARCHAR NOT NULL,
  purpose VARCHAR NOT NULL,           -- marketing, personalisation, analytics
  granted BOOLEAN NOT NULL,
  source VARCHAR,                     -- import, api, cli, preference centre, ...
  updated_at TIMESTAMPTZ NOT NULL
)"""
        ],
    ),
    # PII at rest, the rest of it (issue 17): a quarantined record's payload and detail are
    # sealed like the users' PII, its identifiers kept only as keyed pseudonyms (erasure finds
    # a person's rows by them; an older warehouse's rows are sealed on first open by
    # store.quarantine.seal_clear_rows); the send ledger keeps the person, not the address nor
    # the rendered message (the channel resolves and renders at dispatch)
    (
        14,
        [
            *(
                f"ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS {c} VARCHAR"
                for c in ("user_hmac", "anonymous_hmac", "target_hmac", "phone_hmac", "email_hmac")
            ),
            "UPDATE campaign_sends SET address = NULL, subject = NULL, body = NULL "
            "WHERE address IS NOT NULL OR subject IS NOT NULL OR body IS NOT NULL",
        ],
    ),
]
