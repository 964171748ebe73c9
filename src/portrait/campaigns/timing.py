"""When a message goes out: the user's best hour, local time, never in quiet hours.

All times are timezone-aware; the ledger stores UTC.

>>> from datetime import UTC, datetime
>>> from zoneinfo import ZoneInfo
>>> from portrait.campaigns.definition import QuietHours
>>> send_time(datetime(2026, 3, 1, 12, tzinfo=UTC), 23, ZoneInfo("UTC"), QuietHours())
datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from portrait.campaigns.definition import Campaign, QuietHours


def next_allowed(t: datetime, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """``t`` if its local hour is outside quiet hours, else the next whole hour that is."""
    local = t.astimezone(tz)
    if not quiet.contains(local.hour):
        return t.astimezone(UTC)
    local = local.replace(minute=0, second=0, microsecond=0)
    for _ in range(24):
        local = (local + timedelta(hours=1)).astimezone(tz)
        if not quiet.contains(local.hour):
            return local.astimezone(UTC)
    return t.astimezone(UTC)  # every hour quiet cannot happen: start == end means none


def send_time(base: datetime, hour: int, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """The first local ``hour`` o'clock at or after ``base``, moved out of quiet hours."""
    local = base.astimezone(tz)
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at < local:
        at = (at + timedelta(days=1)).replace(hour=hour)
    return next_allowed(at, tz, quiet)


def user_hour(campaign: Campaign, tags: dict[str, Any] | None, default_hour: int) -> int:
    """A fixed ``send_hour``, else the user's ``best_send_hour`` tag, else the default."""
    if isinstance(campaign.schedule.send_hour, int):
        return campaign.schedule.send_hour
    best = (tags or {}).get("best_send_hour")
    if best is None:
        return default_hour
    return int(best) % 24


def schedule_for(
    campaign: Campaign,
    at: datetime,
    tags: dict[str, Any] | None,
    tz: ZoneInfo,
    default_hour: int,
) -> datetime:
    """When to send to a user entering the campaign at ``at`` (not before the schedule's
    start)."""
    start = campaign.schedule.start
    base = max(at, aware(start, tz)) if start is not None else at
    return send_time(
        base, user_hour(campaign, tags, default_hour), tz, campaign.schedule.quiet_hours
    )


def after_end(campaign: Campaign, t: datetime, tz: ZoneInfo) -> bool:
    """``t`` is past the schedule's end."""
    end = campaign.schedule.end
    return end is not None and t > aware(end, tz)


def aware(t: datetime, tz: ZoneInfo) -> datetime:
    """A schedule time without an offset is local shop time."""
    return t if t.tzinfo is not None else t.replace(tzinfo=tz)
