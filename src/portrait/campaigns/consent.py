"""Consent per user and channel, and per purpose (marketing, personalisation, analytics), and
the in-app inbox: what ``ws.campaigns`` delegates here.

The dispatch reads consent at send time (``portrait.campaigns.delivery``); a user without a
record for a channel gets the workspace default (``[campaigns.consent_default]``), a person
without one for a purpose the ``[consent]`` default (``portrait.consent``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from portrait.campaigns.definition import CHANNELS
from portrait.campaigns.results import (
    ChannelConsent,
    ConsentImport,
    ConsentState,
    InboxMessage,
    PurposeConsent,
    RejectedLine,
)
from portrait.campaigns.settings import CampaignSettings
from portrait.consent.policy import Consents
from portrait.consent.settings import PURPOSES
from portrait.store import campaign_state, erasure, purposes
from portrait.store.warehouse import Warehouse

if TYPE_CHECKING:
    from portrait.security.pii import PiiCipher

BOOLS = {"true": True, "1": True, "yes": True, "y": True,
         "false": False, "0": False, "no": False, "n": False}  # fmt: skip


class UnknownUserError(LookupError):
    """No user by that id."""


def check_channel(channel: str) -> None:
    if channel not in CHANNELS and channel not in PURPOSES:
        raise ValueError(
            f"unknown channel or purpose {channel!r}; use a channel ({', '.join(CHANNELS)}) "
            f"or a purpose ({', '.join(PURPOSES)})"
        )


def set_consent(
    wh: Warehouse, settings: CampaignSettings, consents: Consents, user_id: str, channel: str,
    granted: bool, source: str,
) -> ConsentState:  # fmt: skip
    """Record a user's yes or no for a channel, or for a purpose named in its place; returns
    the user's consent per channel and purpose."""
    check_channel(channel)
    if not campaign_state.user_exists(wh, user_id):
        raise UnknownUserError(f"no user {user_id!r}")
    row = [(user_id, channel, granted, source)]
    put = purposes.put_purposes if channel in PURPOSES else campaign_state.put_consents
    put(wh, row, datetime.now(UTC))
    return consent_of(wh, settings, consents, user_id)


def consent_of(
    wh: Warehouse, settings: CampaignSettings, consents: Consents, user_id: str
) -> ConsentState:
    """Per channel: granted or not, its source and time, or the default. Per purpose: what
    applies to the user's person (a no recorded on any of its user ids wins), with this user
    id's own record, else ``merged`` (another user id's), else ``default``."""
    rows = {r["channel"]: r for r in campaign_state.consent_rows(wh, user_id)}
    channels = {}
    for ch in CHANNELS:
        r = rows.get(ch)
        channels[ch] = (
            ChannelConsent(granted=r["granted"], source=r["source"],
                           updated_at=r["updated_at"].isoformat())
            if r else ChannelConsent(granted=settings.consent_default[ch], source="default",
                                     updated_at=None)
        )  # fmt: skip
    own = {r["purpose"]: r for r in purposes.purpose_rows(wh, user_id)}
    person = purposes.person_of(wh, user_id)
    by_purpose = {}
    for p in PURPOSES:
        answer = purposes.person_answer(wh, p, person)
        r = own.get(p)
        if answer is None:
            by_purpose[p] = PurposeConsent(granted=consents.default(p), source="default",
                                           updated_at=None)  # fmt: skip
        elif r is not None and r["granted"] == answer:
            by_purpose[p] = PurposeConsent(granted=answer, source=r["source"],
                                           updated_at=r["updated_at"].isoformat())  # fmt: skip
        else:
            by_purpose[p] = PurposeConsent(granted=answer, source="merged", updated_at=None)
    return ConsentState(user_id=user_id, channels=channels, purposes=by_purpose)


def import_consents(
    wh: Warehouse, path: str | Path, source: str = "import", cipher: PiiCipher | None = None
) -> ConsentImport:
    """Read a CSV file (user_id, channel or purpose, granted[, source]); lines that do not
    check are returned with their line number, not dropped (``cipher``: the workspace's, to
    refuse the ids of erased persons, which no table may name again)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return _import_rows(wh, f, source, str(path), cipher)


UNKNOWN_SHOWN = 20  # user ids of an import that are not (yet) in the users table, listed


def import_consents_text(
    wh: Warehouse, text: str, source: str = "import", label: str = "request body",
    cipher: PiiCipher | None = None,
) -> ConsentImport:  # fmt: skip
    """The same import from CSV text (a REST upload or body); ``label`` stands for the path."""
    lines = io.StringIO(text.removeprefix("\ufeff"), newline="")
    return _import_rows(wh, lines, source, label, cipher)


def _import_rows(
    wh: Warehouse, lines: Iterable[str], source: str, label: str, cipher: PiiCipher | None
) -> ConsentImport:
    """Store the lines that check, all at one time; return the others with their line number
    (the header is line 1) and record as read. A line names a channel (column ``channel``) or
    a purpose (column ``purpose``, or a purpose written under ``channel``), not both."""
    rows, purpose_rows, rejected = [], [], []
    for i, rec in enumerate(csv.DictReader(lines), start=2):
        granted = (rec.get("granted") or "").strip().lower()
        ch = (rec.get("channel") or "").strip()
        purpose = (rec.get("purpose") or "").strip()
        uid = (rec.get("user_id") or "").strip()
        if ch in PURPOSES and not purpose:
            ch, purpose = "", ch
        ok_target = (ch in CHANNELS and not purpose) or (purpose in PURPOSES and not ch)
        if not ok_target or not uid or granted not in BOOLS:
            # extra fields of a line (csv's None key) are listed under "_extra"
            record = {k or "_extra": v for k, v in rec.items()}
            rejected.append(RejectedLine(line=i, record=record, reason="invalid"))
            continue
        target = purpose_rows if purpose else rows
        target.append((uid, purpose or ch, BOOLS[granted], rec.get("source") or source, i, rec))
    # an erased person's ids are refused (their tombstone keeps them from every contact)
    erased = erasure.erased_among(wh, cipher, [r[0] for r in rows + purpose_rows])
    for r in sorted((r for r in rows + purpose_rows if r[0] in erased), key=lambda r: r[4]):
        rejected.append(RejectedLine(line=r[4], record=dict(r[5]), reason="erased_person"))
    rows, purpose_rows = ([r[:4] for r in t if r[0] not in erased] for t in (rows, purpose_rows))
    rejected.sort(key=lambda r: r.line)
    now = datetime.now(UTC)
    campaign_state.put_consents(wh, rows, now)
    purposes.put_purposes(wh, purpose_rows, now)
    unknown = campaign_state.unknown_users(wh, sorted({r[0] for r in rows + purpose_rows}))
    # kept all the same: an opt-out must hold for a user whose record comes later
    return ConsentImport(
        path=label,
        imported=len(rows) + len(purpose_rows),
        rejected=rejected,
        unknown_users=len(unknown),
        unknown_user_ids=unknown[:UNKNOWN_SHOWN],
    )


def inbox(wh: Warehouse, user_id: str, unread_only: bool = False) -> list[InboxMessage]:
    """The user's in-app messages, newest first."""
    return [
        InboxMessage(**{**m, "created_at": m["created_at"].isoformat(),
                          "read_at": m["read_at"].isoformat() if m["read_at"] else None})
        for m in campaign_state.inbox(wh, user_id, unread_only)
    ]  # fmt: skip


def mark_read(wh: Warehouse, user_id: str, message_ids: list[str] | None = None) -> int:
    """Mark the user's messages (all, or these) read; returns how many changed."""
    return campaign_state.mark_read(wh, user_id, message_ids, datetime.now(UTC))
