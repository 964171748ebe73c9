"""Model cards and model scores: what every trained model records and writes.

A model trains on point-in-time profiles (as of a date T, labels from the window after T), is
evaluated on a later held-out period, and writes its predictions into ``model_scores`` as values
of model tags of the catalog (``kind: model`` with ``model: {model: NAME}``). The next profile
build reads them like any other tag. Each run keeps a :class:`ModelCard`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, Field

from portrait.store import models as model_store
from portrait.store.warehouse import Warehouse


class ModelCard(BaseModel):
    """What a training run learned from, how it did, and what it wrote."""

    model: str  # churn, propensity, clv, next_purchase, ...
    run_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    trained_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    training_seconds: float = 0.0
    algorithm: str = ""  # e.g. "LightGBM binary", "BG/NBD + Gamma-Gamma (MLE)"
    dataset: str = ""  # the workspace or data set it was trained on
    data_window: dict[str, Any] = Field(default_factory=dict)  # train/label/holdout dates
    features: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)  # fitted or hyper-parameters
    metrics: dict[str, Any] = Field(default_factory=dict)  # holdout metrics, baselines beside
    calibration: list[dict[str, Any]] = Field(default_factory=list)  # bins: predicted vs observed
    tags_written: dict[str, int] = Field(default_factory=dict)  # model tag -> persons scored
    notes: list[str] = Field(default_factory=list)


def save_card(wh: Warehouse, card: ModelCard) -> None:
    """Store a training run's card (replacing one of the same run id)."""
    model_store.save_card(
        wh, card.run_id, card.model, card.trained_at, card.training_seconds, card.model_dump_json()
    )


def cards(wh: Warehouse, model: str | None = None) -> list[ModelCard]:
    """Every stored card, newest first (only ``model``'s when given)."""
    return [ModelCard.model_validate_json(text) for text in model_store.card_texts(wh, model)]


def latest_card(wh: Warehouse, model: str) -> ModelCard | None:
    found = cards(wh, model)
    return found[0] if found else None


def write_scores(
    wh: Warehouse,
    model: str,
    person_ids: Sequence[str],
    values: Mapping[str, Sequence[Any]],
    scored_at: datetime | None = None,
) -> dict[str, int]:
    """Replace the scores of ``model``'s tags: ``values`` maps a model tag to one value per
    person of ``person_ids`` (None: no score). Returns the persons scored per tag.

    The value of a ``top`` model tag is a list of (key, weight) pairs, best first; it is
    stored as the flat columns the tag engine reads, ``<tag>__k0``, ``<tag>__w0``, ...
    """
    when = scored_at or datetime.now(UTC)
    ids = pa.array([str(p) for p in person_ids], pa.string())
    columns: dict[str, list[Any]] = {}
    written: dict[str, int] = {}
    for tag_id, column in values.items():
        if len(column) != len(person_ids):
            raise ValueError(f"{tag_id}: {len(column)} values for {len(person_ids)} persons")
        if any(isinstance(v, list | tuple) for v in column):
            columns.update(_flat_top(tag_id, column))
            written[tag_id] = sum(1 for v in column if v)
        else:
            columns[tag_id] = list(column)
            written[tag_id] = sum(1 for v in column if _text(v) is not None)
    model_store.replace_scores(
        wh, model, ids, {tag: [_text(v) for v in col] for tag, col in columns.items()}, when
    )
    return written


def _flat_top(tag_id: str, column: Sequence[Any]) -> dict[str, list[Any]]:
    """A top tag's (key, weight) lists as the columns ``tag__k0``, ``tag__w0``, ..."""
    n = max((len(v) for v in column if v), default=0)
    out: dict[str, list[Any]] = {}
    for i in range(n):
        entries = [v[i] if v is not None and i < len(v) else None for v in column]
        out[f"{tag_id}__k{i}"] = [None if e is None else e[0] for e in entries]
        out[f"{tag_id}__w{i}"] = [None if e is None else float(e[1]) for e in entries]
    return out


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return None
    if isinstance(value, float):
        return repr(round(value, 6))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TrainOptions(BaseModel):
    """Options every trainer accepts; a trainer ignores those that do not apply to it."""

    as_of: str | None = None  # T: train on profiles as of this date (YYYY-MM-DD)
    calibration_end: str | None = None  # last day of the calibration period (CLV)
    horizon_days: int | None = None  # label window after T (churn, propensity)
    holdout_days: int | None = None  # length of the held-out evaluation period
    time_unit: str = "D"  # D (days) or W (weeks), CLV
    seed: int = 42
    features: list[str] | None = None  # tags to learn from (churn, propensity; default: all)


# model name -> module defining ``train(ctx, options, progress) -> ModelCard`` (``ctx``: a
# ``portrait.models.context.ModelContext``); a trainer writes
# its scores with ``write_scores`` and returns its card, which the service saves.
TRAINERS: dict[str, str] = {
    "churn": "portrait.models.churn",
    "propensity": "portrait.models.propensity",
    "clv": "portrait.models.clv.train",
    "next-purchase": "portrait.models.next_purchase",
    "clusters": "portrait.models.clusters",  # also `portrait segment cluster`, which saves segments
    "recs": "portrait.recs.serve_train",  # the served recommender (also `portrait recs train`)
}
