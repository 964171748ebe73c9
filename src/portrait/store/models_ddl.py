"""Warehouse tables of predictive models (migration 4): model cards.

Each training run stores one card: what data window it learned from, which features, how it
scored on the held-out period, its calibration and how long it took. ``model_scores`` (migration
2) holds the latest prediction per (person, model tag); a card names the run that wrote them.
"""

from __future__ import annotations

MODEL_TABLES_SQL: list[str] = [
    """CREATE TABLE IF NOT EXISTS model_cards (
  run_id VARCHAR PRIMARY KEY,
  model VARCHAR NOT NULL,             -- churn, propensity, clv, next_purchase, ...
  trained_at TIMESTAMPTZ NOT NULL,
  training_seconds DOUBLE NOT NULL,
  card VARCHAR NOT NULL               -- the whole ModelCard as JSON
)""",
]
