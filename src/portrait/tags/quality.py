"""Tag quality: coverage, distributions, drift between builds, cross-checks, and — on the
simulator — precision and recall of tags against the users' known latent traits."""

from __future__ import annotations

import math

from portrait.store import tag_builds, tag_stats
from portrait.store.profiles import has_table
from portrait.store.tag_stats import TagStats
from portrait.store.warehouse import Warehouse
from portrait.tags.catalog import Catalog
from portrait.tags.conditions import Compare, describe
from portrait.tags.model import TagDef
from portrait.tags.results import (
    AffinityTruth,
    BuildLogEntry,
    CrossCheck,
    Drift,
    PersonaTruth,
    QualityReport,
    StatsSummary,
    TagQuality,
    TruthReport,
)

# Persona tags and the simulator's ground-truth labels they should find.
PERSONA_TRUTH = {
    "price_sensitive": "price_sensitive",
    "brand_loyal": "brand_loyal",
    "trend_seeker": "trend_seeker",
}
AFFINITY_TAG = "category_affinity"
AFFINITY_MIN_ORDERS = 5
TARGETS = {"persona_precision": 0.85, "persona_recall": 0.85, "affinity_top3_hit": 0.90}


def psi(now: dict[str, float], before: dict[str, float]) -> float:
    """Population stability index between two distributions (shares by value)."""
    eps = 1e-4
    total = 0.0
    for k in set(now) | set(before):
        a, b = max(now.get(k, 0.0), eps), max(before.get(k, 0.0), eps)
        total += (a - b) * math.log(a / b)
    return round(total, 6)


def drift(now: TagStats, before: TagStats | None) -> Drift | None:
    """How a tag moved between two builds: coverage change, mean shift (in standard
    deviations of the earlier build) and PSI of the distribution."""
    if before is None:
        return None
    shift = None
    if now.mean is not None and before.mean is not None and (before.stddev or 0.0) > 0:
        shift = round((now.mean - before.mean) / before.stddev, 6)
    both = now.distribution and before.distribution
    return Drift(
        coverage_change=round(now.coverage - before.coverage, 6),
        mean_shift_sd=shift,
        psi=psi(now.distribution, before.distribution) if both else None,
    )


def quality_report(wh: Warehouse, catalog: Catalog, build_id: str | None = None) -> QualityReport:
    """The quality report of a build (default: the live one) against the build before it (the
    latest made before it of a date not after its own)."""
    history = builds_with_live(wh, 1000)
    if not history:
        raise LookupError("no profile build yet; run `portrait build` first")
    ids = [b.build_id for b in history]
    if build_id is None:
        build_id = next((b.build_id for b in history if b.live), ids[0])
    if build_id not in ids:
        raise LookupError(f"no build {build_id!r}; `portrait build --list` shows them")
    index = ids.index(build_id)
    build = history[index]
    previous = next((b for b in history[index + 1 :] if b.as_of <= build.as_of), None)
    pii = {t.id for t in catalog if t.pii}  # coverage only: their values are persons'
    now = tag_stats.stats(wh, build.build_id, pii)
    before = tag_stats.stats(wh, previous.build_id, pii) if previous else {}
    return QualityReport(
        build=build,
        previous_build=previous.build_id if previous else None,
        tags=[_tag_quality(t, now[t.id], before.get(t.id)) for t in catalog if t.id in now],
        cross_checks=_cross_checks(wh, catalog, build.snapshot),
        truth=truth_report(wh, build.snapshot, catalog),
    )


def builds_with_live(wh: Warehouse, limit: int = 20) -> list[BuildLogEntry]:
    """The build log, latest finished first, the live build marked."""
    rows = tag_builds.builds(wh, limit)
    live = tag_builds.live_build(wh) if rows else None
    return [
        BuildLogEntry(**r.model_dump(), live=live is not None and r.build_id == live.build_id)
        for r in rows
    ]


def _tag_quality(t: TagDef, s: TagStats, before: TagStats | None) -> TagQuality:
    summary = None
    if s.mean is not None:
        summary = StatsSummary(mean=s.mean, stddev=s.stddev, min=s.min, p50=s.p50, max=s.max)
    return TagQuality(
        id=t.id,
        group=t.group,
        kind=t.kind,
        type=t.type,
        coverage=round(s.coverage, 6),
        non_null=s.non_null,
        summary=summary,
        distribution=s.distribution,
        drift=drift(s, before),
    )


def _cross_checks(wh: Warehouse, catalog: Catalog, snapshot: str) -> list[CrossCheck]:
    checks = []
    for t in catalog:
        if t.cross_check and t.cross_check in catalog:
            n, agree = tag_stats.agreement(wh, snapshot, t.id, t.cross_check)
            checks.append(
                CrossCheck(tag=t.id, against=t.cross_check, persons_with_both=n, agreement=agree)
            )
    return checks


def truth_report(wh: Warehouse, snapshot: str, catalog: Catalog) -> TruthReport | None:
    """Tags scored against the simulator's ground truth (None when there is no truth).

    A persona tag is empty for persons with too little evidence (its rule's ``then: null``
    case, e.g. fewer than ``min_orders`` orders). Precision and recall are over the truth
    users whose tag is not empty (``with_evidence`` of them; ``population`` says which);
    ``recall_all_users`` is the share of all true members, with evidence or not, that the tag
    finds.
    """
    if not has_table(wh, "truth_users"):
        return None
    personas = {
        tag: _persona_truth(wh, snapshot, catalog.get(tag), label)
        for tag, label in PERSONA_TRUTH.items()
        if tag in catalog
    }
    affinity = None
    if AFFINITY_TAG in catalog and "orders_total" in catalog:
        n, top3, top1 = tag_stats.affinity_hits(wh, snapshot, AFFINITY_TAG, AFFINITY_MIN_ORDERS)
        affinity = AffinityTruth(
            tag=AFFINITY_TAG,
            users=n,
            min_orders=AFFINITY_MIN_ORDERS,
            top3_hit_rate=_r(top3),
            top1_hit_rate=_r(top1),
            meets_target=top3 is not None and top3 >= TARGETS["affinity_top3_hit"],
        )
    return TruthReport(targets=TARGETS, personas=personas, category_affinity=affinity)


def _persona_truth(wh: Warehouse, snapshot: str, tag: TagDef, label: str) -> PersonaTruth:
    users, evidence, tp, fp, fn, positives = tag_stats.persona_confusion(
        wh, snapshot, tag.id, label
    )
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    empty_when = _empty_when(tag)
    return PersonaTruth(
        population=f"truth users whose {tag.id} is not empty"
        + (f" (it is empty where {empty_when})" if empty_when else ""),
        truth_users=users,
        with_evidence=evidence,
        evidence_share=round(evidence / users, 4) if users else None,
        precision=_r(precision),
        recall=_r(recall),
        recall_all_users=_r(tp / positives) if positives else None,
        meets_target=precision is not None
        and recall is not None
        and precision >= TARGETS["persona_precision"]
        and recall >= TARGETS["persona_recall"],
    )


_SYMBOLS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=", "ne": "!=", "not_in": "not in"}


def _empty_when(tag: TagDef) -> str | None:
    """The conditions under which a rule tag is empty, in words: ``orders_365d < 3``."""
    if tag.rule is None or not tag.rule.cases:
        return None
    conditions = [
        describe(case.when, lambda leaf: _test_text(leaf.resolved(tag.params)))
        for case in tag.rule.cases
        if case.then is None
    ]
    return " or ".join(conditions) or None


def _test_text(leaf: Compare) -> str:
    if leaf.op == "is_null":
        return f"{leaf.column} is {'' if leaf.value else 'not '}empty"
    return f"{leaf.column} {_SYMBOLS.get(leaf.op, leaf.op)} {leaf.value}"


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
