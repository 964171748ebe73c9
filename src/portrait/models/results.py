"""What the model service and the clustering return: typed, JSON-ready results that the CLI,
the REST routes and notebooks read by attribute (``ModelCard``, the whole card of a run, lives
in ``portrait.models.registry``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class KeyMetric(_Result):
    """A card's headline figure, with its baseline beside it when it has one."""

    name: str = Field(description="What is measured, e.g. 'auc' or 'holdout purchases MAE'.")
    model: float | int | dict[str, Any] | None = Field(description="The model's figure.")
    baseline: float | int | dict[str, Any] | None = Field(
        None, description="The same figure of the baseline, on the same persons."
    )
    baseline_name: str | None = Field(None, description="Which baseline, when there are several.")


class ModelSummary(_Result):
    """One model as ``portrait models list`` shows it: its latest run, or not trained."""

    model: str
    status: Literal["trained", "not trained"]
    run_id: str | None = None
    trained_at: datetime | None = None
    training_seconds: float | None = None
    algorithm: str | None = None
    key_metric: KeyMetric | None = None
    tags_written: dict[str, int] = Field(
        default_factory=dict, description="Model tag -> persons scored."
    )


class TrainOutcome(_Result):
    """One model of a training run: what it wrote and its headline figure, or the error that
    stopped it (the other models of ``train_all`` still train)."""

    model: str
    status: Literal["trained", "failed"]
    run_id: str | None = None
    training_seconds: float | None = None
    key_metric: KeyMetric | None = None
    tags_written: dict[str, int] = Field(default_factory=dict)
    error: str | None = Field(None, description="Why it failed (status 'failed').")
    card: Any = Field(None, exclude=True, repr=False)  # the ModelCard, in process only


# --- clusters --------------------------------------------------------------------------------
class ClusterFeature(_Result):
    """A feature that sets a cluster apart: its cluster mean, in population SDs."""

    tag: str
    z: float


class ClusterLift(_Result):
    """A categorical tag value over-represented in a cluster."""

    tag: str
    value: str
    share: float = Field(description="Share of the cluster holding the value.")
    lift: float = Field(description="That share over the population's.")


class ClusterDescription(_Result):
    """One learned cluster, in figures and in plain words."""

    cluster: int = Field(description="1..k, the largest first.")
    size: int
    share: float
    distinguishing: list[ClusterFeature] = Field(default_factory=list)
    over_represented: list[ClusterLift] = Field(default_factory=list)
    description: str
    segment: str | None = Field(None, description="The saved segment, cluster_<n>.")


class ClusterRun(_Result):
    """``portrait segment cluster``: the clusters saved as segments, and what it removed."""

    run_id: str
    population: int
    metrics: dict[str, Any]
    features: list[str]
    clusters: list[ClusterDescription]
    removed_segments: list[str] = Field(
        default_factory=list, description="Segments of an earlier clustering with more clusters."
    )
