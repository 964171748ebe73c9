"""Warehouse tables of campaigns (migration 5): definitions, audiences, the send ledger,
consent, in-app messages, journey entries and bandit state.

The send ledger's key is (campaign, person, channel): a send is claimed by inserting its row
before the channel is called, so a retry or a restart finds the row and never sends twice.
All statements are idempotent (``IF NOT EXISTS``): migration 9 runs them again, with the
columns below, so a warehouse that has migration 5 from an earlier version gets the tables and
columns added since when it is opened (``portrait.store.ddl``).
"""

from __future__ import annotations

CAMPAIGN_TABLES_SQL: list[str] = [
    """CREATE TABLE IF NOT EXISTS campaigns (
  name VARCHAR PRIMARY KEY,
  definition VARCHAR NOT NULL,        -- the validated Campaign as JSON
  status VARCHAR NOT NULL,            -- draft, launched, running (journeys), stopped
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  launched_at TIMESTAMPTZ,
  build_id VARCHAR                    -- profile build the audience was taken from
)""",
    """CREATE TABLE IF NOT EXISTS campaign_assignments (
  assign_key VARCHAR PRIMARY KEY,     -- campaign/person_id
  campaign VARCHAR NOT NULL,
  person_id VARCHAR NOT NULL,
  user_id VARCHAR,                    -- the user id messages go to
  arm VARCHAR NOT NULL,               -- 'control' or a variant name
  assigned_at TIMESTAMPTZ NOT NULL,   -- start of the attribution window
  source VARCHAR NOT NULL,            -- segment or trigger type
  pre_spend DOUBLE                    -- spend in the 30 days before (CUPED covariate)
)""",
    """CREATE TABLE IF NOT EXISTS campaign_sends (
  send_key VARCHAR PRIMARY KEY,       -- campaign/person_id/channel: one send, ever
                                      -- (a journey re-entry appends /entry time)
  campaign VARCHAR NOT NULL,
  person_id VARCHAR NOT NULL,
  user_id VARCHAR,
  variant VARCHAR NOT NULL,
  channel VARCHAR NOT NULL,
  status VARCHAR NOT NULL,            -- queued, sending (claimed), sent, failed, suppressed
  reason VARCHAR,                     -- why suppressed or failed (no consent, capped, ...)
  attempts INTEGER NOT NULL,
  scheduled_at TIMESTAMPTZ,           -- the user's send time (best hour, out of quiet hours)
  sent_at TIMESTAMPTZ,
  address VARCHAR,                    -- no longer written (PII: the channel resolves it)
  language VARCHAR,
  subject VARCHAR,                    -- no longer written (the rendered message may name
  body VARCHAR,                       -- the person; a retry renders again)
  cost DOUBLE,                        -- message cost
  provider_id VARCHAR,                -- the channel's id for it (message id)
  last_error VARCHAR,
  updated_at TIMESTAMPTZ NOT NULL,
  next_attempt_at TIMESTAMPTZ,        -- a retry is not tried before this
  claimed_at TIMESTAMPTZ,             -- when a dispatch claimed it (status sending)
  offer_cost DOUBLE,                  -- expected offer cost (redemption x discount)
  entered_at TIMESTAMPTZ              -- when the person entered (a journey re-entry: a new row)
)""",
    """CREATE TABLE IF NOT EXISTS consents (
  consent_key VARCHAR PRIMARY KEY,    -- user_id/channel
  user_id VARCHAR NOT NULL,
  channel VARCHAR NOT NULL,           -- email, sms, push, in_app
  granted BOOLEAN NOT NULL,
  source VARCHAR,                     -- import, api, unsubscribe link, ...
  updated_at TIMESTAMPTZ NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS inapp_messages (
  message_id VARCHAR PRIMARY KEY,
  campaign VARCHAR NOT NULL,
  user_id VARCHAR NOT NULL,
  subject VARCHAR,
  body VARCHAR NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  read_at TIMESTAMPTZ
)""",
    """CREATE TABLE IF NOT EXISTS journey_entries (
  entry_key VARCHAR PRIMARY KEY,      -- campaign/person_id/trigger time
  campaign VARCHAR NOT NULL,
  person_id VARCHAR NOT NULL,
  trigger_type VARCHAR NOT NULL,
  triggered_at TIMESTAMPTZ NOT NULL,  -- when the condition became true
  entered_at TIMESTAMPTZ NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS campaign_bandit (
  arm_key VARCHAR PRIMARY KEY,        -- campaign/variant
  campaign VARCHAR NOT NULL,
  variant VARCHAR NOT NULL,
  sends BIGINT NOT NULL,
  successes BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
)""",
]

# Columns added to migration 5's tables after it first shipped: migration 9 adds them.
CAMPAIGN_COLUMNS_SQL: list[str] = [
    "ALTER TABLE campaign_sends ADD COLUMN IF NOT EXISTS next_attempt_at TIMESTAMPTZ",
    "ALTER TABLE campaign_sends ADD COLUMN IF NOT EXISTS claimed_at TIMESTAMPTZ",
    "ALTER TABLE campaign_sends ADD COLUMN IF NOT EXISTS offer_cost DOUBLE",
    "ALTER TABLE campaign_sends ADD COLUMN IF NOT EXISTS entered_at TIMESTAMPTZ",
]
