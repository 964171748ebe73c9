"""Training the served recommender on a workspace's purchases, and the files it leaves.

``train`` is also the ``recs`` trainer of ``portrait.models.registry.TRAINERS``, so
``portrait build --with-models`` and ``portrait models train recs`` run it. Files, under
``<workspace>/recs/``: ``model.npz`` (any generator of ``portrait.recs.registry``),
``users.json``/``items.json`` (the id maps), ``assoc.npz`` (pair counts for association
rules), ``segments.npz`` (popularity per profile segment) and ``meta.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from portrait.errors import ConflictError
from portrait.models.registry import ModelCard, TrainOptions
from portrait.recs.assoc import AssociationRules
from portrait.recs.base import Interactions, Recommender
from portrait.recs.history import PersonHistory
from portrait.recs.ids import IdMap
from portrait.recs.registry import make
from portrait.recs.rules import repeat_rates
from portrait.store import recs as serve_data

if TYPE_CHECKING:
    from portrait.models.context import ModelContext
    from portrait.store.warehouse import Warehouse

DEFAULT_MODEL = "blend"
FOLDER = "recs"
# Profile tags whose segments get their own popularity list (cold start).
SEGMENT_TAGS = ("gender", "age_band", "rfm_segment", "lifecycle_stage")
CATEGORY_LEVEL = "category_l2"
# A category's repeat rate is trusted from this many (buyer, product) pairs on.
REPEAT_MIN_PAIRS = 20
# Latest product views and cart adds kept per person for serving (the session part reads 20).
VIEWS_KEPT = 20


class NotTrainedError(ConflictError, LookupError):
    """No recommender has been trained in this workspace."""


@dataclass
class TrainedRecs:
    """Everything serving needs from a training run."""

    model: Recommender
    users: IdMap
    items: IdMap
    assoc: AssociationRules
    segment_keys: list[str]  # "tag=value", one per row of segment_counts
    segment_counts: np.ndarray  # (segments, items): distinct buyers in the segment
    meta: dict[str, Any] = field(default_factory=dict)
    history: PersonHistory = field(default_factory=PersonHistory.empty)

    def __post_init__(self) -> None:
        self.item_ids: list[str] = self.items.ids  # dense id -> product id, for serving
        self.item_index = {p: i for i, p in enumerate(self.item_ids)}
        self.popular: list[tuple[str, float]] = []  # filled on first use by serving
        self.memo: dict[Any, Any] = {}  # serving's per-item results (neighbours, rules)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder / "model.npz")
        self.users.save(folder / "users.json")
        self.items.save(folder / "items.json")
        self.assoc.save(folder / "assoc.npz")
        self.history.save(folder / "history.npz")
        with (folder / "segments.npz").open("wb") as f:
            np.savez(f, counts=self.segment_counts, keys=np.asarray(self.segment_keys, dtype=str))
        # meta last: its presence says the other files are complete
        (folder / "meta.json").write_text(json.dumps(self.meta, indent=2, default=str))

    @classmethod
    def load(cls, folder: Path) -> TrainedRecs:
        if not (folder / "meta.json").exists():
            raise NotTrainedError(
                "no recommender trained in this workspace yet; run `portrait recs train` "
                "(or `portrait build --with-models`)"
            )
        with np.load(folder / "segments.npz", allow_pickle=False) as z:
            counts, keys = z["counts"], [str(k) for k in z["keys"]]
        return cls(
            model=Recommender.load(folder / "model.npz"),
            users=IdMap.load(folder / "users.json"),
            items=IdMap.load(folder / "items.json"),
            assoc=AssociationRules.load(folder / "assoc.npz"),
            segment_keys=keys,
            segment_counts=counts,
            meta=json.loads((folder / "meta.json").read_text()),
            history=PersonHistory.load(folder / "history.npz") or PersonHistory.empty(),
        )


def fit(
    wh: Warehouse, model: str = DEFAULT_MODEL, min_pair_count: int = 2
) -> tuple[TrainedRecs, dict[str, Any]]:
    """Fit ``model`` (a name of ``portrait.recs.registry``), association rules, segment
    popularity and category repeat rates on the workspace's purchases."""
    started = datetime.now(UTC)  # events ingested after this are the "session" at serving
    lines = serve_data.purchases(wh)
    if lines.num_rows == 0:
        raise ValueError("no purchases (order events with a product) to learn from; ingest first")
    persons = lines["person_id"].to_pylist()
    products = lines["product_id"].to_pylist()
    orders = lines["order_id"].to_pylist()
    ts = lines["ts"].to_numpy(zero_copy_only=False).astype(np.float64)
    users, items = IdMap.fit(persons), IdMap.fit(products)
    u, i = users.to_index(persons), items.to_index(products)
    # one interaction per (person, product, order), as in the evaluation protocol
    baskets = IdMap.fit(orders).to_index(orders)
    _, first = np.unique(np.stack([u, i, baskets]), axis=1, return_index=True)
    data = Interactions.from_arrays(
        u[first], i[first], timestamps=ts[first], n_users=len(users), n_items=len(items)
    )
    recommender = make(model).fit(data)
    assoc = AssociationRules.fit(baskets, i, len(items), min_count=min_pair_count)
    keys, counts = segment_popularity(wh, persons, i, len(items))
    catalogue = {p["product_id"]: p for p in serve_data.products(wh)}
    categories = [(catalogue.get(p) or {}).get(CATEGORY_LEVEL) or "" for p in products]
    meta = {
        "model": model,
        "params": recommender.params(),
        "trained_at": started.isoformat(),
        "data_until": float(ts.max()),
        "repeat_rates": repeat_rates(persons, products, orders, categories, REPEAT_MIN_PAIRS),
        "category_level": CATEGORY_LEVEL,
    }
    trained = TrainedRecs(
        recommender, users, items, assoc, keys, counts, meta, history=person_history(wh)
    )
    stats = {
        "order_lines": lines.num_rows,
        "interactions": len(first),
        "users": len(users),
        "items": len(items),
        "baskets": assoc.n_baskets,
        "item_pairs": int(assoc.pair_baskets.nnz // 2),
        "segments": len(keys),
        "products_in_catalogue": len(catalogue),
        "history_rows": len(trained.history),
    }
    return trained, stats


def person_history(wh: Warehouse) -> PersonHistory:
    """Every person's order lines and latest views/cart adds, for serving without a scan."""
    rows = serve_data.person_history(wh, VIEWS_KEPT)
    return PersonHistory.from_rows(
        *(rows[c].to_pylist() for c in ("person_id", "product_id", "type", "ts"))
    )


def segment_popularity(
    wh: Warehouse, persons: list[str], items: np.ndarray, n_items: int
) -> tuple[list[str], np.ndarray]:
    """Distinct buyers of each item among the persons of each segment ``tag=value`` of the
    latest profile build (none before a build)."""
    frame: pa.Table | None = serve_data.profile_frame(wh, SEGMENT_TAGS)
    if frame is None:
        return [], np.zeros((0, n_items))
    ids = frame["person_id"].to_pylist()
    keys: list[str] = []
    rows: list[np.ndarray] = []
    pairs = np.unique(np.stack([IdMap.fit(persons).to_index(persons), items]), axis=1)
    person_map = IdMap.fit(persons)
    for tag in frame.column_names[1:]:
        values = {p: v for p, v in zip(ids, frame[tag].to_pylist(), strict=True) if v is not None}
        for value in sorted({str(v) for v in values.values()}):
            members = [p for p, v in values.items() if str(v) == value]
            member_idx = person_map.to_index(members)
            in_segment = np.isin(pairs[0], member_idx[member_idx >= 0])
            keys.append(f"{tag}={value}")
            rows.append(np.bincount(pairs[1][in_segment], minlength=n_items).astype(np.float64))
    return keys, np.vstack(rows) if rows else np.zeros((0, n_items))


def train(ctx: ModelContext, options: TrainOptions, progress: Callable[[str], None]) -> ModelCard:
    """The ``recs`` trainer (see ``TRAINERS``): fit the generator of the last training
    (``portrait recs train --model``), the blend the first time, and save its files."""
    meta = ctx.root / FOLDER / "meta.json"
    model = json.loads(meta.read_text()).get("model") if meta.exists() else None
    return train_and_save(ctx.warehouse, ctx.root, model or DEFAULT_MODEL, progress)


def train_and_save(
    wh: Warehouse,
    root: Path,
    model: str = DEFAULT_MODEL,
    progress: Callable[[str], None] | None = None,
) -> ModelCard:
    """Fit, write the files under ``<root>/recs/`` and return the card (not saved)."""
    say = progress or (lambda _m: None)
    tick = time.perf_counter()
    say(f"fitting {model} on the purchases")
    trained, stats = fit(wh, model)
    card = ModelCard(
        model="recs",
        algorithm=f"{model} ({type(trained.model).__name__}) + pairwise association rules",
        dataset=str(root),
        data_window={"until": datetime.fromtimestamp(trained.meta["data_until"], UTC).isoformat()},
        params={"generator": model, **trained.meta["params"]},
        metrics={"training": stats},
        notes=[
            "candidates from the generator, re-ranked at serving time by the session "
            "(views and carts since training), business rules and profile (favourite brand)",
        ],
    )
    trained.meta["run_id"] = card.run_id
    say("writing the model files")
    trained.save(root / FOLDER)
    card.training_seconds = round(time.perf_counter() - tick, 3)
    return card
