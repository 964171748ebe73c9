"""Social tags (catalog/social.yaml): counts, the weighted activity, influence and KOL.

Build date 2025-04-01 (UTC). social_activity = shares_90d + 3 x invites_365d + 2 x
answers_given; the influence score ranks the ten people below with any activity (ranks 1-2
score 1, ..., ranks 9-10 score 5); a KOL has score 5 and at least 3 shares in 90 days.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()

    def add(person: str, type: str, ts: str = "2025-03-10T10:00:00Z", **fields) -> None:
        shop.event(person, type, ts, **fields)

    # s1: 3 shares in 90 days (one on the edge), 2 invites this year, 5 answers
    for ts in ("2025-01-01T00:00:00Z", "2025-03-10T10:00:00Z", "2025-03-11T10:00:00Z"):
        add("s1", "share", ts, product_id="p1")
    add("s1", "share", "2024-12-31T23:59:59Z", product_id="p1")
    add("s1", "invite", target_user_id="t1")
    add("s1", "invite", target_user_id="t1")
    add("s1", "invite", "2024-03-31T23:59:59Z", target_user_id="t2")
    for _ in range(5):
        add("s1", "answer")
    for ts in ("2025-01-01T00:00:00Z", "2025-03-10T10:00:00Z", "2025-03-11T10:00:00Z"):
        add("s1", "like", ts, product_id="p1")
    add("s1", "like", "2024-12-31T23:59:59Z", product_id="p1")
    add("s1", "follow", target_user_id="t3")
    add("s1", "follow", "2025-04-01T00:00:00Z", target_user_id="t4")  # the build date
    add("s1", "question", product_id="p1")
    add("s1", "question", product_id="p1")

    # s2: 2 shares, 5 invites (two to nobody known yet): 2 + 15 = 17
    add("s2", "share", product_id="p1")
    add("s2", "share", product_id="p1")
    for target in ("a", "b", "c", None, None):
        add("s2", "invite", target_user_id=target)

    # f1..f8: k answers each, activity 2k
    for k in range(1, 9):
        for _ in range(k):
            add(f"f{k}", "answer")

    add("asks_only", "question", product_id="p1")
    shop.user("empty")
    return shop.build("social")


def test_counts_and_activity(profiles) -> None:
    want = {
        "shares_90d": 3,
        "invites_365d": 2,
        "invited_users": 2,  # t1, and t2 from before the year
        "likes_90d": 3,
        "follows_total": 1,
        "questions_asked": 2,
        "answers_given": 5,
        "social_activity": 19.0,
        "influence_score": 5,
        "is_kol": True,
    }
    assert profiles.of("s1", *want) == want


def test_top_score_without_enough_shares_is_not_a_kol(profiles) -> None:
    want = {
        "shares_90d": 2,
        "invites_365d": 5,
        "invited_users": 3,  # invites without a known invitee are not counted
        "social_activity": 17.0,
        "influence_score": 5,
        "is_kol": False,
    }
    assert profiles.of("s2", *want) == want


@pytest.mark.parametrize(("k", "score"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (7, 4), (8, 4)])
def test_influence_score_ranks_the_active(profiles, k: int, score: int) -> None:
    want = {"social_activity": 2.0 * k, "influence_score": score, "is_kol": False}
    assert profiles.of(f"f{k}", *want) == want


def test_no_activity_no_score(profiles) -> None:
    want = {
        "shares_90d": 0,
        "invites_365d": 0,
        "invited_users": 0,
        "answers_given": 0,
        "social_activity": 0.0,
        "influence_score": None,
        "is_kol": False,
    }
    assert profiles.of("asks_only", *want) == want
    assert profiles["asks_only"]["questions_asked"] == 1
    assert profiles.of("empty", *want) == want
