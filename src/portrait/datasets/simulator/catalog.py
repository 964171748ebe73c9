"""The product catalog: a 3-level category tree, brands, log-normal prices and launch dates.

Products are sorted by brand, and brands are numbered category by category, so every top
category and every brand is one contiguous range of product indices. Popularity-weighted
choices inside a range are then a ``searchsorted`` on a cumulative sum: fully vectorised.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from portrait.datasets.base import source_schema
from portrait.datasets.simulator.categories import CATEGORIES, N_CATEGORIES
from portrait.datasets.simulator.clock import US_PER_DAY, Period
from portrait.datasets.simulator.ids import prefixed

NEW_ARRIVAL_DAYS = 30
# Share of the catalog in each top category (same order as CATEGORIES).
CATEGORY_SHARE = np.array([0.14, 0.16, 0.10, 0.10, 0.12, 0.08, 0.08, 0.08, 0.06, 0.08])


def catalog_size(users: int) -> int:
    """How many products a shop with ``users`` users sells."""
    return int(min(50_000, max(200, users // 20)))


@dataclass(frozen=True)
class Catalog:
    """Product arrays (index = product code) and the lookup structures for choosing products."""

    product_ids: pa.Array
    table: pa.Table
    truth: pa.Table
    l1: np.ndarray
    leaf: np.ndarray  # third-level category code
    brand: np.ndarray
    price: np.ndarray
    relative_price: np.ndarray  # price / mean price of the third-level category
    launch_us: np.ndarray
    quality: np.ndarray
    cat_bounds: np.ndarray  # products of category c: [cat_bounds[c], cat_bounds[c + 1])
    leaf_order: np.ndarray  # established products sorted by leaf
    leaf_bounds: np.ndarray  # leaf_order[leaf_bounds[k]:leaf_bounds[k + 1]] are of leaf k
    brand_bounds: np.ndarray  # products of brand b: [brand_bounds[b], brand_bounds[b + 1])
    cat_brand_bounds: np.ndarray  # brands of category c
    cum_established: np.ndarray  # cumulative popularity, launched before the period only
    cum_all: np.ndarray  # cumulative popularity, all products
    cum_brand: np.ndarray  # cumulative popularity of brands (established products only)
    fallback: np.ndarray  # per category: its most popular established product
    new_index: np.ndarray  # new-arrival products sorted by (category, launch)
    new_key: np.ndarray
    new_by_launch: np.ndarray  # new-arrival products sorted by launch, all categories
    epoch_us: int  # launch times in new_key are relative to this
    brand_names: pa.Array
    queries: list[str]
    query_brand0: int  # query code of brand 0 (brand b -> query_brand0 + b)
    query_words: np.ndarray  # [category, language] -> (first, count) of category words

    @property
    def size(self) -> int:
        return len(self.l1)

    def _pick(
        self, rng: np.random.Generator, cum: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray:
        """A popularity-weighted index in each range [lo, hi) of the cumulative weights ``cum``."""
        target = cum[lo] + rng.random(len(lo)) * (cum[hi] - cum[lo])
        return np.clip(np.searchsorted(cum, target, side="right") - 1, lo, hi - 1)

    def pick_established(self, rng: np.random.Generator, cat: np.ndarray) -> np.ndarray:
        """A popularity-weighted product of each category, among those already on sale."""
        return self._pick(rng, self.cum_established, self.cat_bounds[cat], self.cat_bounds[cat + 1])

    def pick_by_price(
        self, rng: np.random.Generator, cat: np.ndarray, price_sensitivity: np.ndarray
    ) -> np.ndarray:
        """A popular product, or a cheaper/dearer one of the same kind, by price sensitivity.

        The alternative is a random product of the same third-level category already on sale,
        so the preference shows in the price paid for like-for-like products.
        """
        a = self.pick_established(rng, cat)
        lo, hi = self.leaf_bounds[self.leaf[a]], self.leaf_bounds[self.leaf[a] + 1]
        pos = lo + (rng.random(len(a)) * (hi - lo)).astype(np.int64)
        b = np.where(hi > lo, self.leaf_order[np.minimum(pos, len(self.leaf_order) - 1)], a)
        cheap = np.where(self.price[a] <= self.price[b], a, b)
        dear = np.where(self.price[a] <= self.price[b], b, a)
        u = rng.random(len(cat))
        return np.where(
            u < price_sensitivity, cheap, np.where(u < 0.5 + price_sensitivity / 2, dear, a)
        )

    def pick_in_brand(
        self, rng: np.random.Generator, brand: np.ndarray, ts: np.ndarray
    ) -> np.ndarray:
        """A popularity-weighted product of each brand on sale at ``ts`` (check with guard)."""
        lo, hi = self.brand_bounds[brand], self.brand_bounds[brand + 1]
        product = self._pick(rng, self.cum_all, lo, hi)
        late = self.launch_us[product] > ts
        if late.any():
            product[late] = self._pick(rng, self.cum_established, lo[late], hi[late])
        return product

    def pick_new(
        self, rng: np.random.Generator, cat: np.ndarray, ts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """A product of the category launched in the 30 days before ``ts`` or, where the
        category has none, of any category (the new-arrivals page); and whether any was."""
        key = cat.astype(np.int64) << 52
        since = np.maximum(ts - NEW_ARRIVAL_DAYS * US_PER_DAY - self.epoch_us, 0)
        hi = np.searchsorted(self.new_key, key + (ts - self.epoch_us), side="right")
        lo = np.searchsorted(self.new_key, key + since)
        launched = self.launch_us[self.new_by_launch] - self.epoch_us
        any_hi = np.searchsorted(launched, ts - self.epoch_us, side="right")
        any_lo = np.searchsorted(launched, since)
        in_cat = hi > lo
        found = in_cat | (any_hi > any_lo)
        if not len(self.new_index):
            return np.zeros(len(cat), dtype=np.int64), found
        u = rng.random(len(cat))
        pos = np.minimum(lo + (u * (hi - lo)).astype(np.int64), len(self.new_index) - 1)
        any_pos = np.minimum(any_lo + (u * (any_hi - any_lo)).astype(np.int64), len(launched) - 1)
        return np.where(in_cat, self.new_index[pos], self.new_by_launch[any_pos]), found

    def favourite_brands(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Each person's favourite brand in every category, popular brands more often."""
        cat = np.broadcast_to(np.arange(N_CATEGORIES), (n, N_CATEGORIES)).ravel()
        lo, hi = self.cat_brand_bounds[cat], self.cat_brand_bounds[cat + 1]
        return self._pick(rng, self.cum_brand, lo, hi).reshape(n, N_CATEGORIES)

    def guard_launched(self, product: np.ndarray, cat: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Replace products not yet launched at ``ts`` by the category's best seller."""
        return np.where(self.launch_us[product] <= ts, product, self.fallback[cat])

    def query_code(self, cat: np.ndarray, language: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A category word of ``cat`` in ``language`` (0 zh, 1 en), chosen by ``u`` in [0, 1)."""
        first = self.query_words[cat, language, 0]
        count = self.query_words[cat, language, 1]
        return first + (u * count).astype(np.int64)


def build_catalog(rng: np.random.Generator, n_products: int, period: Period) -> Catalog:
    """Draw a catalog of ``n_products`` products for the shop running over ``period``."""
    leaves, brands = _tree()
    leaf, brand, l1, base_price = _assortment(rng, _category_counts(n_products), leaves)
    n = len(leaf)
    raw_price = base_price * rng.lognormal(0.0, 0.4, n)
    price = np.maximum(np.round(raw_price), 2.0) - 0.1  # psychological prices: 199.9
    is_new = rng.random(n) < 0.15
    is_new[np.searchsorted(l1, np.arange(N_CATEGORIES))] = False  # every category sells from day 1
    old_launch = period.start_us - rng.uniform(NEW_ARRIVAL_DAYS, 720, n) * US_PER_DAY
    new_launch = period.start_us + rng.uniform(-NEW_ARRIVAL_DAYS, period.days - 1, n) * US_PER_DAY
    launch = np.where(is_new, new_launch, old_launch).astype(np.int64)
    launch -= launch % 1_000_000
    established = launch < period.start_us
    weight = rng.lognormal(0.0, 1.0, n)
    brand_weight = np.bincount(brand, weights=weight * established, minlength=len(brands))
    quality = rng.beta(5.0, 2.0, n)
    cat_bounds = np.searchsorted(l1, np.arange(N_CATEGORIES + 1))
    leaf_order = np.flatnonzero(established)[np.argsort(leaf[established], kind="stable")]
    cum_est = np.concatenate([[0.0], np.cumsum(weight * established)])
    fallback = np.array(
        [lo + int(np.argmax((weight * established)[lo:hi])) for lo, hi in _pairs(cat_bounds)]
    )
    new_mask = launch >= period.start_us - NEW_ARRIVAL_DAYS * US_PER_DAY
    epoch = int(launch.min())
    new_key_all = (l1.astype(np.int64) << 52) + (launch - epoch)
    new_index = np.flatnonzero(new_mask)[np.argsort(new_key_all[new_mask], kind="stable")]
    queries, query_words = _query_vocab(brands)
    product_ids = prefixed("p", np.arange(1, n + 1), 6)
    table = _products_table(rng, product_ids, leaves, brands, leaf, brand, l1, price, launch)
    truth = pa.table(
        {
            "product_id": product_ids,
            "popularity": pa.array(weight / weight.sum()),
            "quality": pa.array(np.round(quality, 4)),
            "new_arrival": pa.array(new_mask),
            "launched_in_period": pa.array(~established),
        }
    )
    return Catalog(
        product_ids=product_ids,
        table=table,
        truth=truth,
        l1=l1,
        leaf=leaf,
        brand=brand,
        price=price,
        relative_price=price / (np.bincount(leaf, price) / np.maximum(np.bincount(leaf), 1))[leaf],
        launch_us=launch,
        quality=quality,
        cat_bounds=cat_bounds,
        leaf_order=leaf_order,
        leaf_bounds=np.searchsorted(leaf[leaf_order], np.arange(len(leaves) + 1)),
        brand_bounds=np.searchsorted(brand, np.arange(len(brands) + 1)),
        cat_brand_bounds=np.searchsorted(
            np.array([b[0] for b in brands]), np.arange(N_CATEGORIES + 1)
        ),
        cum_established=cum_est,
        cum_all=np.concatenate([[0.0], np.cumsum(weight)]),
        cum_brand=np.concatenate([[0.0], np.cumsum(brand_weight)]),
        fallback=fallback,
        new_index=new_index,
        new_key=new_key_all[new_index],
        new_by_launch=np.flatnonzero(new_mask)[np.argsort(launch[new_mask], kind="stable")],
        epoch_us=epoch,
        brand_names=pa.array([name for _, name in brands]),
        queries=queries,
        query_brand0=0,
        query_words=query_words,
    )


def _assortment(
    rng: np.random.Generator, counts: np.ndarray, leaves: list[tuple]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(leaf, brand, category, base price) per product, sorted by brand.

    Brands follow a Zipf law within their category; each brand has its own price level.
    """
    rows: list[tuple[int, int, int, float]] = []
    brand_base = 0
    for c, top in enumerate(CATEGORIES):
        cat_leaves = [i for i, leaf in enumerate(leaves) if leaf[0] == c]
        nb = len(top.brands)
        zipf = 1.0 / np.arange(1, nb + 1) ** 0.9
        brand_level = rng.lognormal(0.0, 0.35, nb)
        leaf_of = rng.choice(cat_leaves, counts[c])
        brand_of = rng.choice(nb, counts[c], p=zipf / zipf.sum())
        for k, b in zip(leaf_of, brand_of, strict=True):
            rows.append((brand_base + int(b), int(k), c, leaves[k][3].price * brand_level[b]))
        brand_base += nb
    rows.sort(key=lambda r: r[0])
    brand, leaf, l1, price = (np.array(col) for col in zip(*rows, strict=True))
    return leaf, brand, l1, price.astype(float)


def _pairs(bounds: np.ndarray) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def _tree() -> tuple[list[tuple], list[tuple[int, str]]]:
    """Leaves as (category, l2 slug, l2 zh, Leaf) and brands as (category, name)."""
    leaves = [
        (c, l2, l2_zh, leaf)
        for c, top in enumerate(CATEGORIES)
        for l2, (l2_zh, kids) in top.children.items()
        for leaf in kids
    ]
    brands = [(c, name) for c, top in enumerate(CATEGORIES) for name in top.brands]
    return leaves, brands


def _category_counts(n: int) -> np.ndarray:
    counts = np.floor(CATEGORY_SHARE * n).astype(int)
    counts[: n - counts.sum()] += 1
    return np.maximum(counts, 4)


def _query_vocab(brands: list[tuple[int, str]]) -> tuple[list[str], np.ndarray]:
    """Search queries: brand names first (query code = brand code), then category words."""
    queries = [name for _, name in brands]
    words = np.zeros((N_CATEGORIES, 2, 2), dtype=np.int64)
    for c, top in enumerate(CATEGORIES):
        zh = [top.zh] + [z for z, _ in top.children.values()]
        zh += [leaf.zh for _, kids in top.children.values() for leaf in kids]
        en = [top.en.lower()] + [
            leaf.en.lower() for _, kids in top.children.values() for leaf in kids
        ]
        for lang, ws in enumerate((zh, en)):
            words[c, lang] = (len(queries), len(ws))
            queries += ws
    return queries, words


def _products_table(rng, product_ids, leaves, brands, leaf, brand, l1, price, launch) -> pa.Table:
    """The canonical products table, with mixed Chinese/English titles."""
    titles, l2s, l3s, colours, styles, materials, attrs = [], [], [], [], [], [], []
    for i in range(len(leaf)):
        c, l2, l2_zh, lf = leaves[leaf[i]]
        top = CATEGORIES[c]
        variant = top.variants[rng.integers(len(top.variants))]
        zh_adj = [a for a in top.adjectives if not a.isascii()]
        en_adj = [a for a in top.adjectives if a.isascii()]
        name = brands[brand[i]][1]
        if rng.random() < 0.65:
            titles.append(f"{name} {zh_adj[rng.integers(len(zh_adj))]}{lf.zh} {variant}")
        else:
            titles.append(f"{name} {en_adj[rng.integers(len(en_adj))]} {lf.en} {variant}")
        l2s.append(l2)
        l3s.append(lf.slug)
        colours.append(_maybe(rng, top.colours))
        styles.append(_maybe(rng, top.styles))
        materials.append(_maybe(rng, top.materials))
        extra = {"category_zh": f"{top.zh}/{l2_zh}/{lf.zh}", "variant": variant}
        attrs.append(json.dumps(extra, ensure_ascii=False))
    columns = {
        "product_id": product_ids,
        "title": pa.array(titles),
        "category_l1": pa.array([CATEGORIES[c].slug for c in l1]),
        "category_l2": pa.array(l2s),
        "category_l3": pa.array(l3s),
        "brand": pa.array([brands[b][1] for b in brand]),
        "price": pa.array(price),
        "colour": pa.array(colours, pa.string()),
        "style": pa.array(styles, pa.string()),
        "material": pa.array(materials, pa.string()),
        "attributes": pa.array(attrs),
        "launched_at": pa.array(launch).cast(pa.timestamp("us", tz="UTC")),
    }
    schema = source_schema("products")
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _maybe(rng: np.random.Generator, values: tuple[str, ...]) -> str | None:
    return values[rng.integers(len(values))] if values and rng.random() < 0.9 else None
