"""Consent per purpose (table ``purpose_consents``, migration 13): each user's recorded yes or
no for marketing, personalisation and analytics, keyed by user id like the consent per channel
(``portrait.store.campaign_state``). SQL only; the policy is ``portrait.consent.policy``.

A person may hold several user ids (merged identities): their answer for a purpose is the
answers of all of them, a no on any one of them winning.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from portrait.store.campaign_state import upsert_answers
from portrait.store.campaigns import as_dicts, with_ids
from portrait.store.warehouse import Warehouse

# the recorded answer of each person with one (a person's user ids through the identity map;
# a user id the map does not know yet stands for itself)
_PERSON_ANSWERS = """
SELECT coalesce(m.person_id, c.user_id) AS person_id, bool_and(c.granted) AS granted
FROM purpose_consents c
LEFT JOIN identity_map m ON m.id_kind = 'user' AND m.identifier = c.user_id
WHERE c.purpose = ?
GROUP BY 1"""


def put_purposes(
    wh: Warehouse, rows: list[tuple[str, str, bool, str | None]], now: datetime
) -> int:
    """Upsert (user_id, purpose, granted, source) rows; the latest word wins (within ``rows``
    too: the last row of a user and purpose)."""
    return upsert_answers(wh, "purpose_consents", "purpose", rows, now)


def purpose_rows(wh: Warehouse, user_id: str) -> list[dict[str, Any]]:
    """The user id's own recorded answers (purpose, granted, source, updated_at)."""
    cols = ("purpose", "granted", "source", "updated_at")
    rows = wh.fetchall(
        f"SELECT {', '.join(cols)} FROM purpose_consents WHERE user_id = ? ORDER BY purpose",
        [user_id],
    )
    return as_dicts(cols, rows)


def person_answers(wh: Warehouse, purpose: str, person_ids: Sequence[str]) -> dict[str, bool]:
    """The recorded answer for ``purpose`` of each of these persons that has one."""
    if not person_ids:
        return {}
    rows = with_ids(
        wh, "_purpose_pids", person_ids,
        f"SELECT a.person_id, a.granted FROM ({_PERSON_ANSWERS}) a "
        "JOIN _purpose_pids p ON p.id = a.person_id",
        [purpose],
    )  # fmt: skip
    return {p: bool(g) for p, g in rows}


def all_person_answers(wh: Warehouse, purpose: str, limit: int) -> dict[str, bool] | None:
    """Every person's recorded answer for ``purpose``; None when more than ``limit`` user ids
    recorded one (then ask per person)."""
    row = wh.fetchone("SELECT count(*) FROM purpose_consents WHERE purpose = ?", [purpose])
    if row is not None and row[0] > limit:
        return None
    return {str(p): bool(g) for p, g in wh.fetchall(_PERSON_ANSWERS, [purpose])}


def person_answer(wh: Warehouse, purpose: str, person_id: str) -> bool | None:
    """One person's recorded answer for ``purpose`` (None: nothing recorded)."""
    row = wh.fetchone(
        "SELECT bool_and(c.granted) FROM purpose_consents c "
        "LEFT JOIN identity_map m ON m.id_kind = 'user' AND m.identifier = c.user_id "
        "WHERE c.purpose = ? AND coalesce(m.person_id, c.user_id) = ?",
        [purpose, person_id],
    )
    return None if row is None or row[0] is None else bool(row[0])


def person_of(wh: Warehouse, user_id: str) -> str:
    """The person a user id belongs to (itself when the identity map does not know it)."""
    row = wh.fetchone(
        "SELECT person_id FROM identity_map WHERE id_kind = 'user' AND identifier = ?", [user_id]
    )
    return user_id if row is None else str(row[0])
