"""Marketing response tags (catalog/marketing.yaml): rates per channel, coupons, timing.

Build date 2025-04-01 (UTC): message counts cover 90 days (from 2025-01-01), coupons and
response timing 365 days (from 2024-04-01). A rate with nothing sent is empty.
"""

from __future__ import annotations

import pytest

CHANNELS = ("email", "sms", "push")
COUNTS = [f"{c}_{what}_90d" for c in CHANNELS for what in ("sent", "opened", "clicked")]
RATES = [f"{c}_{what}_rate" for c in CHANNELS for what in ("open", "click")]


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()

    def message(person: str, type: str, ts: str, channel: str) -> None:
        shop.event(person, f"message_{type}", ts, channel=channel, campaign_id="c1")

    # m1: e-mail 4 sent in 90 days (one on the edge), 2 opened at 19h, 1 clicked at 19h
    for ts in (
        "2025-01-01T00:00:00Z",
        "2025-03-01T10:00:00Z",
        "2025-03-05T10:00:00Z",
        "2025-03-09T10:00:00Z",
        "2024-12-31T23:59:59Z",  # before the window
        "2025-04-01T00:00:00Z",  # the build date
    ):
        message("m1", "sent", ts, "email")
    message("m1", "opened", "2025-03-01T19:00:00Z", "email")
    message("m1", "opened", "2025-03-05T19:10:00Z", "email")
    message("m1", "clicked", "2025-03-05T19:11:00Z", "email")
    # SMS: 2 sent, none opened or clicked in 90 days; a click last summer
    message("m1", "sent", "2025-03-02T10:00:00Z", "sms")
    message("m1", "sent", "2025-03-03T10:00:00Z", "sms")
    message("m1", "clicked", "2024-06-01T08:00:00Z", "sms")
    # push: opened (an in-app notice), never sent through a campaign
    message("m1", "opened", "2025-03-07T08:00:00Z", "push")
    for ts in ("2024-04-01T00:00:00Z", "2024-10-01T10:00:00Z", "2025-02-01T10:00:00Z"):
        shop.event("m1", "coupon_received", ts, coupon_id="k1")
    shop.event("m1", "coupon_received", "2025-03-01T10:00:00Z", coupon_id="k2")
    shop.event("m1", "coupon_received", "2024-03-31T23:59:59Z", coupon_id="k0")
    shop.event("m1", "coupon_used", "2025-03-02T10:00:00Z", coupon_id="k2")

    # m2: never responded; visits at 21h
    message("m2", "sent", "2025-03-01T10:00:00Z", "email")
    shop.event("m2", "page_view", "2025-03-10T21:00:00Z")
    shop.event("m2", "page_view", "2025-03-11T21:30:00Z")
    shop.event("m2", "page_view", "2025-03-12T10:00:00Z")

    # m3: one response at 8h on push, one at 9h on SMS: ties go to the smaller key
    message("m3", "opened", "2025-03-10T09:00:00Z", "sms")
    message("m3", "clicked", "2025-03-11T08:00:00Z", "push")
    shop.user("empty")
    return shop.build("marketing")


def test_counts_and_rates_per_channel(profiles) -> None:
    want = {
        "email_sent_90d": 4,
        "email_opened_90d": 2,
        "email_clicked_90d": 1,
        "email_open_rate": 0.5,
        "email_click_rate": 0.25,
        "sms_sent_90d": 2,
        "sms_opened_90d": 0,
        "sms_clicked_90d": 0,
        "sms_open_rate": 0.0,
        "sms_click_rate": 0.0,
        "push_sent_90d": 0,
        "push_opened_90d": 1,
        "push_open_rate": None,  # nothing sent
        "push_click_rate": None,
    }
    assert profiles.of("m1", *want) == want


def test_coupons(profiles) -> None:
    want = {
        "coupons_received_365d": 4,  # the one a second before the year does not count
        "coupons_used_365d": 1,
        "coupon_redemption_rate": 0.25,
    }
    assert profiles.of("m1", *want) == want


def test_response_timing(profiles) -> None:
    want = {
        "message_response_hour": 19,  # 3 e-mail responses at 19h, push at 8h, SMS at 8h
        "best_send_hour": 19,
        "preferred_message_channel": "email",
        "messages_clicked_365d": 2,  # the e-mail click and last summer's SMS click
    }
    assert profiles.of("m1", *want) == want


def test_best_send_hour_falls_back_to_the_active_hour(profiles) -> None:
    want = {
        "message_response_hour": None,
        "best_send_hour": 21,
        "preferred_message_channel": None,
        "email_open_rate": 0.0,
    }
    assert profiles.of("m2", *want) == want


def test_timing_ties_go_to_the_smaller_key(profiles) -> None:
    want = {"message_response_hour": 8, "preferred_message_channel": "push"}
    assert profiles.of("m3", *want) == want


def test_no_messages(profiles) -> None:
    want = {
        **dict.fromkeys(COUNTS, 0),
        **dict.fromkeys(RATES),
        "coupons_received_365d": 0,
        "coupons_used_365d": 0,
        "coupon_redemption_rate": None,
        "message_response_hour": None,
        "best_send_hour": None,
        "preferred_message_channel": None,
        "messages_clicked_365d": 0,
    }
    assert profiles.of("empty", *want) == want
