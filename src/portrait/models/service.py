"""The model facade a Workspace exposes as ``ws.models``: train, list and show models.

>>> card = ws.models.train("churn", horizon_days=90)             # doctest: +SKIP
>>> [o.status for o in ws.models.train_all()]                    # doctest: +SKIP
['trained', 'trained', 'trained', 'trained']
>>> ws.models.list()[0].key_metric                               # doctest: +SKIP
KeyMetric(name='auc', model=0.73, baseline=0.65, baseline_name=None)
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.models.context import TrainContext
from portrait.models.registry import TRAINERS, ModelCard, TrainOptions, cards, save_card
from portrait.models.results import KeyMetric, ModelSummary, TrainOutcome
from portrait.tags.build import BuildResult, default_as_of

if TYPE_CHECKING:
    from portrait.store.warehouse import Warehouse
    from portrait.tags.service import ProfileService

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
class ModelsBuildResult(BuildResult):
    """``portrait build --with-models``: the final build, and what each model did."""

    # each model's TrainOutcome as JSON (model_dump(mode="json")): a build result is plain data
    models: list[dict[str, Any]] = field(default_factory=list)


def key_metric(card: ModelCard) -> KeyMetric | None:
    """The card's headline figure, with its baseline when it has one."""
    key = card.metrics.get("key")
    if isinstance(key, dict):
        return KeyMetric.model_validate(key)
    for path in KEY_METRICS.get(card.model, ()):
        value: Any = card.metrics
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return KeyMetric(name=".".join(path), model=value)
    return None


def summary(card: ModelCard) -> ModelSummary:
    """One line of ``portrait models list``."""
    return ModelSummary(
        model=card.model,
        status="trained",
        run_id=card.run_id,
        trained_at=card.trained_at,
        training_seconds=card.training_seconds,
        algorithm=card.algorithm,
        key_metric=key_metric(card),
        tags_written=card.tags_written,
    )


def trained(card: ModelCard) -> TrainOutcome:
    """The outcome of a run that trained: its card's figures."""
    return TrainOutcome(
        model=card.model,
        status="trained",
        run_id=card.run_id,
        training_seconds=card.training_seconds,
        key_metric=key_metric(card),
        tags_written=card.tags_written,
        card=card,
    )


def failed(model: str, error: str) -> TrainOutcome:
    """The outcome of a run that stopped, and why."""
    return TrainOutcome(model=model, status="failed", error=error)


class ModelService:
    """Training and reading models: the trainers of ``TRAINERS`` run on what this service is
    given (warehouse, profile service, workspace folder), never on the whole Workspace."""

    def __init__(self, warehouse: Warehouse, profiles: ProfileService, root: Path) -> None:
        self.warehouse = warehouse
        self.profiles = profiles
        self.root = root
        self._context = TrainContext(warehouse, profiles, root)

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
        with self.warehouse.session():  # its temporary tables on a connection of its own
            card: ModelCard = trainer.train(self._context, opts, progress or (lambda _m: None))
        if not card.training_seconds:
            card.training_seconds = round(time.perf_counter() - tick, 3)
        save_card(self.warehouse, card)
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
                outcomes.append(trained(card))
            except ImportError as e:
                outcomes.append(failed(name, f"its trainer {TRAINERS[name]} cannot be loaded: {e}"))
            except (ValueError, LookupError) as e:  # the data or the options do not fit
                outcomes.append(failed(name, str(e)))
            except Exception as e:  # a bug: reported with its type, and logged with a trace
                log.exception("training %s failed", name)
                outcomes.append(failed(name, f"{type(e).__name__}: {e}"))
        return outcomes

    # --- reading ------------------------------------------------------------------------
    def list(self) -> list[ModelSummary]:
        """The latest card of every model (trained or not), newest first, then the untrained."""
        latest: dict[str, ModelCard] = {}
        for card in cards(self.warehouse):
            latest.setdefault(card.model, card)
        rows = [summary(c) for c in latest.values()]
        rows += [ModelSummary(model=n, status="not trained") for n in TRAINERS if n not in latest]
        return rows

    def card(self, name: str) -> ModelCard:
        """The latest card of ``name``."""
        found = cards(self.warehouse, name)
        if not found and name.replace("_", "-") != name:
            found = cards(self.warehouse, name.replace("_", "-"))
        if not found:
            trained = sorted({c.model for c in cards(self.warehouse)})
            if name.replace("_", "-") not in TRAINERS and name not in trained:
                known = ", ".join(sorted({*TRAINERS, *trained}))
                raise UnknownModelError(f"unknown model {name!r}; models: {known}")
            raise NotTrainedError(
                f"model {name!r} has not been trained yet; run `portrait models train {name}`"
            )
        return found[0]

    def show(self, name: str) -> ModelCard:
        """The latest card of ``name`` (as ``card``: the CLI and the REST route show it)."""
        return self.card(name)

    def history(self, name: str) -> list[ModelSummary]:
        """Every run of ``name``, newest first, one summary each."""
        return [summary(c) for c in cards(self.warehouse, self.card(name).model)]

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
        profiles = self.profiles
        latest = default_as_of(self.warehouse, profiles.timezone)
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
        return ModelsBuildResult(**base, models=[o.model_dump(mode="json") for o in outcomes])
