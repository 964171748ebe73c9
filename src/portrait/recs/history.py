"""What serving needs to know of a person's past, held in memory: order lines and latest product
views and cart adds, newest first.

Reading them from the events table at request time scans every event (87 ms for one person's
purchases among 5.6M events), so training keeps them as arrays (``history.npz``), grouped by
person, and serving adds what was ingested since (``PersonHistory.from_rows`` over the events
ingested after training, rebuilt when the warehouse changes).

>>> h = PersonHistory.from_rows(["p1", "p1"], ["a", "b"], ["order", "product_view"], [1.0, 2.0])
>>> h.of("p1")
([('a', 1.0)], [('b', 'product_view', 2.0)])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

KINDS = ("order", "product_view", "add_to_cart")
_KIND = {k: i for i, k in enumerate(KINDS)}
Purchases = list[tuple[str, float]]  # (product_id, epoch seconds)
Views = list[tuple[str, str, float]]  # (product_id, product_view or add_to_cart, epoch seconds)


class PersonHistory:
    """Events grouped by person (sorted person ids, offsets), newest first within a person."""

    def __init__(
        self,
        persons: np.ndarray,
        offsets: np.ndarray,
        products: np.ndarray,
        product_codes: np.ndarray,
        kinds: np.ndarray,
        ts: np.ndarray,
    ) -> None:
        self.persons = persons  # sorted unique person ids (numpy str)
        self.offsets = offsets  # person i's rows are offsets[i]:offsets[i + 1]
        self.products = products  # product id per code
        self.product_codes = product_codes
        self.kinds = kinds  # index into KINDS
        self.ts = ts

    @classmethod
    def from_rows(
        cls,
        persons: Sequence[str],
        products: Sequence[str],
        kinds: Sequence[str],
        ts: Sequence[float],
    ) -> PersonHistory:
        """Group rows (any order) by person, newest first."""
        person_arr = np.asarray(persons, dtype=str)
        ts_arr = np.asarray(ts, dtype=np.float64)
        order = np.lexsort((-ts_arr, person_arr)) if len(person_arr) else np.zeros(0, np.int64)
        person_arr = person_arr[order]
        unique, starts = np.unique(person_arr, return_index=True)
        offsets = np.append(starts, len(person_arr)).astype(np.int64)
        product_ids, codes = np.unique(np.asarray(products, dtype=str)[order], return_inverse=True)
        kind_codes = np.asarray([_KIND[k] for k in kinds], dtype=np.int8)[order]
        return cls(unique, offsets, product_ids, codes.astype(np.int32), kind_codes, ts_arr[order])

    @classmethod
    def empty(cls) -> PersonHistory:
        return cls.from_rows([], [], [], [])

    def __len__(self) -> int:
        return len(self.ts)

    def of(self, person: str) -> tuple[Purchases, Views]:
        """The person's order lines and views/cart adds, newest first (empty when unknown)."""
        i = int(np.searchsorted(self.persons, person))
        if i >= len(self.persons) or self.persons[i] != person:
            return [], []
        lo, hi = self.offsets[i], self.offsets[i + 1]
        purchases: Purchases = []
        views: Views = []
        for code, kind, t in zip(
            self.product_codes[lo:hi].tolist(),
            self.kinds[lo:hi].tolist(),
            self.ts[lo:hi].tolist(),
            strict=True,
        ):
            product = str(self.products[code])
            if kind == 0:
                purchases.append((product, t))
            else:
                views.append((product, KINDS[kind], t))
        return purchases, views

    def save(self, path: Path) -> None:
        with path.open("wb") as f:
            np.savez(
                f,
                persons=self.persons,
                offsets=self.offsets,
                products=self.products,
                product_codes=self.product_codes,
                kinds=self.kinds,
                ts=self.ts,
            )

    @classmethod
    def load(cls, path: Path) -> PersonHistory | None:
        """The saved history; None for a training run from before it was kept."""
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            return cls(
                z["persons"], z["offsets"], z["products"], z["product_codes"], z["kinds"], z["ts"]
            )


class PersonTags:
    """Some profile tags of every person of one build, for lookups without a query: person
    ids sorted, each tag dictionary-encoded (a few distinct values, one small code per person).

    >>> t = PersonTags.from_arrow(pa.table({"person_id": ["b", "a"], "gender": ["F", None]}))
    >>> t.of("b"), t.of("a"), t.of("z")
    ({'gender': 'F'}, {}, {})
    """

    def __init__(self, build_id: str, persons: np.ndarray, columns: dict[str, tuple]) -> None:
        self.build_id = build_id
        self.persons = persons
        self.columns = columns  # tag -> (codes, values); code -1 = no value

    @classmethod
    def from_arrow(cls, table: pa.Table, build_id: str = "") -> PersonTags:
        persons = np.asarray(table["person_id"].to_pylist(), dtype=str)
        order = np.argsort(persons, kind="stable")
        columns = {}
        for name in table.column_names[1:]:
            encoded = pc.dictionary_encode(table[name]).combine_chunks()
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)[order]
            columns[name] = (codes.astype(np.int32), encoded.dictionary.to_pylist())
        return cls(build_id, persons[order], columns)

    def _row(self, person: str) -> int:
        i = int(np.searchsorted(self.persons, person))
        return i if i < len(self.persons) and self.persons[i] == person else -1

    def has(self, person: str) -> bool:
        return self._row(person) >= 0

    def of(self, person: str) -> dict[str, Any]:
        """The person's tag values (only those with a value)."""
        i = self._row(person)
        if i < 0:
            return {}
        out = {}
        for name, (codes, values) in self.columns.items():
            code = int(codes[i])
            if code >= 0:
                out[name] = values[code]
        return out
