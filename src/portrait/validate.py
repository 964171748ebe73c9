"""`portrait validate`: how good the profile, the segments and the models are, in one report.

Two forms:

* :func:`workspace_report` reads one workspace: persona tags and top-category affinity against
  the simulator's ground truth (when the workspace was simulated), the learned clusters against
  the latent persona classes (adjusted Rand index), and the held-out metrics of the latest card
  of every trained model, each beside its baseline.
* :func:`run_suite` runs the whole protocol in fresh workspaces under a folder: the default
  simulated shop (5,000 users, 90 days, seed 42), Online Retail II, Ta-Feng and CDNOW (each
  skipped, with the reason, when its files are absent), training every model that applies, and
  returns every workspace's report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from portrait.models import clusters
from portrait.models.registry import ModelCard, cards, save_card
from portrait.store.summary import last_event_day

if TYPE_CHECKING:
    from portrait.workspace import Workspace

Progress = Callable[[str], None]
SUITE = ("simulated", "online-retail-ii", "ta-feng", "cdnow")
# models trained per data set by the suite (cdnow: CLV in the paper's setting only)
SUITE_MODELS: dict[str, tuple[str, ...]] = {
    "simulated": ("churn", "propensity", "next-purchase", "clv"),
    "online-retail-ii": ("churn", "propensity", "next-purchase", "clv"),
    "ta-feng": ("churn", "propensity", "next-purchase", "clv"),
    "cdnow": ("clv",),
}
CDNOW_CLV = {"calibration_end": "1997-09-30", "time_unit": "W"}
# published BG/NBD and Gamma-Gamma parameters on the CDNOW sample (Fader, Hardie & Lee 2005)
CDNOW_PUBLISHED = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},
    "week78_cumulative_error_pct": "about -4",
}


class BuildChecked(BaseModel):
    """The profile build a report read."""

    model_config = ConfigDict(frozen=True)

    build_id: str
    as_of: date
    persons: int
    seconds: float


class ClustersChecked(BaseModel):
    """The latest clustering: its k, quality and agreement with the latent classes."""

    model_config = ConfigDict(frozen=True)

    k: int | None
    method: str | None
    silhouette: float | None
    truth: dict[str, Any] | None  # adjusted Rand index vs the simulator's classes
    descriptions: list[str]


class ModelChecked(BaseModel):
    """The latest card of one model: its held-out metrics beside their baselines."""

    run_id: str
    trained_at: datetime
    training_seconds: float
    data_window: dict[str, Any]
    metrics: dict[str, Any]
    params: dict[str, Any]  # the fitted BG/NBD and Gamma-Gamma parameters (CLV)
    published: dict[str, Any] | None = None  # the paper's figures (CDNOW)


class ValidationReport(BaseModel):
    """How good one workspace's profiles, clusters and models are (see the module docstring).
    A suite's data set whose files are absent has only ``skipped``."""

    workspace: str
    skipped: str | None = None
    build: BuildChecked | None = None
    personas: dict[str, Any] | None = None  # per persona tag: precision, recall, target met
    category_affinity: dict[str, Any] | None = None
    clusters: ClustersChecked | None = None
    models: dict[str, ModelChecked] = Field(default_factory=dict)
    trained: dict[str, str] | None = None  # suite: "trained", or why not, per model
    seconds: float | None = None  # suite: time for the whole data set


def suite_options(name: str, model: str, last_day: date) -> dict[str, Any]:
    """Per data set and model: CDNOW in the paper's setting; elsewhere CLV calibrated up to a
    holdout before the last day (90 days of real data, 30 of the 90-day simulated shop), and
    next-purchase evaluated over 30 days on the simulated shop."""
    if name == "cdnow":
        return dict(CDNOW_CLV)
    holdout = 30 if name == "simulated" else 90
    if model == "clv":
        return {"calibration_end": (last_day - timedelta(days=holdout)).isoformat()}
    if model == "next-purchase":
        return {"holdout_days": holdout}
    return {}


def workspace_report(ws: Workspace) -> ValidationReport:
    """Truth checks and model metrics of one workspace (see the module docstring)."""
    report = ValidationReport(workspace=str(ws.root))
    b = ws.profiles.live_build()
    if b is not None:
        # from_attributes: the live build reads alike as a dict or a model
        report.build = BuildChecked.model_validate(b, from_attributes=True)
        truth = ws.tag_quality().truth
        if truth:
            report.personas = {k: v.model_dump() for k, v in truth.personas.items()}
            affinity = truth.category_affinity
            report.category_affinity = affinity.model_dump() if affinity else None
    latest: dict[str, ModelCard] = {}
    for card in cards(ws.warehouse):
        latest.setdefault(card.model, card)
    if "clusters" in latest:
        report.clusters = _clusters_checked(latest.pop("clusters"))
    report.models = {name: _model_checked(card) for name, card in sorted(latest.items())}
    return report


def _clusters_checked(c: ModelCard) -> ClustersChecked:
    return ClustersChecked(
        k=c.metrics.get("k"),
        method=c.metrics.get("method"),
        silhouette=c.metrics.get("silhouette"),
        truth=c.metrics.get("truth"),
        descriptions=[
            f"cluster_{x['cluster']} ({x['size']:,}): {x['description']}"
            for x in c.params.get("clusters", [])
        ],
    )


def _model_checked(card: ModelCard) -> ModelChecked:
    return ModelChecked(
        run_id=card.run_id,
        trained_at=card.trained_at,
        training_seconds=card.training_seconds,
        data_window=card.data_window,
        metrics=card.metrics,
        params={k: v for k, v in card.params.items() if k in ("bgnbd", "gamma_gamma")},
    )


def run_suite(
    workdir: Path,
    datasets: Sequence[str] = SUITE,
    data_root: Path | None = None,
    users: int = 5000,
    progress: Progress | None = None,
) -> dict[str, ValidationReport]:
    """The validation protocol in fresh workspaces under ``workdir`` (one folder per data set).
    A data set whose files are absent is reported as skipped with the reason."""
    from portrait.datasets.base import DatasetMissingError
    from portrait.workspace import Workspace

    say = progress or (lambda _m: None)
    unknown = [d for d in datasets if d not in SUITE]
    if unknown:
        raise ValueError(
            f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(SUITE)}"
        )
    out: dict[str, ValidationReport] = {}
    for name in datasets:
        tick = time.perf_counter()
        root = Path(workdir) / name
        if root.exists():
            raise ValueError(f"{root} exists; validate needs a fresh folder (or remove it)")
        ws = Workspace.init(root)
        try:
            say(f"{name}: loading")
            try:
                if name == "simulated":
                    ws.simulate(users=users, days=90, seed=42)
                else:
                    ws.load_dataset(name, path=data_root)
            except DatasetMissingError as e:
                out[name] = ValidationReport(workspace=str(root), skipped=str(e))
                continue
            say(f"{name}: building profiles")
            ws.build()
            trained: dict[str, Any] = {}
            last_day = last_event_day(ws.warehouse)
            for model in SUITE_MODELS[name]:
                say(f"{name}: training {model}")
                options = suite_options(name, model, last_day)
                try:
                    ws.models.train(model, progress=lambda m, n=name: say(f"{n}: {m}"), **options)
                    trained[model] = "trained"
                except (ValueError, LookupError, ImportError) as e:
                    trained[model] = f"not trained: {e}"
            if name == "simulated":
                say(f"{name}: clustering")
                save_card(ws.warehouse, clusters.run(ws))
            report = workspace_report(ws)
            report.trained = trained
            if name == "cdnow" and "clv" in report.models:
                report.models["clv"].published = CDNOW_PUBLISHED
            report.seconds = round(time.perf_counter() - tick, 1)
            out[name] = report
        finally:
            ws.close()
    return out
