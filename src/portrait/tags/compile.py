"""Compile the catalog into Ibis expressions: pure, so the same expression runs on any engine.

Two stages, so that an incremental build can recompute the first for some persons only:

* ``compile_facts`` (``portrait.tags.facts``): one row per person with every fact tag
  (aggregates over the person's events and their user record).
* ``compile_rules`` (``portrait.tags.rules``): model scores joined in, then every rule computed
  over the fact row (and, for scores, over the whole population), layer by layer.

Conditions and formulas compile in ``portrait.tags.expressions``. Times are epoch seconds
throughout (``timestamp`` tags too), so no engine time zone applies.
"""

from __future__ import annotations

import ibis.expr.types as ir

from portrait.tags.catalog import Catalog
from portrait.tags.expressions import IBIS_TYPE, Sources, top_columns
from portrait.tags.facts import ZERO_WHEN_EMPTY, compile_facts, event_columns
from portrait.tags.rules import compile_rules
from portrait.tags.sources import AsOf

__all__ = [
    "IBIS_TYPE",
    "ZERO_WHEN_EMPTY",
    "Sources",
    "compile_facts",
    "compile_profile",
    "compile_rules",
    "event_columns",
    "top_columns",
]


def compile_profile(
    catalog: Catalog, src: Sources, as_of: AsOf, persons: ir.Table | None = None
) -> ir.Table:
    """Both stages: the whole profile table (one row per person) as one expression."""
    return compile_rules(catalog, compile_facts(catalog, src, as_of, persons), as_of, src)
