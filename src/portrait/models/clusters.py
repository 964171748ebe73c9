"""Learned segmentation: k-means (or a Gaussian mixture) over standardised behavioural tags.

The population is every person with at least ``min_orders`` orders in the last 365 days (default
3, the evidence the persona tags ask for: shares over one or two orders are mostly noise). By
default the clustering features are the shopping-style tags (share bought on discount, brand
concentration, share of new arrivals); ``features`` picks any numeric tags instead. Counts and
money are log-transformed, then every feature is standardised (missing values take the median).
``k`` is chosen from the data: the silhouette score (k-means, on a fixed-size sample) or the BIC
(Gaussian mixture) over ``k_min..k_max``. Each cluster is described in plain words by the features
whose cluster mean differs most from the population (in standard deviations) and by the favourite
category and day part that are most over-represented in it, e.g. "high spend, high discount
share, buys beauty, active evenings".

The assignment is written as the model tag ``behaviour_cluster`` (an integer, 1..k); a build then
fills it, and the segments ``cluster_1``..``cluster_k`` select ``behaviour_cluster = i``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from portrait.models.registry import ModelCard, TrainOptions, save_card, write_scores
from portrait.models.results import ClusterDescription, ClusterFeature, ClusterLift, ClusterRun
from portrait.store import models as model_store

if TYPE_CHECKING:
    from portrait.models.context import ModelContext
    from portrait.workspace import Workspace

MODEL = "clusters"
TAG = "behaviour_cluster"
# how people shop: the behaviour the latent persona classes of PRODUCT.md show in
STYLE_FEATURES: tuple[str, ...] = ("discount_share", "brand_concentration", "new_arrival_share")
# (tag, transform) of the tags clusters are described by: log1p for counts and money
DESCRIBE_FEATURES: tuple[tuple[str, str], ...] = (
    ("orders_365d", "log"),
    ("spend_365d", "log"),
    ("avg_order_value", "log"),
    ("days_since_last_order", "log"),
    ("visits_90d", "log"),
    ("product_views_90d", "log"),
    ("category_breadth", "log"),
    ("discount_share", "id"),
    ("coupon_order_share", "id"),
    ("brand_concentration", "id"),
    ("new_arrival_share", "id"),
    ("avg_price_index", "id"),
    ("cart_abandonment_rate", "id"),
    ("weekend_share", "id"),
    ("refund_rate", "id"),
)
DESCRIBE_BY = ("favourite_category", "active_daypart")
SILHOUETTE_SAMPLE = 4000
FIT_SAMPLE = 50_000
Progress = Callable[[str], None]


class ClusterError(ValueError):
    """Clustering cannot run as asked (no build, too few buyers, unknown feature)."""


def _matrix(table: pa.Table, features: Sequence[tuple[str, str]]) -> tuple[np.ndarray, list[str]]:
    cols, names = [], []
    for tag, transform in features:
        x = np.asarray(table.column(tag).to_numpy(zero_copy_only=False), dtype="float64")
        if transform == "log":
            x = np.log1p(np.clip(x, 0, None))
        if np.all(np.isnan(x)):
            continue  # a tag this shop does not fill (e.g. no coupons in the data)
        med = np.nanmedian(x)
        x = np.where(np.isnan(x), med, x)
        sd = x.std()
        if sd == 0:
            continue
        cols.append((x - x.mean()) / sd)
        names.append(tag)
    if not cols:
        raise ClusterError("no feature has any spread in this profile; nothing to cluster on")
    return np.column_stack(cols), names


def _fit(x: np.ndarray, k: int, method: str, seed: int) -> Any:
    # scikit-learn is imported where it is used: at module level it made every CLI command
    # (which imports this module for `portrait segment cluster`) 1.6 s slower to start
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    if method == "gmm":
        return GaussianMixture(k, covariance_type="diag", random_state=seed, n_init=2).fit(x)
    return KMeans(k, n_init=4, random_state=seed).fit(x)


def choose_k(
    x: np.ndarray, k_min: int, k_max: int, method: str, seed: int, say: Progress
) -> tuple[int, dict[int, float]]:
    """The k with the best silhouette (k-means) or the lowest BIC (GMM), and every score."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    fit_rows = x if len(x) <= FIT_SAMPLE else x[rng.choice(len(x), FIT_SAMPLE, replace=False)]
    scores: dict[int, float] = {}
    for k in range(k_min, k_max + 1):
        say(f"trying k={k}")
        model = _fit(fit_rows, k, method, seed)
        if method == "gmm":
            scores[k] = float(model.bic(fit_rows))
        else:
            labels = model.predict(fit_rows)
            scores[k] = float(
                silhouette_score(
                    fit_rows, labels, sample_size=min(SILHOUETTE_SAMPLE, len(fit_rows)),
                    random_state=seed,
                )
            )  # fmt: skip
    best = min(scores, key=scores.get) if method == "gmm" else max(scores, key=scores.get)
    return best, scores


def describe(
    x: np.ndarray,
    names: list[str],
    labels: np.ndarray,
    table: pa.Table,
    label_of: Callable[[str], str],
    top: int = 3,
) -> list[ClusterDescription]:
    """Per cluster: size, the features that set it apart (mean in SDs) and over-represented
    categorical tags (lift), and a plain-words description."""
    out = []
    extra = {c: table.column(c).to_pylist() for c in DESCRIBE_BY if c in table.column_names}
    n = len(labels)
    for c in sorted(set(labels.tolist())):
        mask = labels == c
        z = x[mask].mean(axis=0)
        order = np.argsort(-np.abs(z))
        distinct = [
            ClusterFeature(tag=names[i], z=round(float(z[i]), 2))
            for i in order[:top]
            if abs(z[i]) >= 0.3
        ]
        words = [f"{'high' if d.z > 0 else 'low'} {label_of(d.tag).lower()}" for d in distinct]
        lifts = [lift for col, values in extra.items() if (lift := _lift(col, values, mask))]
        words += [
            f"buys {lift.value}" if lift.tag == "favourite_category" else f"active {lift.value}s"
            for lift in lifts
        ]
        out.append(
            ClusterDescription(
                cluster=int(c) + 1,
                size=int(mask.sum()),
                share=round(float(mask.sum()) / n, 4),
                distinguishing=distinct,
                over_represented=lifts,
                description=", ".join(words) if words else "close to the average buyer",
            )
        )
    return out


def _lift(tag: str, values: list[Any], mask: np.ndarray) -> ClusterLift | None:
    """The value of ``tag`` most over-represented in the cluster ``mask`` (a quarter of it at
    least, 1.3 times the population's share), if any."""
    vals = np.array([v if v is not None else "" for v in values], dtype=object)
    inside = vals[mask]
    best = None
    for v in set(inside.tolist()) - {""}:
        share_in = float(np.mean(inside == v))
        share_all = float(np.mean(vals == v))
        lift = share_in / share_all if share_all else 0.0
        if share_in >= 0.25 and lift >= 1.3 and (best is None or lift > best[2]):
            best = (v, share_in, lift)
    if best is None:
        return None
    return ClusterLift(tag=tag, value=str(best[0]), share=round(best[1], 3), lift=round(best[2], 2))


def truth_agreement(
    ctx: ModelContext, person_ids: Sequence[str], labels: np.ndarray
) -> dict[str, Any] | None:
    """Adjusted Rand index of the clusters against the simulator's latent persona classes
    (the set of classes each user belongs to), when the workspace has ``truth_users``."""
    classes = model_store.persona_classes(ctx.warehouse)
    if classes is None:
        return None
    truth = {pid: cls or "none" for pid, cls in classes.items()}
    pairs = [
        (truth[p], int(label)) for p, label in zip(person_ids, labels, strict=True) if p in truth
    ]
    if not pairs:
        return None
    from sklearn.metrics import adjusted_rand_score

    true, pred = zip(*pairs, strict=True)
    return {
        "adjusted_rand_index": round(float(adjusted_rand_score(true, pred)), 4),
        "compared": len(pairs),
        "truth": "latent persona classes (price-sensitive x brand-loyal / trend-seeker)",
    }


def run(
    ctx: ModelContext,
    k: int | None = None,
    method: str = "kmeans",
    features: Sequence[str] | None = None,
    k_min: int = 2,
    k_max: int = 8,
    seed: int = 42,
    min_orders: int = 3,
    progress: Progress | None = None,
) -> ModelCard:
    """Cluster the buyers of the latest build, write ``behaviour_cluster`` and return the card."""
    say = progress or (lambda _m: None)
    if method not in ("kmeans", "gmm"):
        raise ClusterError(f"unknown method {method!r}; use kmeans or gmm")
    if k is not None and k < 2:
        raise ClusterError(f"--k {k}: need at least 2 clusters (or 'auto')")
    if k_min < 2 or k_max < k_min:
        raise ClusterError(f"k range {k_min}..{k_max}: need 2 <= k_min <= k_max")
    tick = time.perf_counter()
    catalog = ctx.profiles.catalog
    chosen = _features(catalog, features)
    shown = [(t, x) for t, x in DESCRIBE_FEATURES if t in catalog]
    wanted = sorted({t for t, _ in chosen + shown} | {"orders_365d"})
    wanted += [c for c in DESCRIBE_BY if c in catalog]
    table = ctx.profiles.frame(tags=wanted)
    build = ctx.profiles.builds(1)[0]
    orders = np.asarray(table.column("orders_365d").to_numpy(zero_copy_only=False), "float64")
    table = table.filter(pa.array(np.nan_to_num(orders) >= min_orders))
    if table.num_rows < max(50, 10 * (k or k_max)):
        raise ClusterError(
            f"only {table.num_rows} persons with {min_orders}+ orders in the last 365 days; "
            "clustering "
            f"needs at least {max(50, 10 * (k or k_max))}"
        )
    say(f"standardising {len(chosen)} features of {table.num_rows:,} buyers")
    x, names = _matrix(table, chosen)
    shown_x, shown_names = _matrix(table, shown)
    scores: dict[int, float] = {}
    if k is None:
        k, scores = choose_k(x, k_min, min(k_max, table.num_rows - 1), method, seed, say)
    say(f"fitting {method} with k={k}")
    model = _fit(x, k, method, seed)
    labels = np.asarray(model.predict(x))
    # number clusters by size, largest first, so names are stable across runs
    order = {c: i for i, c in enumerate(np.argsort(-np.bincount(labels, minlength=k)))}
    labels = np.array([order[c] for c in labels])

    def label_of(tag: str) -> str:
        return catalog.get(tag).en.replace(", last", " in the last")

    clusters = describe(shown_x, shown_names, labels, table, label_of)
    person_ids = table.column("person_id").to_pylist()
    truth = truth_agreement(ctx, person_ids, labels)
    written = write_scores(ctx.warehouse, MODEL, person_ids, {TAG: (labels + 1).tolist()})
    metrics: dict[str, Any] = {"k": int(k), "method": method}
    if scores:
        metrics["k_selection"] = {
            "criterion": "bic (lower is better)" if method == "gmm" else "silhouette",
            "scores": {str(kk): round(v, 4) for kk, v in scores.items()},
        }
    if method == "kmeans":
        from sklearn.metrics import silhouette_score

        rng = np.random.default_rng(seed)
        idx = rng.choice(len(x), min(SILHOUETTE_SAMPLE, len(x)), replace=False)
        metrics["silhouette"] = round(float(silhouette_score(x[idx], labels[idx])), 4)
    if truth:
        metrics["truth"] = truth
    return ModelCard(
        model=MODEL,
        algorithm="k-means (scikit-learn)" if method == "kmeans" else "Gaussian mixture (diag)",
        dataset=str(ctx.root),
        training_seconds=round(time.perf_counter() - tick, 3),
        data_window={"build_id": build.build_id, "as_of": build.as_of},
        features=names,
        params={"k": int(k), "seed": seed, "clusters": [c.model_dump() for c in clusters]},
        metrics=metrics,
        tags_written=written,
        notes=[
            f"population: persons with at least {min_orders} orders in the last 365 days",
            "counts and money log1p-transformed; every feature standardised; missing = median",
        ],
    )


def _features(catalog: Any, features: Sequence[str] | None) -> list[tuple[str, str]]:
    transforms = dict(DESCRIBE_FEATURES)
    if not features:
        features = [t for t in STYLE_FEATURES if t in catalog]
    out = []
    for tag in features:
        if tag not in catalog:
            raise ClusterError(f"unknown tag {tag!r} in --features; see `portrait tags list`")
        t = catalog.get(tag)
        if t.type not in ("int", "float", "bool"):
            raise ClusterError(f"{tag} is a {t.type} tag; clustering needs numeric or bool tags")
        out.append((tag, transforms.get(tag, "log" if t.type == "int" else "id")))
    return out


def train(ctx: ModelContext, options: TrainOptions, progress: Progress) -> ModelCard:
    """Trainer contract (``portrait models train clusters``): k chosen automatically."""
    return run(ctx, seed=options.seed, progress=progress)


def cluster_segments(
    ws: Workspace,
    k: int | None = None,
    method: str = "kmeans",
    features: Sequence[str] | None = None,
    min_orders: int = 3,
    k_max: int = 8,
    seed: int = 42,
    progress: Progress | None = None,
) -> ClusterRun:
    """``portrait segment cluster``: cluster, store the card, rebuild the profile so that
    ``behaviour_cluster`` is filled, and save the segments ``cluster_1``..``cluster_k``
    (replacing those of an earlier run, with their stored memberships, which belong to another
    clustering; one left over from a larger k is deleted). It takes the Workspace: it runs a
    whole build (with what follows one) and saves segments."""
    say = progress or (lambda _m: None)
    card = run(
        ws, k=k, method=method, features=features, min_orders=min_orders, k_max=k_max,
        seed=seed, progress=say,
    )  # fmt: skip
    save_card(ws.warehouse, card)
    say("rebuilding the profile with the clusters")
    ws.build(progress=say)
    found = [ClusterDescription.model_validate(c) for c in card.params["clusters"]]
    existing = {s.name for s in ws.segments.list()}
    saved = []
    for c in found:
        name = f"cluster_{c.cluster}"
        say(f"saving segment {name}")
        if name in existing:  # a new clustering: the old memberships meant other clusters
            ws.segments.delete(name)
        ws.segments.create(name, f"{TAG} = {c.cluster}", description=c.description, replace=True)
        saved.append(c.model_copy(update={"segment": name}))
    stale = {
        s.name
        for s in ws.segments.list()
        if s.name.startswith("cluster_") and s.expression.startswith(TAG)
    } - {c.segment for c in saved}
    for name in sorted(stale):
        ws.segments.delete(name)
    return ClusterRun(
        run_id=card.run_id,
        population=sum(c.size for c in saved),
        metrics=card.metrics,
        features=card.features,
        clusters=saved,
        removed_segments=sorted(stale),
    )
