"""Evaluate a segment expression on the bitmap index.

Each condition is the set of persons it is true for; ``AND`` intersects and ``OR`` unites (the
tree is in negation normal form, see :mod:`portrait.segments.expr`). Two things keep it fast:

* an ``AND`` evaluates its cheapest parts first and hands each next part the persons still in,
  so a range on a numeric tag only checks the codes of the candidates left;
* an ``OR`` hands each next part only the persons not yet in.

A condition the index cannot answer (``LIKE``, a tag with too many distinct values to index)
is asked of the warehouse through ``fallback``, which returns its persons as a bitmap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyroaring import AbstractBitMap, BitMap

from portrait.segments.expr import LIKE_OPS, And, Cond, Node, Or
from portrait.segments.index import SteppedIndex, TagIndex

WAREHOUSE_COST = 1e6


def served_by_index(c: Cond, indexes: Mapping[str, TagIndex | None]) -> bool:
    return c.op not in LIKE_OPS and indexes.get(c.tag) is not None


@dataclass
class _Range:
    """Comparisons of one numeric tag inside one AND."""

    index: SteppedIndex
    conds: list[Cond]


@dataclass
class Evaluation:
    """How an expression was answered: the persons, and the conditions the warehouse served."""

    members: AbstractBitMap
    warehouse_conditions: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return "bitmap+warehouse" if self.warehouse_conditions else "bitmap"


class Evaluator:
    def __init__(
        self,
        indexes: Mapping[str, TagIndex | None],
        universe: AbstractBitMap,
        fallback: Callable[[Cond], AbstractBitMap] | None = None,
    ) -> None:
        self.indexes = indexes
        self.universe = universe
        self.fallback = fallback
        self._asked: dict[Cond, AbstractBitMap] = {}

    def run(self, node: Node) -> Evaluation:
        members = self.eval(node, None)
        return Evaluation(members, [str(c) for c in self._asked])

    # --- the tree -----------------------------------------------------------------------
    def _ranges(self, parts: tuple[Node, ...]) -> list[Node | _Range]:
        """The parts of an AND, with comparisons of one numeric tag merged into one range
        (``x >= 500 AND x <= 2000``: one pass over the index, not two)."""
        out: list[Node | _Range] = []
        ranges: dict[str, _Range] = {}
        for part in parts:
            index = self.indexes.get(part.tag) if isinstance(part, Cond) else None
            if (
                isinstance(part, Cond)
                and isinstance(index, SteppedIndex)
                and (part.op in SteppedIndex.RANGE_OPS)
            ):
                if part.tag not in ranges:
                    ranges[part.tag] = _Range(index, [])
                    out.append(ranges[part.tag])
                ranges[part.tag].conds.append(part)
            else:
                out.append(part)
        return out

    def cost(self, node: Node | _Range) -> float:
        if isinstance(node, _Range):
            return 4.0
        if isinstance(node, Cond):
            if node.op in ("is_null", "not_null"):
                return 1.0
            index = self.indexes.get(node.tag)
            if index is None or node.op in LIKE_OPS:
                return WAREHOUSE_COST
            return index.cost(node)
        return sum(self.cost(p) for p in node.parts)

    def eval(self, node: Node, within: AbstractBitMap | None) -> AbstractBitMap:
        """The persons of ``within`` (everyone when None) for whom ``node`` is true."""
        if isinstance(node, Cond):
            return self.condition(node, within)
        if isinstance(node, And):
            current = within
            for part in sorted(self._ranges(node.parts), key=self.cost):
                if isinstance(part, _Range):
                    current = part.index.select_all(part.conds, current)
                else:
                    current = self.eval(part, current)
                if not current:
                    return BitMap()
            return current if current is not None else self.universe
        parts = sorted(node.parts, key=self.cost)
        assert isinstance(node, Or)
        found = BitMap()
        rest = within
        for i, part in enumerate(parts):
            found |= self.eval(part, rest)
            # narrowing the next part to the persons not yet in costs a bitmap difference
            # over all of ``within``: worth it only before a warehouse query
            if i + 1 < len(parts) and self.cost(parts[i + 1]) >= WAREHOUSE_COST:
                rest = (within if within is not None else self.universe) - found
                if not rest:
                    break
        return found

    # --- conditions ---------------------------------------------------------------------
    def condition(self, c: Cond, within: AbstractBitMap | None) -> AbstractBitMap:
        index = self.indexes.get(c.tag)
        if c.op in ("is_null", "not_null") and index is not None:
            base = self.universe if within is None else within
            return base - index.notnull if c.op == "is_null" else base & index.notnull
        if index is not None and c.op not in LIKE_OPS:
            return index.select(c, within)
        if self.fallback is None:
            raise LookupError(f"the bitmap index cannot answer {c} and no warehouse is at hand")
        if c not in self._asked:
            self._asked[c] = self.fallback(c)
        hits = self._asked[c]
        return hits if within is None else hits & within
