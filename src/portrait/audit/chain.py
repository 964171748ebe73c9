"""The hash chain: each entry's hash covers the previous entry's hash and the entry itself.

``hash = SHA-256(previous hash + canonical JSON of the entry)``, the first entry chained to
``GENESIS``. Changing, inserting or deleting an entry changes its hash and so every later one:
``first_break`` names the first entry whose stored hash is not the one its content gives.
Dropping entries at the end leaves a shorter chain that still holds: the keyed head (see
:mod:`portrait.store.audit`) catches that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

GENESIS = "0" * 64


def canonical(body: Mapping[str, Any]) -> bytes:
    """The entry as JSON with sorted keys and no spaces: the same entry, the same bytes."""
    return orjson.dumps(dict(body), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def seal(previous: str, body: Mapping[str, Any]) -> str:
    """The hash of an entry chained after ``previous``."""
    return hashlib.sha256(previous.encode() + canonical(body)).hexdigest()


def first_break(
    entries: Iterable[tuple[Mapping[str, Any], str]], start: str = GENESIS
) -> tuple[int, int | None, str | None]:
    """Walk (body, stored hash) pairs in order, the first chained to ``start`` (``GENESIS``,
    or the hash of the last entry a prune deleted): how many hold, the ``seq`` of the first
    that does not (None when all hold), and the last hash that holds (the chain's head)."""
    previous, held, head = start, 0, None
    for body, stored in entries:
        if seal(previous, body) != stored:
            return held, int(body["seq"]), head
        previous, held, head = stored, held + 1, stored
    return held, None, head
