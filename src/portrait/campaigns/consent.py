"""Consent per user and channel, and the in-app inbox: what ``ws.campaigns`` delegates here.

The dispatch reads consent at send time (``portrait.campaigns.delivery``); a user without a
record for a channel gets the workspace default (``[campaigns.consent_default]``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from portrait.campaigns.definition import CHANNELS
from portrait.campaigns.results import (
    ChannelConsent,
    ConsentImport,
    ConsentState,
    InboxMessage,
    RejectedLine,
)
from portrait.campaigns.settings import CampaignSettings
from portrait.store import campaign_state
from portrait.store.warehouse import Warehouse

BOOLS = {"true": True, "1": True, "yes": True, "y": True,
         "false": False, "0": False, "no": False, "n": False}  # fmt: skip


class UnknownUserError(LookupError):
    """No user by that id."""


def check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; use {', '.join(CHANNELS)}")


def set_consent(
    wh: Warehouse, settings: CampaignSettings, user_id: str, channel: str, granted: bool,
    source: str,
) -> ConsentState:  # fmt: skip
    """Record a user's yes or no for a channel; returns the user's consent per channel."""
    check_channel(channel)
    if not campaign_state.user_exists(wh, user_id):
        raise UnknownUserError(f"no user {user_id!r}")
    campaign_state.put_consents(wh, [(user_id, channel, granted, source)], datetime.now(UTC))
    return consent_of(wh, settings, user_id)


def consent_of(wh: Warehouse, settings: CampaignSettings, user_id: str) -> ConsentState:
    """Per channel: granted or not, its source and time, or the default."""
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
    return ConsentState(user_id=user_id, channels=channels)


def import_consents(wh: Warehouse, path: str | Path, source: str = "import") -> ConsentImport:
    """Read a CSV file (user_id, channel, granted[, source]); lines that do not check are
    returned with their line number, not dropped."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return _import_rows(wh, f, source, str(path))


UNKNOWN_SHOWN = 20  # user ids of an import that are not (yet) in the users table, listed


def import_consents_text(
    wh: Warehouse, text: str, source: str = "import", label: str = "request body"
) -> ConsentImport:
    """The same import from CSV text (a REST upload or body); ``label`` stands for the path."""
    return _import_rows(wh, io.StringIO(text.removeprefix("\ufeff"), newline=""), source, label)


def _import_rows(wh: Warehouse, lines: Iterable[str], source: str, label: str) -> ConsentImport:
    """Store the lines that check, all at one time; return the others with their line number
    (the header is line 1) and record as read."""
    rows, rejected = [], []
    for i, rec in enumerate(csv.DictReader(lines), start=2):
        granted = (rec.get("granted") or "").strip().lower()
        ch = (rec.get("channel") or "").strip()
        uid = (rec.get("user_id") or "").strip()
        if ch not in CHANNELS or not uid or granted not in BOOLS:
            # extra fields of a line (csv's None key) are listed under "_extra"
            record = {k or "_extra": v for k, v in rec.items()}
            rejected.append(RejectedLine(line=i, record=record))
            continue
        rows.append((uid, ch, BOOLS[granted], rec.get("source") or source))
    campaign_state.put_consents(wh, rows, datetime.now(UTC))
    unknown = campaign_state.unknown_users(wh, sorted({r[0] for r in rows}))
    # kept all the same: an opt-out must hold for a user whose record comes later
    return ConsentImport(
        path=label,
        imported=len(rows),
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
