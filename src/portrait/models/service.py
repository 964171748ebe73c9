"""The model facade a Workspace exposes as ``ws.models``: train, list and show models.

>>> card = ws.models.train("churn", horizon_days=90)             # doctest: +SKIP
>>> [o.status for o in ws.models.train_all()]                    # doctest: +SKIP
['trained', 'trained', 'trained', 'trained']
>>> ws.models.list()[0]["key_metric"]                            # doctest: +SKIP
{'name': 'auc', 'model': 0.73, 'baseline': 0.65}
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from portrait.models.registry import (
    TRAINERS,
    ModelCard,
    TrainOptions,
    card_json,
    cards,
    save_card,
)
from portrait.tags.build import BuildResult, default_as_of

if TYPE_CHECKING:
    from portrait.workspace import Workspace

Progress = Callable[[str], None]
log = logging.getLogger(__name__)
ALL = "all"
# where the headline metric of a card sits when it has no ``metrics["key"]``, first found
KEY_METRICS: dict[str, tuple[tuple[str, ...], ...]] = {
    "clv": (("holdout", "mae"), ("bgnbd_log_likelihood",)),
    "next-purchase": (("mae_days", "model"),),
    "clusters": (("silhouette",),),
}


class UnknownModelError(ValueError):
    """No trainer of that name."""


class NotTrainedError(LookupError):
    """The model has no card yet."""


@dataclass
class TrainOutcome:
    """One model of a ``train_all`` run: its card, or the error that stopped it."""

    model: str
    card: ModelCard | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        return "trained" if self.card is not None else "failed"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "status": self.status}
        if self.card is not None:
            out.update(
                run_id=self.card.run_id,
                training_seconds=self.card.training_seconds,
                key_metric=key_metric(self.card),
                tags_written=self.card.tags_written,
            )
        else:
            out["error"] = self.error
        return out


@dataclass
class ModelsBuildResult(BuildResult):
    """``portrait build --with-models``: the final build, and what each model did."""

    models: list[dict[str, Any]] = field(default_factory=list)


def key_metric(card: ModelCard) -> dict[str, Any] | None:
    """The card's headline figure, with its baseline when it has one."""
    key = card.metrics.get("key")
    if isinstance(key, dict):
        return key
    for path in KEY_METRICS.get(card.model, ()):
        value: Any = card.metrics
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return {"name": ".".join(path), "model": value}
    return None


def summary(card: ModelCard) -> dict[str, Any]:
    """One line of ``portrait models list``."""
    return {
        "model": card.model,
        "status": "trained",
        "run_id": card.run_id,
        "trained_at": card.trained_at.isoformat(),
        "training_seconds": card.training_seconds,
        "algorithm": card.algorithm,
        "key_metric": key_metric(card),
        "tags_written": card.tags_written,
    }


class ModelService:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    @staticmethod
    def resolve(name: str) -> str:
        """The trainer name for ``name`` (``next_purchase`` is ``next-purchase``)."""
        canonical = name.strip().lower().replace("_", "-")
        if canonical not in TRAINERS:
            raise UnknownModelError(
                f"unknown model {name!r}; choose one of: {', '.join(TRAINERS)} (or {ALL})"
            )
        return canonical

    # --- training -----------------------------------------------------------------------
    def train(self, name: str, progress: Progress | None = None, **options: Any) -> ModelCard:
        """Train model ``name`` (see ``TRAINERS``), store its card and return it."""
        name = self.resolve(name)
        opts = TrainOptions(**{k: v for k, v in options.items() if v is not None})
        trainer = importlib.import_module(TRAINERS[name])
        tick = time.perf_counter()
        with self.ws.warehouse.session():  # its temporary tables on a connection of its own
            card: ModelCard = trainer.train(self.ws, opts, progress or (lambda _m: None))
        if not card.training_seconds:
            card.training_seconds = round(time.perf_counter() - tick, 3)
        save_card(self.ws.warehouse, card)
        return card

    def train_all(
        self,
        names: Sequence[str] | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> list[TrainOutcome]:
        """Train several models (default: every one, in ``TRAINERS`` order). A model that
        fails is reported with its error and the others still train."""
        say = progress or (lambda _m: None)
        wanted = [self.resolve(n) for n in names] if names else list(TRAINERS)
        outcomes = []
        for name in wanted:
            say(f"{name}: starting")
            try:
                card = self.train(name, progress=lambda m, n=name: say(f"{n}: {m}"), **options)
                outcomes.append(TrainOutcome(name, card=card))
            except ImportError as e:
                outcomes.append(
                    TrainOutcome(name, error=f"its trainer {TRAINERS[name]} cannot be loaded: {e}")
                )
            except (ValueError, LookupError) as e:  # the data or the options do not fit
                outcomes.append(TrainOutcome(name, error=str(e)))
            except Exception as e:  # a bug: reported with its type, and logged with a trace
                log.exception("training %s failed", name)
                outcomes.append(TrainOutcome(name, error=f"{type(e).__name__}: {e}"))
        return outcomes

    # --- reading ------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """The latest card of every model (trained or not), newest first, then the untrained."""
        latest: dict[str, ModelCard] = {}
        for card in cards(self.ws.warehouse):
            latest.setdefault(card.model, card)
        rows = [summary(c) for c in latest.values()]
        rows += [{"model": n, "status": "not trained"} for n in TRAINERS if n not in latest]
        return rows

    def card(self, name: str) -> ModelCard:
        """The latest card of ``name``."""
        found = cards(self.ws.warehouse, name)
        if not found and name.replace("_", "-") != name:
            found = cards(self.ws.warehouse, name.replace("_", "-"))
        if not found:
            trained = sorted({c.model for c in cards(self.ws.warehouse)})
            if name.replace("_", "-") not in TRAINERS and name not in trained:
                known = ", ".join(sorted({*TRAINERS, *trained}))
                raise UnknownModelError(f"unknown model {name!r}; models: {known}")
            raise NotTrainedError(
                f"model {name!r} has not been trained yet; run `portrait models train {name}`"
            )
        return found[0]

    def show(self, name: str) -> dict[str, Any]:
        """The latest card of ``name`` as JSON-ready data."""
        return card_json(self.card(name))

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every run of ``name``, newest first, one summary each."""
        return [summary(c) for c in cards(self.ws.warehouse, self.card(name).model)]

    # --- build with models --------------------------------------------------------------
    def build_with_models(
        self,
        as_of: str | date | None = None,
        backend: str = "duckdb",
        full: bool = False,
        progress: Progress | None = None,
    ) -> ModelsBuildResult:
        """Build the profiles, train every model, then build again (incrementally) so that
        the model tags hold the new scores."""
        say = progress or (lambda _m: None)
        profiles = self.ws.profiles
        latest = default_as_of(self.ws.warehouse, profiles.timezone)
        if as_of is not None and str(as_of) != latest.isoformat():
            raise ValueError(
                f"--with-models builds as of the day after the latest event ({latest}): models "
                f"score persons as of that day, so a build as of {as_of} would show scores "
                "from after its date; leave out --as-of"
            )
        tick = time.perf_counter()
        first = profiles.build(backend=backend, full=full, progress=say)
        models_tick = time.perf_counter()
        outcomes = self.train_all(progress=say)
        models_seconds = time.perf_counter() - models_tick
        say("building again with the new scores")
        second = profiles.build(backend=backend, progress=say)
        timings = {
            **second.timings,
            "first_build": first.seconds,
            "models": round(models_seconds, 3),
            "second_build": second.seconds,
            "total": round(time.perf_counter() - tick, 3),
        }
        base = second.as_dict() | {"timings": timings}  # seconds: the second build's own
        return ModelsBuildResult(**base, models=[o.as_dict() for o in outcomes])
