"""The issue's reference for the profile build: a hand-written, hand-tuned DuckDB SQL pass that
computes the values of the built-in catalog's 90 fact tags (80 over events, 10 over users).

Issue 3 measures the full catalog build against "a hand-tuned SQL pass computing 95 such
columns". This module is that pass, written out as SQL text (not generated from the catalog and
not produced by the tag compiler), so that ``bench/bench_profiles.py`` can compare the build
with it at the issue's shape, and ``tests/test_profile_baseline_parity.py`` can check that it
computes the same values as the build (``compare_with_snapshot``).

How it is tuned, the way an analyst would write it for DuckDB:

* the events are read once: joined to the identity map (person resolution) and the products,
  cut at the as-of instant, with local calendar fields from the shop's UTC offsets as integer
  arithmetic (a CASE over the offset changes, no time zone library per row), into one
  CTE (``MATERIALIZED``; DuckDB streams it to every grouping) holding only the columns the
  tags read, the event type and message channel as small integer codes so that the many
  FILTER clauses compare integers, not strings;
* one main GROUP BY person with FILTER clauses for every count, sum, mean, share and
  first/last over the clickstream, and one per family of rarer event types (messages and
  coupons, orders and refunds, reviews and social) over those events only;
* distinct counts as keyed groupings (person, key) carrying the key's latest time, so one
  grouping serves every window (a key is counted in a window when its latest event is in it);
* modes and top-N lists as one grouping per (person, key column) with one weight per tag,
  then ``arg_min(key, (-weight, key))`` (largest weight, ties to the smallest key) and its
  ``n``-list form for top-N, the weights divided by the person's total.

The values follow the catalog's definitions and the build's documented semantics (see
``src/portrait/tags/sources.py`` and ``compile.py``): windows start at local midnight N
calendar days before the build date, floats are rounded to 6 digits, counts and sums are 0
when there is nothing to count, a top-N tag is a list of ``{key, weight}`` (NULL when empty),
timestamps are whole seconds, enum facts keep their declared values only. The SQL is written
for the catalog's fact definitions as they are (their parameters included, such as a low
rating being 2 or less); ``FACTS_DIGEST`` records which, and the parity test fails when the
catalog's facts change, so that the SQL is looked at again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from portrait.store import pii as stored_pii
from portrait.store import pii_tags

DAY = 86_400
WINDOWS = (7, 30, 90, 120, 365)

# The 90 fact tags, in the order of the baseline's columns, with their stored type.
FACT_TYPES: dict[str, str] = {
    # users (10)
    "gender": "enum",
    "birth_date": "date",
    "city": "text",
    "region": "text",
    "country": "text",
    "registration_channel": "text",
    "language": "enum",
    "registered_at": "timestamp",
    "has_phone": "bool",
    "has_email": "bool",
    # events (80)
    "visits_7d": "int",
    "visits_30d": "int",
    "visits_90d": "int",
    "visits_365d": "int",
    "orders_7d": "int",
    "orders_30d": "int",
    "orders_90d": "int",
    "orders_120d": "int",
    "orders_365d": "int",
    "orders_total": "int",
    "first_visit_at": "timestamp",
    "last_visit_at": "timestamp",
    "first_order_at": "timestamp",
    "last_order_at": "timestamp",
    "product_views_30d": "int",
    "product_views_90d": "int",
    "searches_30d": "int",
    "search_keywords": "top",
    "cart_adds_30d": "int",
    "carted_products_90d": "int",
    "ordered_products_90d": "int",
    "active_hour": "int",
    "active_weekday": "int",
    "weekend_share": "float",
    "main_device": "text",
    "main_channel": "text",
    "category_affinity": "top",
    "top_categories_viewed": "top",
    "top_categories_bought": "top",
    "top_subcategories": "top",
    "favourite_category": "text",
    "category_breadth": "int",
    "top_brands_viewed": "top",
    "top_brands_bought": "top",
    "favourite_brand": "text",
    "liked_categories": "top",
    "email_sent_90d": "int",
    "email_opened_90d": "int",
    "email_clicked_90d": "int",
    "sms_sent_90d": "int",
    "sms_opened_90d": "int",
    "sms_clicked_90d": "int",
    "push_sent_90d": "int",
    "push_opened_90d": "int",
    "push_clicked_90d": "int",
    "coupons_received_365d": "int",
    "coupons_used_365d": "int",
    "message_response_hour": "int",
    "preferred_message_channel": "text",
    "messages_clicked_365d": "int",
    "discount_share": "float",
    "brand_concentration": "float",
    "new_arrival_share": "float",
    "avg_item_price": "float",
    "avg_price_index": "float",
    "top_colours": "top",
    "top_styles": "top",
    "top_materials": "top",
    "favourite_colour": "text",
    "coupon_order_share": "float",
    "items_bought_365d": "int",
    "refunds_365d": "int",
    "refunded_items_total": "int",
    "items_total": "int",
    "low_ratings_365d": "int",
    "reviews_total": "int",
    "avg_rating": "float",
    "low_rating_share": "float",
    "shares_90d": "int",
    "invites_365d": "int",
    "invited_users": "int",
    "likes_90d": "int",
    "follows_total": "int",
    "questions_asked": "int",
    "answers_given": "int",
    "total_spend": "float",
    "spend_30d": "float",
    "spend_90d": "float",
    "spend_365d": "float",
    "refunded_amount": "float",
}

# sha256 of the sorted (id, fingerprint) pairs of the built-in catalog's fact tags that this SQL
# was written for (the first 16 hex digits); see tests/test_profile_baseline_parity.py.
FACTS_DIGEST = "236a12ff9b35b072"

# Codes of the event types and message channels the tags read (0: any other).
TYPE_CODES: dict[str, int] = {
    name: i + 1
    for i, name in enumerate(
        [
            "product_view",
            "page_view",
            "add_to_cart",
            "search",
            "order",
            "coupon_received",
            "message_sent",
            "like",
            "review",
            "coupon_used",
            "follow",
            "message_opened",
            "share",
            "question",
            "refund",
            "message_clicked",
            "invite",
            "answer",
        ]
    )
}
CHANNEL_CODES: dict[str, int] = {"email": 1, "sms": 2, "push": 3}

# The hand-written pass. $-names are constants filled in by ``baseline_sql``: the as-of instant
# ($asof, epoch seconds), the window starts ($w7 ... $w365, epoch seconds of local midnights)
# and $offset, the shop's UTC offset in seconds as an expression of the event's epoch second t.
# "Visits" are every event but messages sent and coupons received (what the shop pushed).
BASELINE_TEMPLATE = """
WITH prod AS (
  SELECT p.product_id, p.category_l1, p.category_l2, p.brand, p.colour, p.style, p.material,
         CASE WHEN p.category_l2 IS NOT NULL AND c.mean_price > 0
              THEN p.price / c.mean_price END AS price_index,
         CAST(floor(epoch(p.launched_at)) AS BIGINT) AS launched_t
  FROM products p
  LEFT JOIN (SELECT category_l2, avg(price) AS mean_price FROM products GROUP BY category_l2) c
         ON c.category_l2 = p.category_l2
),
raw AS (
  SELECT coalesce(mu.person_id, e.user_id, ma.person_id) AS pid,
         CAST(floor(epoch(e.ts)) AS BIGINT) AS t,
         e.type, e.product_id, e.quantity, e.price, e.discount, e.order_id, e.query,
         e.channel, e.device, e.coupon_id, e.rating, e.target_user_id,
         p.category_l1, p.category_l2, p.brand, p.colour, p.style, p.material,
         p.price_index, p.launched_t
  FROM events e
  LEFT JOIN identity_map mu ON mu.id_kind = 'user' AND mu.identifier = e.user_id
  LEFT JOIN identity_map ma ON ma.id_kind = 'anonymous' AND ma.identifier = e.anonymous_id
  LEFT JOIN prod p ON p.product_id = e.product_id
  WHERE e.ts < to_timestamp($asof)
),
-- the event type and message channel as small integer codes ($order, $email: see TYPE_CODES
-- and CHANNEL_CODES), so that the many FILTER clauses compare integers, not strings
ev AS MATERIALIZED (
  SELECT pid, t, product_id, quantity, price, discount, order_id, query, channel, device,
         coupon_id, rating, target_user_id, category_l1, category_l2, brand, colour, style,
         material, price_index,
         CASE type WHEN 'product_view' THEN $product_view WHEN 'page_view' THEN $page_view
                   WHEN 'add_to_cart' THEN $add_to_cart WHEN 'search' THEN $search
                   WHEN 'order' THEN $order WHEN 'coupon_received' THEN $coupon_received
                   WHEN 'message_sent' THEN $message_sent WHEN 'like' THEN $like
                   WHEN 'review' THEN $review WHEN 'coupon_used' THEN $coupon_used
                   WHEN 'follow' THEN $follow WHEN 'message_opened' THEN $message_opened
                   WHEN 'share' THEN $share WHEN 'question' THEN $question
                   WHEN 'refund' THEN $refund WHEN 'message_clicked' THEN $message_clicked
                   WHEN 'invite' THEN $invite WHEN 'answer' THEN $answer
                   ELSE 0 END AS tc,
         CASE channel WHEN 'email' THEN $email WHEN 'sms' THEN $sms WHEN 'push' THEN $push
                      ELSE 0 END AS cc,
         type NOT IN ('message_sent', 'coupon_received') AS visit,
         CAST(quantity AS DOUBLE) * price AS revenue,
         t - launched_t <= 30 * 86400 AS new_arrival,
         (t + $offset) // 86400 AS day,
         ((t + $offset) % 86400) // 3600 AS hour,
         ((t + $offset) // 86400 + 3) % 7 AS weekday
  FROM raw WHERE pid IS NOT NULL
),
-- row aggregates: one grouping per person over all events for what reads the clickstream,
-- and one per family of rarer event types over those events only (messages and coupons,
-- orders and refunds, reviews and social), so that each FILTER is evaluated on its own rows
main AS (
  SELECT pid,
    min(t) FILTER (visit) AS first_visit_at,
    max(t) FILTER (visit) AS last_visit_at,
    count(*) FILTER (tc = $product_view AND t >= $w30) AS product_views_30d,
    count(*) FILTER (tc = $product_view AND t >= $w90) AS product_views_90d,
    count(*) FILTER (tc = $search AND t >= $w30) AS searches_30d,
    count(*) FILTER (tc = $add_to_cart AND t >= $w30) AS cart_adds_30d,
    count(*) FILTER (visit AND t >= $w90 AND weekday >= 5) AS weekend_n,
    count(*) FILTER (visit AND t >= $w90) AS visit_events_90d
  FROM ev GROUP BY pid
),
messages AS (
  SELECT pid,
    count(*) FILTER (tc = $message_sent AND cc = $email AND t >= $w90) AS email_sent_90d,
    count(*) FILTER (tc = $message_opened AND cc = $email AND t >= $w90) AS email_opened_90d,
    count(*) FILTER (tc = $message_clicked AND cc = $email AND t >= $w90) AS email_clicked_90d,
    count(*) FILTER (tc = $message_sent AND cc = $sms AND t >= $w90) AS sms_sent_90d,
    count(*) FILTER (tc = $message_opened AND cc = $sms AND t >= $w90) AS sms_opened_90d,
    count(*) FILTER (tc = $message_clicked AND cc = $sms AND t >= $w90) AS sms_clicked_90d,
    count(*) FILTER (tc = $message_sent AND cc = $push AND t >= $w90) AS push_sent_90d,
    count(*) FILTER (tc = $message_opened AND cc = $push AND t >= $w90) AS push_opened_90d,
    count(*) FILTER (tc = $message_clicked AND cc = $push AND t >= $w90) AS push_clicked_90d,
    count(*) FILTER (tc = $coupon_received AND t >= $w365) AS coupons_received_365d,
    count(*) FILTER (tc = $coupon_used AND t >= $w365) AS coupons_used_365d,
    count(*) FILTER (tc = $message_clicked AND t >= $w365) AS messages_clicked_365d
  FROM ev
  WHERE tc IN ($message_sent, $message_opened, $message_clicked, $coupon_received, $coupon_used)
  GROUP BY pid
),
buys AS (
  SELECT pid,
    min(t) FILTER (tc = $order) AS first_order_at,
    max(t) FILTER (tc = $order) AS last_order_at,
    sum(quantity) FILTER (tc = $order AND t >= $w365 AND (discount > 0 OR coupon_id IS NOT NULL))
      AS discounted_items_365d,
    sum(quantity) FILTER (tc = $order AND t >= $w365 AND new_arrival) AS new_items_365d,
    sum(quantity) FILTER (tc = $order AND t >= $w365) AS items_365d,
    avg(price) FILTER (tc = $order AND t >= $w365) AS avg_item_price,
    avg(price_index) FILTER (tc = $order AND t >= $w365) AS avg_price_index,
    count(*) FILTER (tc = $order AND t >= $w365 AND coupon_id IS NOT NULL) AS coupon_lines_365d,
    count(*) FILTER (tc = $order AND t >= $w365) AS order_lines_365d,
    count(*) FILTER (tc = $refund AND t >= $w365) AS refunds_365d,
    sum(quantity) FILTER (tc = $refund) AS refunded_items_total,
    sum(quantity) FILTER (tc = $order) AS items_total,
    sum(revenue) FILTER (tc = $order) AS total_spend,
    sum(revenue) FILTER (tc = $order AND t >= $w30) AS spend_30d,
    sum(revenue) FILTER (tc = $order AND t >= $w90) AS spend_90d,
    sum(revenue) FILTER (tc = $order AND t >= $w365) AS spend_365d,
    sum(revenue) FILTER (tc = $refund) AS refunded_amount
  FROM ev WHERE tc IN ($order, $refund) GROUP BY pid
),
social AS (
  SELECT pid,
    count(*) FILTER (tc = $review AND rating <= 2 AND t >= $w365) AS low_ratings_365d,
    count(*) FILTER (tc = $review) AS reviews_total,
    count(*) FILTER (tc = $review AND rating <= 2) AS low_ratings_total,
    avg(rating) FILTER (tc = $review) AS avg_rating,
    count(*) FILTER (tc = $share AND t >= $w90) AS shares_90d,
    count(*) FILTER (tc = $invite AND t >= $w365) AS invites_365d,
    count(*) FILTER (tc = $like AND t >= $w90) AS likes_90d,
    count(*) FILTER (tc = $follow) AS follows_total,
    count(*) FILTER (tc = $question) AS questions_asked,
    count(*) FILTER (tc = $answer) AS answers_given
  FROM ev WHERE tc IN ($review, $share, $invite, $like, $follow, $question, $answer)
  GROUP BY pid
),
-- distinct counts: a key counts in a window when its latest event falls in it
visit_days AS (
  SELECT pid, count(*) FILTER (last_t >= $w7) AS visits_7d,
         count(*) FILTER (last_t >= $w30) AS visits_30d,
         count(*) FILTER (last_t >= $w90) AS visits_90d, count(*) AS visits_365d
  FROM (SELECT pid, day, max(t) AS last_t FROM ev WHERE visit AND t >= $w365 GROUP BY pid, day)
  GROUP BY pid
),
order_keys AS (
  SELECT pid, count(*) FILTER (last_t >= $w7) AS orders_7d,
         count(*) FILTER (last_t >= $w30) AS orders_30d,
         count(*) FILTER (last_t >= $w90) AS orders_90d,
         count(*) FILTER (last_t >= $w120) AS orders_120d,
         count(*) FILTER (last_t >= $w365) AS orders_365d, count(*) AS orders_total
  FROM (SELECT pid, order_id, max(t) AS last_t FROM ev
        WHERE tc = $order AND order_id IS NOT NULL GROUP BY pid, order_id)
  GROUP BY pid
),
product_keys AS (
  SELECT pid, count(*) FILTER (carted) AS carted_products_90d,
         count(*) FILTER (ordered) AS ordered_products_90d
  FROM (SELECT pid, product_id, bool_or(tc = $add_to_cart) AS carted,
               bool_or(tc = $order) AS ordered
        FROM ev WHERE tc IN ($add_to_cart, $order) AND t >= $w90 AND product_id IS NOT NULL
        GROUP BY pid, product_id)
  GROUP BY pid
),
invited AS (
  SELECT pid, count(DISTINCT target_user_id) AS invited_users FROM ev
  WHERE tc = $invite GROUP BY pid
),
-- modes: the key of the largest weight, ties to the smallest key
hours AS (
  SELECT pid, arg_min(hour, (-n_visit, hour)) FILTER (n_visit > 0) AS active_hour,
         arg_min(hour, (-n_msg, hour)) FILTER (n_msg > 0) AS message_response_hour
  FROM (SELECT pid, hour, count(*) FILTER (visit AND t >= $w90) AS n_visit,
               count(*) FILTER (tc IN ($message_opened, $message_clicked)) AS n_msg
        FROM ev WHERE (visit AND t >= $w90)
           OR (tc IN ($message_opened, $message_clicked) AND t >= $w365)
        GROUP BY pid, hour)
  GROUP BY pid
),
weekdays AS (
  SELECT pid, arg_min(weekday, (-n, weekday)) AS active_weekday
  FROM (SELECT pid, weekday, count(*) AS n FROM ev WHERE visit AND t >= $w90 GROUP BY pid, weekday)
  GROUP BY pid
),
devices AS (
  SELECT pid, arg_min(device, (-n, device)) AS main_device
  FROM (SELECT pid, device, count(*) AS n FROM ev
        WHERE visit AND t >= $w90 AND device IS NOT NULL GROUP BY pid, device)
  GROUP BY pid
),
channels AS (
  SELECT pid, arg_min(channel, (-n_view, channel)) FILTER (n_view > 0) AS main_channel,
         arg_min(channel, (-n_msg, channel)) FILTER (n_msg > 0) AS preferred_message_channel
  FROM (SELECT pid, channel,
               count(*) FILTER (tc IN ($page_view, $product_view) AND t >= $w90) AS n_view,
               count(*) FILTER (tc IN ($message_opened, $message_clicked)) AS n_msg
        FROM ev WHERE channel IS NOT NULL AND t >= $w365
          AND tc IN ($page_view, $product_view, $message_opened, $message_clicked)
        GROUP BY pid, channel)
  GROUP BY pid
),
-- top-N lists: the n keys of the largest weights (ties to the smaller key), each weight a
-- share of the person's total over all known keys
cat1 AS (
  SELECT pid,
    arg_min({'key': k, 'w': n_aff}, (-n_aff, k), 3) FILTER (n_aff > 0) AS affinity_l,
    sum(n_aff) AS affinity_total,
    arg_min({'key': k, 'w': n_view}, (-n_view, k), 3) FILTER (n_view > 0) AS viewed_l,
    sum(n_view) AS viewed_total,
    arg_min({'key': k, 'w': q_buy}, (-q_buy, k), 3) FILTER (q_buy > 0) AS bought_l,
    sum(q_buy) AS bought_total,
    arg_min({'key': k, 'w': n_like}, (-n_like, k), 3) FILTER (n_like > 0) AS liked_l,
    sum(n_like) AS liked_total,
    count(*) FILTER (n_buy > 0) AS category_breadth
  FROM (SELECT pid, category_l1 AS k,
          count(*) FILTER (t >= $w90 AND tc IN ($product_view, $add_to_cart, $order, $like,
                                                $share)) AS n_aff,
          count(*) FILTER (t >= $w90 AND tc = $product_view) AS n_view,
          coalesce(sum(quantity) FILTER (tc = $order), 0) AS q_buy,
          count(*) FILTER (tc = $order) AS n_buy,
          count(*) FILTER (tc = $like) AS n_like
        FROM ev WHERE category_l1 IS NOT NULL AND t >= $w365
          AND tc IN ($product_view, $add_to_cart, $order, $like, $share)
        GROUP BY pid, category_l1)
  GROUP BY pid
),
cat2 AS (
  SELECT pid, arg_min({'key': k, 'w': n}, (-n, k), 5) AS sub_l, sum(n) AS sub_total
  FROM (SELECT pid, category_l2 AS k, count(*) AS n FROM ev
        WHERE category_l2 IS NOT NULL AND t >= $w90
          AND tc IN ($product_view, $add_to_cart, $order)
        GROUP BY pid, category_l2)
  GROUP BY pid
),
brands AS (
  SELECT pid,
    arg_min({'key': k, 'w': n_view}, (-n_view, k), 5) FILTER (n_view > 0) AS viewed_l,
    sum(n_view) AS viewed_total,
    arg_min({'key': k, 'w': q_buy}, (-q_buy, k), 5) FILTER (q_buy > 0) AS bought_l,
    sum(q_buy) AS bought_total
  FROM (SELECT pid, brand AS k, count(*) FILTER (tc = $product_view AND t >= $w90) AS n_view,
               coalesce(sum(quantity) FILTER (tc = $order), 0) AS q_buy
        FROM ev WHERE brand IS NOT NULL AND t >= $w365 AND tc IN ($product_view, $order)
        GROUP BY pid, brand)
  GROUP BY pid
),
colours AS (
  SELECT pid, arg_min({'key': k, 'w': n}, (-n, k), 3) AS colour_l, sum(n) AS colour_total,
         arg_min(k, (-n_buy, k)) FILTER (n_buy > 0) AS favourite_colour
  FROM (SELECT pid, colour AS k, count(*) AS n,
               count(*) FILTER (tc IN ($add_to_cart, $order)) AS n_buy
        FROM ev WHERE colour IS NOT NULL AND t >= $w365
          AND tc IN ($product_view, $add_to_cart, $order)
        GROUP BY pid, colour)
  GROUP BY pid
),
styles AS (
  SELECT pid, arg_min({'key': k, 'w': n}, (-n, k), 3) AS style_l, sum(n) AS style_total
  FROM (SELECT pid, style AS k, count(*) AS n FROM ev
        WHERE style IS NOT NULL AND t >= $w365 AND tc IN ($product_view, $add_to_cart, $order)
        GROUP BY pid, style)
  GROUP BY pid
),
materials AS (
  SELECT pid, arg_min({'key': k, 'w': n}, (-n, k), 3) AS material_l, sum(n) AS material_total
  FROM (SELECT pid, material AS k, count(*) AS n FROM ev
        WHERE material IS NOT NULL AND t >= $w365
          AND tc IN ($product_view, $add_to_cart, $order)
        GROUP BY pid, material)
  GROUP BY pid
),
queries AS (
  SELECT pid, arg_min({'key': k, 'w': n}, (-n, k), 5) AS query_l, sum(n) AS query_total
  FROM (SELECT pid, query AS k, count(*) AS n FROM ev
        WHERE tc = $search AND query IS NOT NULL AND t >= $w90 GROUP BY pid, query)
  GROUP BY pid
),
-- the person's own user record: the row of their canonical user id
us AS (
  SELECT u.user_id AS pid, u.gender, u.birth_date, u.city, u.region, u.country, u.channel,
         u.language, u.registered_at, u.phone_hash, u.email
  FROM $users u LEFT JOIN identity_map m ON m.id_kind = 'user' AND m.identifier = u.user_id
  WHERE coalesce(m.person_id, u.user_id) = u.user_id
    AND (u.registered_at IS NULL OR u.registered_at < to_timestamp($asof))
),
persons AS (SELECT pid FROM main UNION SELECT pid FROM us)
SELECT persons.pid AS person_id,
  CASE WHEN us.gender IN ('F', 'M', 'U') THEN us.gender END AS gender,
  us.birth_date, us.city, us.region, us.country, us.channel AS registration_channel,
  CASE WHEN us.language IN ('zh', 'en') THEN us.language END AS language,
  to_timestamp(floor(epoch(us.registered_at))) AS registered_at,
  -- no user record (or one registered after the as-of): unknown, not false
  CASE WHEN us.pid IS NOT NULL THEN us.phone_hash IS NOT NULL END AS has_phone,
  CASE WHEN us.pid IS NOT NULL THEN us.email IS NOT NULL END AS has_email,
  coalesce(visits_7d, 0) AS visits_7d, coalesce(visits_30d, 0) AS visits_30d,
  coalesce(visits_90d, 0) AS visits_90d, coalesce(visits_365d, 0) AS visits_365d,
  coalesce(orders_7d, 0) AS orders_7d, coalesce(orders_30d, 0) AS orders_30d,
  coalesce(orders_90d, 0) AS orders_90d, coalesce(orders_120d, 0) AS orders_120d,
  coalesce(orders_365d, 0) AS orders_365d, coalesce(orders_total, 0) AS orders_total,
  to_timestamp(first_visit_at) AS first_visit_at, to_timestamp(last_visit_at) AS last_visit_at,
  to_timestamp(first_order_at) AS first_order_at, to_timestamp(last_order_at) AS last_order_at,
  coalesce(product_views_30d, 0) AS product_views_30d,
  coalesce(product_views_90d, 0) AS product_views_90d,
  coalesce(searches_30d, 0) AS searches_30d,
  $top(queries.query_l, queries.query_total) AS search_keywords,
  coalesce(cart_adds_30d, 0) AS cart_adds_30d,
  coalesce(carted_products_90d, 0) AS carted_products_90d,
  coalesce(ordered_products_90d, 0) AS ordered_products_90d,
  active_hour, active_weekday,
  round(weekend_n / nullif(visit_events_90d, 0), 6) AS weekend_share,
  main_device, main_channel,
  $top(cat1.affinity_l, cat1.affinity_total) AS category_affinity,
  $top(cat1.viewed_l, cat1.viewed_total) AS top_categories_viewed,
  $top(cat1.bought_l, cat1.bought_total) AS top_categories_bought,
  $top(cat2.sub_l, cat2.sub_total) AS top_subcategories,
  cat1.affinity_l[1].key AS favourite_category,
  coalesce(category_breadth, 0) AS category_breadth,
  $top(brands.viewed_l, brands.viewed_total) AS top_brands_viewed,
  $top(brands.bought_l, brands.bought_total) AS top_brands_bought,
  brands.bought_l[1].key AS favourite_brand,
  $top(cat1.liked_l, cat1.liked_total) AS liked_categories,
  coalesce(email_sent_90d, 0) AS email_sent_90d, coalesce(email_opened_90d, 0) AS email_opened_90d,
  coalesce(email_clicked_90d, 0) AS email_clicked_90d,
  coalesce(sms_sent_90d, 0) AS sms_sent_90d, coalesce(sms_opened_90d, 0) AS sms_opened_90d,
  coalesce(sms_clicked_90d, 0) AS sms_clicked_90d,
  coalesce(push_sent_90d, 0) AS push_sent_90d, coalesce(push_opened_90d, 0) AS push_opened_90d,
  coalesce(push_clicked_90d, 0) AS push_clicked_90d,
  coalesce(coupons_received_365d, 0) AS coupons_received_365d,
  coalesce(coupons_used_365d, 0) AS coupons_used_365d,
  message_response_hour, preferred_message_channel,
  coalesce(messages_clicked_365d, 0) AS messages_clicked_365d,
  round(coalesce(discounted_items_365d, 0) / nullif(items_365d, 0), 6) AS discount_share,
  -- the top brand's units over all units bought, those of unknown brands included
  CASE WHEN items_365d > 0 THEN round(brands.bought_l[1].w / items_365d, 6) END
    AS brand_concentration,
  round(coalesce(new_items_365d, 0) / nullif(items_365d, 0), 6) AS new_arrival_share,
  round(avg_item_price, 6) AS avg_item_price, round(avg_price_index, 6) AS avg_price_index,
  $top(colours.colour_l, colours.colour_total) AS top_colours,
  $top(styles.style_l, styles.style_total) AS top_styles,
  $top(materials.material_l, materials.material_total) AS top_materials,
  favourite_colour,
  round(coupon_lines_365d / nullif(order_lines_365d, 0), 6) AS coupon_order_share,
  coalesce(items_365d, 0) AS items_bought_365d, coalesce(refunds_365d, 0) AS refunds_365d,
  coalesce(refunded_items_total, 0) AS refunded_items_total,
  coalesce(items_total, 0) AS items_total, coalesce(low_ratings_365d, 0) AS low_ratings_365d,
  coalesce(reviews_total, 0) AS reviews_total, round(avg_rating, 6) AS avg_rating,
  round(low_ratings_total / nullif(reviews_total, 0), 6) AS low_rating_share,
  coalesce(shares_90d, 0) AS shares_90d, coalesce(invites_365d, 0) AS invites_365d,
  coalesce(invited_users, 0) AS invited_users, coalesce(likes_90d, 0) AS likes_90d,
  coalesce(follows_total, 0) AS follows_total, coalesce(questions_asked, 0) AS questions_asked,
  coalesce(answers_given, 0) AS answers_given,
  coalesce(round(total_spend, 6), 0) AS total_spend,
  coalesce(round(spend_30d, 6), 0) AS spend_30d, coalesce(round(spend_90d, 6), 0) AS spend_90d,
  coalesce(round(spend_365d, 6), 0) AS spend_365d,
  coalesce(round(refunded_amount, 6), 0) AS refunded_amount
FROM persons
LEFT JOIN us ON us.pid = persons.pid
LEFT JOIN main ON main.pid = persons.pid
LEFT JOIN messages ON messages.pid = persons.pid
LEFT JOIN buys ON buys.pid = persons.pid
LEFT JOIN social ON social.pid = persons.pid
LEFT JOIN visit_days ON visit_days.pid = persons.pid
LEFT JOIN order_keys ON order_keys.pid = persons.pid
LEFT JOIN product_keys ON product_keys.pid = persons.pid
LEFT JOIN invited ON invited.pid = persons.pid
LEFT JOIN hours ON hours.pid = persons.pid
LEFT JOIN weekdays ON weekdays.pid = persons.pid
LEFT JOIN devices ON devices.pid = persons.pid
LEFT JOIN channels ON channels.pid = persons.pid
LEFT JOIN cat1 ON cat1.pid = persons.pid
LEFT JOIN cat2 ON cat2.pid = persons.pid
LEFT JOIN brands ON brands.pid = persons.pid
LEFT JOIN colours ON colours.pid = persons.pid
LEFT JOIN styles ON styles.pid = persons.pid
LEFT JOIN materials ON materials.pid = persons.pid
LEFT JOIN queries ON queries.pid = persons.pid
"""

# A top-N list as the snapshot stores it: {key, weight} items, weight = the key's share of the
# person's total weight over all known keys (6 digits; unknown when that total is not positive,
# which only negative quantities can make); the list is NULL when it is empty.
TOP_TEMPLATE = (
    "list_transform({l}, lambda x: {{'key': CAST(x.key AS VARCHAR), 'weight': "
    "CASE WHEN {total} > 0 THEN round(CAST(x.w AS DOUBLE) / CAST({total} AS DOUBLE), 6) END}})"
)


def _expand_top(sql: str) -> str:
    """Writes out each ``$top(list, total)`` of the template."""
    out, rest = [], sql
    while "$top(" in rest:
        head, tail = rest.split("$top(", 1)
        args, rest = tail.split(")", 1)
        lst, total = (a.strip() for a in args.split(","))
        out += [head, TOP_TEMPLATE.format(l=lst, total=total)]
    return "".join(out) + rest


def local_midnight(day: date, timezone: str) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).timestamp())


def window_starts(as_of_epoch: int, timezone: str) -> dict[int, int]:
    """Epoch of local midnight N calendar days before the build date, for each window."""
    day = datetime.fromtimestamp(as_of_epoch, ZoneInfo(timezone)).date()
    return {n: local_midnight(day - timedelta(days=n), timezone) for n in WINDOWS}


def offset_changes(timezone: str, start: int, end: int) -> list[tuple[int, int]]:
    """(from epoch second, UTC offset in seconds) for each stretch of constant offset between
    ``start`` and ``end``; the first stretch also covers everything before ``start``.

    Each change is found to the second. (The build's ``tags.sources.utc_offsets`` steps by
    whole UTC hours, so in a zone whose change is not on a UTC hour, such as
    Australia/Lord_Howe's half-hour DST start at 15:30 UTC, it applies the new offset up to
    30 minutes late; there, events in that half hour would not match this baseline.)"""
    zone = ZoneInfo(timezone)

    def off(t: int) -> int:
        return int(datetime.fromtimestamp(t, UTC).astimezone(zone).utcoffset().total_seconds())  # type: ignore[union-attr]

    out = [(-(2**62), off(start))]
    t = start
    while t < end:
        nxt = min(t + 3600, end)
        if off(nxt) != out[-1][1]:
            lo, hi = t, nxt  # the offset changes in (lo, hi]: find the exact second
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if off(mid) == out[-1][1] else (lo, mid)
            out.append((hi, off(hi)))
        t = nxt
    return out


def offset_sql(changes: list[tuple[int, int]]) -> str:
    """The UTC offset of epoch second ``t`` as SQL: a constant, or a CASE over the changes."""
    if len(changes) == 1:
        return str(changes[0][1])
    whens = " ".join(f"WHEN t >= {s} THEN {o}" for s, o in reversed(changes[1:]))
    return f"(CASE {whens} ELSE {changes[0][1]} END)"


def baseline_sql(
    as_of_epoch: int, timezone: str, first_epoch: int | None = None, users: str = "users"
) -> str:
    """The hand-written pass as one SELECT (one row per person, ``person_id`` and one column
    per fact tag) for a build whose as-of instant is ``as_of_epoch`` (a local midnight in
    ``timezone``). ``first_epoch``: the earliest event, from where the UTC offsets are
    tracked (default: 400 days before the build date). ``users``: the table or view of the
    users (the build reads one with the birth dates decrypted)."""
    first = as_of_epoch if first_epoch is None else first_epoch
    start = min(first, as_of_epoch - 400 * DAY) - DAY
    changes = offset_changes(timezone, start, as_of_epoch + DAY)
    consts: dict[str, Any] = {
        "asof": as_of_epoch, "offset": offset_sql(changes), "users": users
    }  # fmt: skip
    consts.update(TYPE_CODES)
    consts.update(CHANNEL_CODES)
    consts.update({f"w{n}": s for n, s in window_starts(as_of_epoch, timezone).items()})
    return Template(_expand_top(BASELINE_TEMPLATE)).substitute(consts)


def latest_build(wh: Any) -> tuple[int, str, str]:
    """(as-of epoch, time zone, snapshot table) of the warehouse's latest build."""
    row = wh.fetchone(
        "SELECT as_of_epoch, timezone, snapshot FROM tag_builds ORDER BY finished_at DESC LIMIT 1"
    )
    if row is None:
        raise ValueError("no profile build yet")
    return int(row[0]), str(row[1]), str(row[2])


def run_baseline(
    wh: Any, as_of_epoch: int, timezone: str, table: str = "baseline_profile", cipher: Any = None
) -> float:
    """Runs the pass on a warehouse (``portrait.store.warehouse.Warehouse``) into the temp
    table ``table``; returns the seconds it took (finding the first event included).
    ``cipher``: the workspace's PII cipher (``ws.pii``), to read the users' birth dates,
    which are stored encrypted, as the build does."""
    t0 = time.perf_counter()
    first = wh.fetchone("SELECT CAST(floor(epoch(min(ts))) AS BIGINT) FROM events")[0]
    users = "users" if cipher is None else stored_pii.stage_build_users(wh, cipher)
    try:
        sql = baseline_sql(as_of_epoch, timezone, first, users)
        wh.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
    finally:
        if cipher is not None:
            stored_pii.drop_build_users(wh)
    return time.perf_counter() - t0


def opened_snapshot(wh: Any, snapshot: str, tags: Any, cipher: Any) -> str:
    """A temporary copy of ``snapshot`` with its PII tags (stored sealed) decrypted, for the
    comparison; its name."""
    with wh.reading() as con:
        rows = con.sql(f"SELECT * FROM {snapshot}").to_arrow_table()
    rows = pii_tags.open_columns(wh, rows, tags, cipher)
    wh.register("_opened_snapshot_rows", rows)
    try:
        wh.execute("CREATE OR REPLACE TEMP TABLE opened_snapshot AS FROM _opened_snapshot_rows")
    finally:
        wh.unregister("_opened_snapshot_rows")
    return "opened_snapshot"


# --- parity -------------------------------------------------------------------------------
@dataclass
class Parity:
    """How the baseline's columns compare with a snapshot's fact columns."""

    persons: tuple[int, int]  # rows in the baseline, rows in the snapshot
    missing: int  # persons in one and not the other
    mismatches: dict[str, int] = field(default_factory=dict)  # column -> persons that differ
    examples: dict[str, tuple] = field(default_factory=dict)  # column -> (person, base, build)

    @property
    def matching(self) -> list[str]:
        return [c for c in FACT_TYPES if self.mismatches.get(c, 0) == 0]

    @property
    def ok(self) -> bool:
        return self.missing == 0 and not any(self.mismatches.values())


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


ROUNDING = 1.000001e-6  # one unit of the 6th decimal, which stored floats are rounded to


def _differs(col: str, kind: str, rel: float) -> str:
    """SQL true when the baseline (b) and build (s) values of ``col`` differ."""
    b, s = f"b.{_q(col)}", f"s.{_q(col)}"
    if kind == "float":  # or one unit of the 6th decimal both round to: a sum taken in
        # another order (threads) can round the other way
        close = f"abs({b} - {s}) <= greatest({rel} * greatest(abs({b}), abs({s})), {ROUNDING})"
        return f"NOT ({b} IS NOT DISTINCT FROM {s} OR coalesce({close}, false))"
    if kind == "top":  # keys in order, exactly; weights within the tolerance
        keys = (
            f"list_transform({b}, lambda x: x.key) "
            f"IS NOT DISTINCT FROM list_transform({s}, lambda x: x.key)"
        )
        weights = (
            f"coalesce(list_bool_and(list_transform(range(len({b})), lambda i: "
            f"abs({b}[i + 1].weight - {s}[i + 1].weight) <= greatest("
            f"{rel} * greatest(abs({b}[i + 1].weight), abs({s}[i + 1].weight)), {ROUNDING}))), "
            "true)"
        )
        return f"NOT ({keys} AND {weights})"
    return f"{b} IS DISTINCT FROM {s}"


def compare_with_snapshot(
    wh: Any, snapshot: str, table: str = "baseline_profile", rel: float = 1e-9
) -> Parity:
    """Compares every fact column of the baseline table with the build's ``snapshot``: exact
    for ints, text, bools, dates and timestamps; floats within ``rel`` (relative) or one unit
    of the 6th decimal they are rounded to (``ROUNDING``); top-N lists with the same keys in
    the same order and weights within the same tolerance."""
    nb = wh.fetchone(f"SELECT count(*) FROM {table}")[0]
    ns = wh.fetchone(f"SELECT count(*) FROM {snapshot}")[0]
    missing = wh.fetchone(
        f"SELECT count(*) FROM {table} b FULL JOIN {snapshot} s USING (person_id) "
        "WHERE b.person_id IS NULL OR s.person_id IS NULL"
    )[0]
    tests = {c: _differs(c, k, rel) for c, k in FACT_TYPES.items()}
    counts = ", ".join(f"count(*) FILTER ({t})" for t in tests.values())
    row = wh.fetchone(f"SELECT {counts} FROM {table} b JOIN {snapshot} s USING (person_id)")
    out = Parity(persons=(nb, ns), missing=missing)
    for (col, test), n in zip(tests.items(), row, strict=True):
        out.mismatches[col] = int(n)
        if n:
            ex = wh.fetchone(
                f"SELECT person_id, CAST(b.{_q(col)} AS VARCHAR), CAST(s.{_q(col)} AS VARCHAR) "
                f"FROM {table} b JOIN {snapshot} s USING (person_id) WHERE {test} "
                "ORDER BY person_id LIMIT 1"
            )
            out.examples[col] = tuple(ex)
    return out
