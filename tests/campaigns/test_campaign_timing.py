"""Send times: the user's best hour in the shop's time zone, never in quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from portrait.campaigns.definition import QuietHours, parse_campaign
from portrait.campaigns.timing import after_end, next_allowed, schedule_for, send_time, user_hour

SHANGHAI = ZoneInfo("Asia/Shanghai")


def campaign(**schedule):
    variant = {"name": "a", "message": {"body": {"zh": "hi"}}}
    return parse_campaign(
        {"name": "t", "segment": "orders_total > 0", "channel": "sms", "schedule": schedule,
         "variants": [variant]}
    )  # fmt: skip


def test_best_hour_in_the_shop_time_zone() -> None:
    at = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai
    c = campaign()
    # best hour 20 local: today 20:00 Shanghai = 12:00 UTC
    assert schedule_for(c, at, {"best_send_hour": 20}, SHANGHAI, 10) == datetime(
        2026, 3, 1, 12, tzinfo=UTC
    )
    # best hour 9 has passed today: tomorrow 09:00 Shanghai
    assert schedule_for(c, at, {"best_send_hour": 9}, SHANGHAI, 10) == datetime(
        2026, 3, 2, 1, tzinfo=UTC
    )
    # no tag: the default hour; a fixed send_hour wins over the tag
    assert user_hour(c, {}, 10) == 10
    assert user_hour(campaign(send_hour=15), {"best_send_hour": 20}, 10) == 15


def test_a_best_hour_in_quiet_hours_moves_to_the_first_allowed_hour() -> None:
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    quiet = QuietHours(start=22, end=8)
    assert send_time(at, 23, ZoneInfo("UTC"), quiet) == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert send_time(at, 3, ZoneInfo("UTC"), quiet) == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert send_time(at, 21, ZoneInfo("UTC"), quiet) == datetime(2026, 3, 1, 21, tzinfo=UTC)


def test_schedule_start_and_end_are_local_shop_time() -> None:
    c = campaign(start="2026-03-05T00:00:00", end="2026-03-06T00:00:00")
    at = datetime(2026, 3, 1, tzinfo=UTC)
    when = schedule_for(c, at, {"best_send_hour": 12}, SHANGHAI, 10)
    assert when == datetime(2026, 3, 5, 4, tzinfo=UTC)  # 12:00 on the 5th in Shanghai
    assert not after_end(c, when, SHANGHAI)
    assert after_end(c, datetime(2026, 3, 5, 16, 1, tzinfo=UTC), SHANGHAI)


@settings(max_examples=300, deadline=None)
@given(
    minutes=st.integers(0, 60 * 24 * 400),
    start=st.integers(0, 23),
    end=st.integers(0, 23),
    hour=st.integers(0, 23),
    zone=st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York", "Europe/London"]),
)
def test_send_times_are_never_in_quiet_hours(minutes, start, end, hour, zone) -> None:
    tz, quiet = ZoneInfo(zone), QuietHours(start=start, end=end)
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    t = send_time(at, hour, tz, quiet)
    assert not quiet.contains(t.astimezone(tz).hour)
    assert at <= t <= at + timedelta(days=2)
    moved = next_allowed(at, tz, quiet)
    assert not quiet.contains(moved.astimezone(tz).hour) and moved >= at
