"""What every surface asks before using a person's data for a purpose: the recorded answers
(``portrait.store.purposes``) and, for persons with none, the ``[consent]`` default.

- campaigns: marketing (the audience leaves out persons without it; a send is suppressed
  ``no_marketing_consent`` when it was withdrawn after the launch);
- recommendations: personalisation (without it, the shop's popular products);
- segment member listings and exports: the purpose they state (:func:`purpose_of_use`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from portrait.consent.settings import PURPOSES, ConsentSettings, check_purpose
from portrait.store import purposes as store

if TYPE_CHECKING:
    from portrait.store.warehouse import Warehouse


class HasConsent(Protocol):
    """What holds the ``[consent]`` settings (the workspace's ``Settings``)."""

    @property
    def consent(self) -> ConsentSettings: ...


def purpose_of_use(stated: str | None) -> str:
    """The consent purpose a member listing or export serves: the stated purpose when it is
    one of :data:`PURPOSES` or starts with one (``"analytics: churn study"``), else marketing
    (a list of persons that leaves the tool without saying why is taken for activation)."""
    text = (stated or "").strip().lower()
    for purpose in PURPOSES:
        if text == purpose or text.startswith((f"{purpose}:", f"{purpose} ")):
            return purpose
    return "marketing"


# Up to this many recorded answers for a purpose, ``allows`` reads them all once and answers
# from memory until the warehouse is next written (a recommendation asks on every request).
CACHE_LIMIT = 100_000


class Consents:
    """Consent per purpose in one warehouse, under the workspace's settings (read each time:
    a caller may change them)."""

    def __init__(self, warehouse: Warehouse, settings: HasConsent) -> None:
        self.wh = warehouse
        self._settings = settings
        # purpose -> (warehouse generation read at, every person's answer or None: too many)
        self._answers: dict[str, tuple[int, dict[str, bool] | None]] = {}

    def _recorded(self, purpose: str, person_id: str) -> bool | None:
        generation = self.wh.generation  # before reading: a write meanwhile invalidates
        seen = self._answers.get(purpose)
        if seen is None or seen[0] != generation:
            seen = (generation, store.all_person_answers(self.wh, purpose, CACHE_LIMIT))
            self._answers[purpose] = seen
        if seen[1] is None:
            return store.person_answer(self.wh, purpose, person_id)
        return seen[1].get(person_id)

    def default(self, purpose: str) -> bool:
        """Whether a person with no recorded answer consents to ``purpose``."""
        return self._settings.consent.granted_by_default(purpose)

    def allows(self, purpose: str, person_id: str) -> bool:
        """Whether the person consents to ``purpose`` (recorded, else the default)."""
        answer = self._recorded(check_purpose(purpose), person_id)
        return self.default(purpose) if answer is None else answer

    def allowed(self, purpose: str, person_ids: Sequence[str]) -> set[str]:
        """Those of ``person_ids`` that consent to ``purpose``."""
        answers = store.person_answers(self.wh, check_purpose(purpose), person_ids)
        default = self.default(purpose)
        return {p for p in person_ids if answers.get(p, default)}

    def keep(self, purpose: str, table: pa.Table, column: str = "user_id") -> pa.Table:
        """The rows of ``table`` whose person (``column``) consents to ``purpose``."""
        ids = [str(v) for v in table.column(column).to_pylist()]
        allowed = self.allowed(purpose, ids)
        if len(allowed) == len(set(ids)):
            return table
        mask = pc.is_in(
            pc.cast(table.column(column), pa.string()), pa.array(sorted(allowed), pa.string())
        )
        return table.filter(mask)

    def checker(self, purpose: str) -> Callable[[str], bool]:
        """``allows`` for one purpose, as a service that should not know this class takes it."""
        check_purpose(purpose)
        return lambda person_id: self.allows(purpose, person_id)
