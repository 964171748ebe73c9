"""``AuditService``: write entries, list them, verify the chain.

>>> ws.audit.entries(person="u00042")               # doctest: +SKIP
>>> ws.audit.verify().ok                             # doctest: +SKIP

Entries name persons only by keyed pseudonym (``person_pseudonyms``: an HMAC-SHA256 under the
workspace secret's pseudonym key, see :mod:`portrait.security.secrets`) and keep parameters
cleaned: never a secret, e-mail addresses and phone numbers replaced by their
pseudonym, dates as ISO text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from portrait.audit.chain import first_break, seal
from portrait.audit.context import AuditCaller
from portrait.audit.results import AuditEntry, AuditVerification
from portrait.security.pii import PiiCipher
from portrait.security.secrets import WorkspaceSecret
from portrait.store.audit import AuditLog

SECRET_NAME = re.compile(r"token|secret|passw|authoriz|api_key|credential", re.IGNORECASE)
EMAIL = re.compile(r"[^@\s,;<>()\"']+@[^@\s,;<>()\"']+\.[A-Za-z]{2,}")
# a run of 7 or more digits standing alone (not part of a key id or a word)
PHONE = re.compile(r"(?<![\w+])\+?\d[\d \-()]{5,}\d(?!\w)")
PERSON = "person"  # the pseudonym kind of user ids, anonymous ids and person ids
DIGITS = re.compile(r"\d+")


class AuditService:
    """The audit log of one workspace: ``log`` the file, ``pseudonym`` how it names persons."""

    def __init__(self, log: AuditLog, pseudonym: Callable[[str], str]) -> None:
        self.log = log
        self._pseudonym = pseudonym

    def pseudonym(self, identifier: str) -> str:
        """The keyed pseudonym the log names ``identifier`` by."""
        return self._pseudonym(str(identifier))

    def record(
        self,
        action: str,
        caller: AuditCaller,
        command: str | None = None,
        persons: Iterable[str | None] = (),
        segment: str | None = None,
        rows: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry for ``action`` by ``caller`` (``command`` when the caller names
        none: the facade method a notebook called)."""
        entry = {
            "actor": caller.actor,
            "role": caller.role,
            "via": caller.via,
            "origin": caller.origin,
            "action": action,
            "command": caller.command or command or action,
            "params": self._clean(dict(params or {})),
            "persons": sorted({self.pseudonym(p) for p in persons if p is not None and p != ""}),
            "segment": segment,
            "rows": rows,
        }  # fmt: skip
        return AuditEntry(**self.log.append(entry, seal))

    def entries(
        self,
        person: str | None = None,
        since: str | date | datetime | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries newest first: about ``person`` (a user id, anonymous id or person id, looked
        up by its pseudonym), from ``since`` (a day or a moment; a day counts from its start,
        UTC), of ``action``, at most ``limit``."""
        rows = self.log.entries(
            since=_moment(since),
            person=None if person is None else self.pseudonym(person),
            action=action,
            limit=limit,
        )
        return [AuditEntry(**r) for r in rows]

    def verify(self) -> AuditVerification:
        """Walk the chain from the first entry; ``broken_at`` names the first entry whose
        hash does not hold (changed, inserted or removed before it)."""
        held, broken, head = first_break(self.log.walk())
        return AuditVerification(
            ok=broken is None,
            entries=self.log.count(),
            verified=held,
            broken_at=broken,
            head_hash=head,
        )

    # --- cleaning -----------------------------------------------------------------------
    def _clean(self, value: Any) -> Any:
        """A parameter as JSON, with no e-mail address or phone number left in it."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, Mapping):
            kept = {str(k): v for k, v in value.items() if not SECRET_NAME.search(str(k))}
            return {k: self._clean(v) for k, v in kept.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(v) for v in value]
        return self._scrub(str(value))

    def _scrub(self, text: str) -> str:
        text = EMAIL.sub(lambda m: self._masked(m.group()), text)
        return PHONE.sub(self._phone, text)

    def _phone(self, m: re.Match[str]) -> str:
        found = m.group()
        if sum(c.isdigit() for c in found) < 7 or looks_like_date(found):
            return found
        return self._masked(found)

    def _masked(self, text: str) -> str:
        return f"<pseudonym {self.pseudonym(text)}>"


def looks_like_date(text: str) -> bool:
    """Whether a run of digits the phone pattern found is a date instead: ``20240101`` (the
    date of a build id such as ``20240101-20240102T093000-a1b2c3``), ``2024-01-01 10`` (a
    moment cut at its first colon), ``20240101-20240102``. A calendar date from 1900 to 2099
    starts it (as YYYYMMDD or YYYY MM DD) and the rest are more such dates or parts of a time
    (two digits, or HHMMSS). An 8-digit local phone number that is also such a date counts as
    a date; with its area code or country code it is a phone."""
    groups = DIGITS.findall(text)
    if len(groups[0]) == 8:
        first, rest = groups[0], groups[1:]
    elif [len(g) for g in groups[:3]] == [4, 2, 2]:
        first, rest = "".join(groups[:3]), groups[3:]
    else:
        return False
    return _calendar_day(first) and all(
        len(g) <= 2 or len(g) == 6 or (len(g) == 8 and _calendar_day(g)) for g in rest
    )


def _calendar_day(digits: str) -> bool:
    try:
        day = datetime.strptime(digits, "%Y%m%d")
    except ValueError:
        return False
    return 1900 <= day.year <= 2099


def person_pseudonyms(secret: WorkspaceSecret) -> Callable[[str], str]:
    """How the log names a person: the workspace's keyed pseudonym of kind ``person`` (the
    same under the same secret, whichever process computes it)."""
    cipher = PiiCipher(secret)
    return lambda identifier: cipher.pseudonym(PERSON, identifier)


def _moment(since: str | date | datetime | None) -> datetime | None:
    if since is None or isinstance(since, datetime):
        return since
    if isinstance(since, str):
        try:
            since = datetime.fromisoformat(since) if "T" in since else date.fromisoformat(since)
        except ValueError:
            raise ValueError(f"{since!r} is not a date; write it as YYYY-MM-DD") from None
        if isinstance(since, datetime):
            return since
    return datetime(since.year, since.month, since.day, tzinfo=UTC)


def open_audit(root: Path, in_memory: bool = False) -> AuditService:
    """The audit log of the workspace in ``root`` (``audit.sqlite``, its pseudonyms under the
    workspace secret); ``in_memory``: a log and a secret for this process only."""
    from portrait.security.secrets import load_secret, new_secret
    from portrait.store.audit import AUDIT_FILE

    secret = new_secret() if in_memory else load_secret(root, create=True)
    log = AuditLog(None if in_memory else root / AUDIT_FILE)
    return AuditService(log, person_pseudonyms(secret))
