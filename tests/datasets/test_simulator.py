"""The demo-shop simulator: canonical files, determinism, and behaviour that follows the truth."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.datasets.base import DatasetFiles, source_schema
from portrait.datasets.simulator import DEFAULT_START, simulate
from portrait.schema import EVENT_TYPES, REQUIRED_BY_TYPE

SMALL = {"users": 300, "days": 30, "seed": 7}
# Big enough for trait statistics, two generation blocks and duplicate accounts.
MEDIUM = {"users": 3000, "days": 45, "seed": 11}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DatasetFiles:
    return simulate(tmp_path_factory.mktemp("small"), **SMALL)


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> DatasetFiles:
    return simulate(tmp_path_factory.mktemp("medium"), **MEDIUM)


@pytest.fixture(scope="module")
def db(medium: DatasetFiles) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, path in [
        ("users", medium.users[0]),
        ("products", medium.products[0]),
        ("events", medium.events[0]),
        ("truth", medium.extra["truth_users"]),
        ("truth_products", medium.extra["truth_products"]),
    ]:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


def read_all(files: DatasetFiles) -> dict[str, pa.Table]:
    paths = {kind: p for kind, p in files.in_ingest_order()} | files.extra
    return {name: pq.read_table(p) for name, p in paths.items()}


# -- contract ----------------------------------------------------------------------------------


def test_files_have_exactly_the_canonical_schemas(small: DatasetFiles) -> None:
    assert small.name == "simulated"
    assert set(small.extra) == {"truth_users", "truth_products"}
    assert small.notes
    for kind, path in small.in_ingest_order():
        assert pq.read_schema(path).equals(source_schema(kind)), kind
    assert pq.read_schema(small.events[0]).field("ts").type == pa.timestamp("us", tz="UTC")


def test_event_types_are_known_and_carry_their_required_fields(db) -> None:
    types = {row[0] for row in db.execute("SELECT DISTINCT type FROM events").fetchall()}
    assert types <= set(EVENT_TYPES)
    assert types >= set(EVENT_TYPES) - {"survey_answer", "answer"}  # everything shows up
    for etype, fields in REQUIRED_BY_TYPE.items():
        for field in fields:
            missing = one(
                db, f"SELECT count(*) FROM events WHERE type = '{etype}' AND {field} IS NULL"
            )
            assert missing == 0, (etype, field)


def test_event_ids_are_unique(db) -> None:
    assert one(db, "SELECT count(*) - count(DISTINCT event_id) FROM events") == 0


def test_timestamps_are_utc_and_inside_the_period(small: DatasetFiles) -> None:
    ts = pq.read_table(small.events[0], columns=["ts"]).column("ts")
    assert ts.type.tz == "UTC"
    start = datetime.combine(DEFAULT_START, datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=SMALL["days"])
    assert start <= pa.compute.min(ts).as_py() and pa.compute.max(ts).as_py() < end


def test_event_mix_is_realistic(db) -> None:
    share = dict(
        db.execute(
            "SELECT type, count(*) / sum(count(*)) OVER () FROM events GROUP BY type"
        ).fetchall()
    )
    assert share["product_view"] > 0.3 and share["page_view"] > 0.15
    assert 0.02 <= share["order"] <= 0.04


def test_invalid_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="users"):
        simulate(tmp_path, users=0)
    with pytest.raises(ValueError, match="days"):
        simulate(tmp_path, users=10, days=0)


def test_progress_is_reported_per_chunk(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    simulate(
        tmp_path, users=2500, days=5, chunk_users=2000, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(2000, 2500), (2500, 2500)]


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_the_same_shop_byte_for_byte(small: DatasetFiles, tmp_path: Path) -> None:
    again = simulate(tmp_path, **SMALL)
    first, second = read_all(small), read_all(again)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].equals(second[name]), name
    for a, b in zip(small.in_ingest_order(), again.in_ingest_order(), strict=True):
        assert a[1].read_bytes() == b[1].read_bytes()


def test_another_seed_gives_another_shop(small: DatasetFiles, tmp_path: Path) -> None:
    other = simulate(tmp_path, **(SMALL | {"seed": SMALL["seed"] + 1}))
    assert not read_all(small)["events"].equals(read_all(other)["events"])


def test_chunk_size_does_not_change_the_shop(tmp_path: Path) -> None:
    """Memory is bounded by the chunk size, and the output does not depend on it."""
    args = {"users": 4100, "days": 10, "seed": 3}
    fine = simulate(tmp_path / "fine", chunk_users=1, **args)
    coarse = simulate(tmp_path / "coarse", chunk_users=100_000, **args)
    assert pq.ParquetFile(fine.events[0]).num_row_groups == 3  # one chunk per 2,000-user block
    assert pq.ParquetFile(coarse.events[0]).num_row_groups == 1
    for name, table in read_all(fine).items():
        assert table.equals(read_all(coarse)[name]), name


# -- commerce ----------------------------------------------------------------------------------


def test_every_order_has_one_payment_for_the_amount_of_its_lines(db) -> None:
    assert one(db, "SELECT count(*) FROM events WHERE type = 'order'") > 100
    mismatched = one(
        db,
        """
        WITH lines AS (SELECT order_id, sum(quantity * price) AS amount
                       FROM events WHERE type = 'order' GROUP BY order_id),
             paid AS (SELECT order_id, count(*) AS n, sum(price) AS amount
                      FROM events WHERE type = 'payment' GROUP BY order_id)
        SELECT count(*) FROM lines FULL JOIN paid USING (order_id)
        WHERE paid.n IS DISTINCT FROM 1 OR abs(lines.amount - paid.amount) > 0.01
        """,
    )
    assert mismatched == 0


def test_order_lines_have_quantity_and_non_negative_prices(db) -> None:
    bad = one(
        db,
        """SELECT count(*) FROM events e JOIN products p USING (product_id)
           WHERE e.type = 'order' AND (e.quantity < 1 OR e.price < 0 OR e.discount < 0
                 OR abs(e.price + e.discount - p.price) > 0.011)""",
    )
    assert bad == 0


def test_refunds_reference_real_order_lines(db) -> None:
    assert one(db, "SELECT count(*) FROM events WHERE type = 'refund'") > 10
    orphans = one(
        db,
        """SELECT count(*) FROM events r WHERE r.type = 'refund' AND NOT EXISTS (
             SELECT 1 FROM events o WHERE o.type = 'order' AND o.order_id = r.order_id
               AND o.product_id = r.product_id AND o.user_id = r.user_id AND o.ts < r.ts)""",
    )
    assert orphans == 0


def test_registered_without_purchase_users_never_order(db) -> None:
    assert one(db, "SELECT count(*) FROM truth WHERE registered_without_purchase") > 100
    orders = one(
        db,
        """SELECT count(*) FROM events JOIN truth USING (user_id)
           WHERE registered_without_purchase AND type IN ('order', 'payment')""",
    )
    assert orders == 0


def test_churned_users_are_silent_after_churning(db) -> None:
    assert one(db, "SELECT count(*) FROM truth WHERE churned_at IS NOT NULL") > 50
    late = one(
        db,
        """SELECT count(*) FROM events e JOIN truth t ON e.user_id = t.user_id
           WHERE t.churned_at IS NOT NULL AND e.ts > t.churned_at""",
    )
    assert late == 0


# -- identity and social -----------------------------------------------------------------------


def test_anonymous_history_is_stitched_by_login_or_register(db) -> None:
    stitched = one(
        db,
        """SELECT count(*) FROM events a WHERE a.user_id IS NULL AND EXISTS (
             SELECT 1 FROM events l WHERE l.type IN ('login', 'register')
               AND l.anonymous_id = a.anonymous_id AND l.user_id IS NOT NULL AND l.ts > a.ts)""",
    )
    assert stitched > 100
    never = one(
        db,
        """SELECT count(DISTINCT anonymous_id) FROM events a WHERE NOT EXISTS (
             SELECT 1 FROM events l
             WHERE l.anonymous_id = a.anonymous_id AND l.user_id IS NOT NULL)""",
    )
    assert never > 50  # visitors who never register


def test_duplicate_accounts_share_a_phone(db) -> None:
    pairs = db.execute(
        """SELECT regexp_replace(a.phone, '[^0-9]', '', 'g'),
                  regexp_replace(b.phone, '[^0-9]', '', 'g')
           FROM truth t JOIN users a ON a.user_id = t.user_id
           JOIN users b ON b.user_id = t.same_person_as"""
    ).fetchall()
    assert len(pairs) >= 5
    assert all(x == y for x, y in pairs)
    distinct = one(db, "SELECT count(DISTINCT regexp_replace(phone, '[^0-9]', '', 'g')) FROM users")
    assert distinct == MEDIUM["users"] - len(pairs)


def test_invites_target_real_users_who_register_afterwards(db) -> None:
    assert one(db, "SELECT count(*) FROM events WHERE type = 'invite'") > 20
    bad = one(
        db,
        """SELECT count(*) FROM events e LEFT JOIN users u ON u.user_id = e.target_user_id
           WHERE e.type = 'invite' AND (u.user_id IS NULL OR u.registered_at <= e.ts)""",
    )
    assert bad == 0
    unknown_targets = one(
        db,
        """SELECT count(*) FROM events WHERE target_user_id IS NOT NULL
           AND target_user_id NOT IN (SELECT user_id FROM users)""",
    )
    assert unknown_targets == 0


# -- behaviour follows the latent traits -------------------------------------------------------


def test_review_ratings_follow_satisfaction(db) -> None:
    happy, unhappy = db.execute(
        """SELECT avg(rating) FILTER (WHERE satisfaction >= 0.8),
                  avg(rating) FILTER (WHERE satisfaction < 0.5)
           FROM events JOIN truth USING (user_id) WHERE type = 'review'"""
    ).fetchone()
    assert happy > unhappy + 0.8


def test_price_sensitive_users_use_more_coupons_and_discounts(db) -> None:
    sensitive, others = db.execute(
        """WITH per_user AS (
             SELECT user_id, avg((discount > 0)::int) AS discounted
             FROM events WHERE type = 'order' GROUP BY user_id)
           SELECT avg(discounted) FILTER (WHERE price_sensitivity >= 0.6),
                  avg(discounted) FILTER (WHERE price_sensitivity < 0.3)
           FROM per_user JOIN truth USING (user_id)"""
    ).fetchone()
    assert sensitive > 1.5 * others


def test_brand_loyal_users_concentrate_on_few_brands(db) -> None:
    """Within a category, loyal users keep coming back to one brand."""
    loyal, others = db.execute(
        """WITH views AS (
             SELECT e.user_id, p.category_l1, p.brand, count(*) AS n FROM events e
             JOIN products p USING (product_id) WHERE e.type = 'product_view' GROUP BY ALL),
           per_category AS (SELECT user_id, max(n) / sum(n) AS top FROM views
                            GROUP BY user_id, category_l1 HAVING sum(n) >= 4),
           per_user AS (SELECT user_id, avg(top) AS top FROM per_category GROUP BY user_id)
           SELECT avg(top) FILTER (WHERE brand_loyalty >= 0.6),
                  avg(top) FILTER (WHERE brand_loyalty < 0.3)
           FROM per_user JOIN truth USING (user_id)"""
    ).fetchone()
    assert loyal > others + 0.08


def test_price_sensitive_users_pay_less_for_the_same_kind_of_product(db) -> None:
    sensitive, others = db.execute(
        """WITH kind AS (SELECT category_l3, avg(price) AS typical FROM products GROUP BY ALL),
           per_user AS (
             SELECT e.user_id, avg(p.price / k.typical) AS relative FROM events e
             JOIN products p USING (product_id) JOIN kind k USING (category_l3)
             WHERE e.type = 'order' GROUP BY e.user_id)
           SELECT avg(relative) FILTER (WHERE price_sensitivity >= 0.6),
                  avg(relative) FILTER (WHERE price_sensitivity < 0.3)
           FROM per_user JOIN truth USING (user_id)"""
    ).fetchone()
    assert sensitive < others - 0.1


def test_influential_users_share_invite_and_are_followed_more(db) -> None:
    rows = db.execute(
        """WITH acts AS (
             SELECT user_id, count(*) FILTER (WHERE type IN ('share', 'invite')) AS spread
             FROM events WHERE user_id IS NOT NULL GROUP BY user_id),
           followed AS (SELECT target_user_id AS user_id, count(*) AS n FROM events
                        WHERE type = 'follow' GROUP BY ALL)
           SELECT social_influence >= 0.4 AS influencer, avg(coalesce(spread, 0)),
                  avg(coalesce(n, 0))
           FROM truth LEFT JOIN acts USING (user_id) LEFT JOIN followed USING (user_id)
           WHERE social_influence >= 0.4 OR social_influence < 0.15 GROUP BY ALL"""
    ).fetchall()
    stats = {influencer: (spread, followers) for influencer, spread, followers in rows}
    assert stats[True][0] > 2 * stats[False][0]
    assert stats[True][1] > 2 * stats[False][1]


def test_campaign_funnels_narrow_and_clicks_lead_to_visits(db) -> None:
    rows = db.execute(
        """SELECT campaign_id, count(*) FILTER (WHERE type = 'message_sent'),
                  count(*) FILTER (WHERE type = 'message_clicked'),
                  count(*) FILTER (WHERE type = 'page_view')
           FROM events WHERE campaign_id IS NOT NULL GROUP BY ALL"""
    ).fetchall()
    assert len(rows) >= 4
    for campaign, sent, clicked, visits in rows:
        assert sent > clicked > 0, campaign
        assert visits >= clicked * 0.5, campaign


def test_trend_seekers_look_at_new_arrivals(db) -> None:
    seekers, others = db.execute(
        """WITH per_user AS (
             SELECT user_id, avg(launched_in_period::int) AS new_share FROM events
             JOIN truth_products USING (product_id) WHERE type = 'product_view' GROUP BY user_id)
           SELECT avg(new_share) FILTER (WHERE trend_seeking >= 0.6),
                  avg(new_share) FILTER (WHERE trend_seeking < 0.3)
           FROM per_user JOIN truth USING (user_id)"""
    ).fetchone()
    assert seekers > 1.5 * others


def test_promotion_spike_and_active_hours(db) -> None:
    busiest, typical = db.execute(
        """WITH daily AS (SELECT date_trunc('day', ts) AS d, count(*) AS n FROM events GROUP BY d)
           SELECT max(n), median(n) FROM daily"""
    ).fetchone()
    assert busiest > 1.5 * typical
    hits = one(
        db,
        """WITH hours AS (
             SELECT user_id, hour(ts) AS h, count(*) AS n FROM events
             WHERE type = 'page_view' AND user_id IS NOT NULL GROUP BY ALL),
           top AS (SELECT user_id, arg_max(h, n) AS h FROM hours GROUP BY user_id
                   HAVING sum(n) >= 20)
           SELECT avg((least(abs(top.h - t.peak_hour_utc), 24 - abs(top.h - t.peak_hour_utc))
                      <= 2)::int) FROM top JOIN truth t USING (user_id)""",
    )
    assert hits > 0.6


def test_users_look_like_a_real_registration_table(db) -> None:
    row = db.execute(
        f"""SELECT count(*) FILTER (WHERE registered_at >= DATE '{DEFAULT_START}'),
                   count(*) FILTER (WHERE gender IS NULL),
                   count(*) FILTER (WHERE birth_date IS NULL),
                   count(DISTINCT city), count(DISTINCT country), count(DISTINCT channel),
                   count(DISTINCT language)
            FROM users"""
    ).fetchone()
    in_period, no_gender, no_birth, cities, countries, channels, languages = row
    n = MEDIUM["users"]
    assert 0.1 * n < in_period < 0.5 * n
    assert no_gender > 0 and no_birth > 0
    assert cities > 20 and countries > 3 and channels == 4 and languages == 2


def test_start_date_moves_the_period(tmp_path: Path) -> None:
    files = simulate(tmp_path, users=200, days=3, start=date(2024, 6, 1))
    ts = pq.read_table(files.events[0], columns=["ts"]).column("ts")
    assert pa.compute.min(ts).as_py().date() >= date(2024, 6, 1)
    assert pa.compute.max(ts).as_py().date() < date(2024, 6, 4)
