"""``AuditService``: write entries, list them, verify the chain.

>>> ws.audit.entries(person="u00042")               # doctest: +SKIP
>>> ws.audit.verify().ok                             # doctest: +SKIP

Entries name persons only by keyed pseudonym (an HMAC-SHA256 under the audit key, which stays
the same across workspace key rotations: see :mod:`portrait.audit.keys`) and keep parameters
cleaned: never a secret, e-mail addresses and phone numbers replaced by their pseudonym, dates
as ISO text. ``verify`` checks the chain from its start and that it ends at the keyed head;
``prune`` (retention) deletes old entries, leaving a keyed anchor the chain starts from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from portrait.audit.chain import GENESIS, first_break, seal
from portrait.audit.context import AuditCaller
from portrait.audit.keys import AuditKeys, key_for, new_audit_key, seal_key
from portrait.audit.results import AuditEntry, AuditPrune, AuditVerification
from portrait.config import CONFIG_FILE, Settings
from portrait.security.secrets import WorkspaceSecret
from portrait.store.audit import AuditLog

SECRET_NAME = re.compile(r"token|secret|passw|authoriz|api_key|credential", re.IGNORECASE)
EMAIL = re.compile(r"[^@\s,;<>()\"']+@[^@\s,;<>()\"']+\.[A-Za-z]{2,}")
# a run of 7 or more digits standing alone (not part of a key id or a word)
PHONE = re.compile(r"(?<![\w+])\+?\d[\d \-()]{5,}\d(?!\w)")
PERSON = "person"  # the pseudonym kind of user ids, anonymous ids and person ids
DIGITS = re.compile(r"\d+")


class AuditService:
    """The audit log of one workspace: ``log`` the file, ``key`` its audit key (see
    :mod:`portrait.audit.keys`: pseudonyms, the keyed head and anchor)."""

    def __init__(self, log: AuditLog, key: bytes) -> None:
        self.log = log
        self._key = key
        self._keys = AuditKeys(key)
        if log.new_head:  # a new log, or one from before heads: keyed where it stands
            log.sign_head(self._head_mark)

    def pseudonym(self, identifier: str) -> str:
        """The keyed pseudonym the log names ``identifier`` by."""
        return self._keys.pseudonym(PERSON, str(identifier))

    def _head_mark(self, seq: int, digest: str) -> str:
        return self._keys.mark("head", seq, digest)

    def _anchor_mark(self, seq: int, digest: str) -> str:
        return self._keys.mark("anchor", seq, digest)

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
        entry = self._entry(action, caller, command, persons, segment, rows, params)
        return AuditEntry(**self.log.append(entry, seal, self._head_mark))

    def _entry(
        self,
        action: str,
        caller: AuditCaller,
        command: str | None,
        persons: Iterable[str | None],
        segment: str | None,
        rows: int | None,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return {
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

    def record_unless(
        self,
        action: str,
        caller: AuditCaller,
        params_for: Callable[[dict[str, Any] | None], Mapping[str, Any] | None],
        command: str | None = None,
    ) -> AuditEntry | None:
        """Append an entry of ``action`` with the parameters ``params_for`` makes of the
        latest such entry's (None when there is none), unless it makes none: read, decided
        and appended in one transaction (two processes at once append once)."""

        def _entry_for(latest: dict[str, Any] | None) -> dict[str, Any] | None:
            params = params_for(latest)
            if params is None:
                return None
            return self._entry(action, caller, command, (), None, None, params)

        done = self.log.append_unless(action, _entry_for, seal, self._head_mark)
        return None if done is None else AuditEntry(**done)

    def keyed(self, kind: str, text: str) -> str:
        """HMAC-SHA256 of ``text`` under the audit key (hex), for ``kind``: a digest that
        shows whether a value changed and that no one without the workspace secret can
        compute or try guesses against (a setting's value: a channel password may be one)."""
        return self._keys.pseudonym(kind, text)

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
        """Walk the chain from its start (the first entry, or the keyed anchor a prune left);
        ``broken_at`` names the first entry whose hash does not hold (changed, inserted or
        removed before it); ``truncated`` says entries were cut from the end (the keyed head
        records a later entry than the last one)."""
        anchor = self.log.anchor()
        start, problem = (0, GENESIS), None
        if anchor is not None:
            seq, digest, _, mac = anchor
            start = (seq, digest)
            if not self._keys.holds("anchor", seq, digest, mac):
                problem = "the prune anchor's key does not hold: it was altered"
        held, broken, last = first_break(self.log.walk(), start[1])
        end = (start[0] + held, last or start[1])  # where the chain ends, when it holds
        head = self.log.head()
        truncated = False
        if head is None or not self._keys.holds("head", *head):
            problem = problem or (
                "the keyed head is missing or its key does not hold: the end of the log "
                "cannot be vouched for"
            )
        elif broken is None and (head[0], head[1]) != end:
            truncated = head[0] >= end[0]
            problem = problem or (
                f"the log ends at entry {end[0]} but entry {head[0]} was written: entries "
                "were cut from its end"
                if truncated
                else f"entries after {head[0]} were added without the audit key"
            )
        return AuditVerification(
            ok=broken is None and problem is None,
            entries=self.log.count(),
            verified=held,
            broken_at=broken,
            head_hash=last,
            head_seq=None if head is None else head[0],
            truncated=truncated,
            anchor_seq=None if anchor is None else anchor[0],
            problem=problem,
        )

    def prune(self, before: datetime, caller: AuditCaller) -> AuditPrune:
        """Delete the entries written before ``before`` (retention): the last of them becomes
        the keyed anchor the chain is verified from, and an ``audit.prune`` entry by
        ``caller`` says so (it is the first entry after the anchor)."""
        params = {"before": before}
        entry = self._entry("audit.prune", caller, "audit.prune", (), None, None, params)
        done = self.log.prune(before, entry, seal, self._head_mark, self._anchor_mark)
        if done is None:
            return AuditPrune(pruned=0, anchor_seq=None, anchor_hash=None)
        p = done["params"]
        return AuditPrune(
            pruned=done["rows"], anchor_seq=p["anchor_seq"], anchor_hash=p["anchor_hash"]
        )

    def prunable(self, before: datetime) -> tuple[int, datetime | None]:
        """How many entries were written before ``before``, and the oldest entry after."""
        return self.log.older_than(before)

    # --- the audit key across workspace key rotations -------------------------------------
    def seal_for(self, secret: WorkspaceSecret) -> None:
        """Keep the audit key sealed under ``secret`` too (a rotation's new key, before it
        replaces the current one)."""
        self.log.add_sealed_key(secret.key_id, seal_key(self._key, secret))

    def keep_seal_of(self, secret: WorkspaceSecret) -> None:
        """Forget the seals under every workspace key but ``secret``'s (after a rotation)."""
        self.log.drop_sealed_keys(secret.key_id)

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


def audit_key(log: AuditLog, secret: WorkspaceSecret) -> bytes:
    """The log's audit key, unsealed with ``secret``. A log without one gets one: a new log a
    random key; a log made before audit keys existed the pseudonym key its entries were
    written under (the current workspace secret's), so its pseudonyms hold."""
    sealed = log.sealed_keys()
    if not sealed:
        key = secret.mac_key if log.count() else new_audit_key()
        log.add_sealed_key(secret.key_id, seal_key(key, secret), only_if_none=True)
        sealed = log.sealed_keys()  # another process may have made it first: its key counts
    return key_for(sealed, secret)


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


def open_audit(
    root: Path, in_memory: bool = False, settings: Settings | None = None
) -> AuditService:
    """The audit log of the workspace in ``root`` (``audit.sqlite``, its pseudonyms under the
    workspace secret); ``in_memory``: a log and a secret for this process only. ``settings``
    (what this process parsed of ``portrait.toml``): recorded as a ``settings.change`` entry
    when they differ from the latest one's (``portrait.audit.settings_change``)."""
    from portrait.audit.settings_change import record_settings
    from portrait.security.secrets import load_secret, new_secret
    from portrait.store.audit import AUDIT_FILE

    secret = new_secret() if in_memory else load_secret(root, create=True)
    log = AuditLog(None if in_memory else root / AUDIT_FILE)
    service = AuditService(log, audit_key(log, secret))
    if settings is not None:
        record_settings(service, settings, root / CONFIG_FILE)
    return service
