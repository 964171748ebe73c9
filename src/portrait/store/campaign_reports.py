"""SQL of campaign reports and triggered journeys: the warehouse aggregates, Python does maths.

A report reads one row per assigned person (``person_outcomes``) and sums it per arm
(``arm_sums``): counts, sums and sums of squares, the sufficient statistics that
``portrait.experiments.stats`` works on. Journeys read who newly meets a trigger's condition
as of a moment ``at`` (nothing at or after ``at`` is looked at) and record who entered.

Reports read ``campaign_events`` (migration 12): every live event, and the outcome events kept
under a random token for a person erased on request, so a report does not change when a person
in it is erased (see ``store.erasure``).

Times are compared as epoch microseconds (``epoch_us``) so that windows of fractional days need
no interval arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from portrait.store.warehouse import Warehouse

DAY_US = 86_400_000_000
# events that show the person came back (a visit or an order), for retention after a campaign
ACTIVITY_TYPES = (
    "page_view", "product_view", "search", "click", "add_to_cart", "order", "payment", "login",
)  # fmt: skip
_ACTIVITY = ", ".join(f"'{t}'" for t in ACTIVITY_TYPES)


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


# --- campaigns --------------------------------------------------------------------------------
def campaign_row(wh: Warehouse, name: str) -> dict[str, Any] | None:
    """A stored campaign's definition (JSON text), status and launch time."""
    row = wh.fetchone(
        "SELECT name, definition, status, launched_at FROM campaigns WHERE name = ?", [name]
    )
    if row is None:
        return None
    return {"name": row[0], "definition": row[1], "status": row[2], "launched_at": row[3]}


def campaign_names(wh: Warehouse) -> list[str]:
    return [r[0] for r in wh.fetchall("SELECT name FROM campaigns ORDER BY name")]


def triggered_campaigns(wh: Warehouse, trigger_type: str | None = None) -> list[dict[str, Any]]:
    """Launched or running campaigns whose definition has a trigger (candidates for journeys),
    of one trigger type when given."""
    only = "AND json_extract_string(definition, '$.trigger.type') = ? " if trigger_type else ""
    rows = wh.fetchall(
        "SELECT name, definition, status FROM campaigns WHERE status IN ('launched', 'running') "
        "AND json_extract(definition, '$.trigger') IS NOT NULL "
        f"AND json_type(json_extract(definition, '$.trigger')) = 'OBJECT' {only}ORDER BY name",
        [trigger_type] if trigger_type else None,
    )
    return [{"name": r[0], "definition": r[1], "status": r[2]} for r in rows]


# --- outcomes per person ------------------------------------------------------------------------
PERSONS_SQL = f"""
WITH a AS (
  SELECT person_id, user_id, arm, assigned_at, epoch_us(assigned_at) AS t0,
         coalesce(pre_spend, 0.0) AS pre_spend
  FROM campaign_assignments WHERE campaign = $campaign AND assigned_at < $as_of
),
e AS (
  SELECT r.person_id, r.type, epoch_us(r.ts) AS t, r.order_id, r.quantity * r.price AS value
  FROM campaign_events r SEMI JOIN a ON a.person_id = r.person_id
  WHERE r.ts < $as_of AND (r.type IN ({_ACTIVITY})
    OR (r.type IN ('message_opened', 'message_clicked') AND r.campaign_id = $campaign))
),
o AS (  -- orders in the attribution window
  SELECT a.person_id, e.order_id, min(e.t) AS t, sum(coalesce(e.value, 0)) AS value
  FROM a JOIN e ON e.person_id = a.person_id AND e.type = 'order'
    AND e.t >= a.t0 AND e.t < a.t0 + $window_us
  GROUP BY ALL
),
rf AS (  -- refunds (quantity x price) of the attributed orders, within the window
  SELECT o.person_id, o.order_id, sum(coalesce(r.quantity * r.price, 0)) AS refunded
  FROM o JOIN a USING (person_id) JOIN campaign_events r ON r.type = 'refund'
    AND r.order_id = o.order_id AND (r.person_id IS NULL OR r.person_id = o.person_id)
    AND r.ts < $as_of AND epoch_us(r.ts) >= a.t0 AND epoch_us(r.ts) < a.t0 + $window_us
  GROUP BY ALL
),
onet AS (  -- an order's refunds count up to its value; a wholly refunded order is undone
  SELECT o.*, least(coalesce(rf.refunded, 0), greatest(o.value, 0)) AS refunded,
         NOT (coalesce(rf.refunded, 0) > 0 AND coalesce(rf.refunded, 0) >= o.value) AS kept
  FROM o LEFT JOIN rf USING (person_id, order_id)
),
op AS (
  SELECT person_id, count(*) FILTER (WHERE kept) AS orders,
         count(*) FILTER (WHERE NOT kept) AS orders_refunded,
         sum(value - refunded) AS revenue, sum(value) AS revenue_gross,
         sum(refunded) AS refunds, arg_min(value, t) FILTER (WHERE kept) AS first_value
  FROM onet GROUP BY person_id
),
msg AS (
  SELECT person_id, bool_or(type = 'message_opened') AS opened,
         bool_or(type = 'message_clicked') AS clicked
  FROM e WHERE type IN ('message_opened', 'message_clicked') GROUP BY person_id
),
act AS (
  SELECT a.person_id,
         bool_or(e.t <= a.t0 + 7 * {DAY_US}) AS active_7d, bool_or(true) AS active_30d
  FROM a JOIN e ON e.person_id = a.person_id AND e.type IN ({_ACTIVITY})
    AND e.t > a.t0 AND e.t <= a.t0 + 30 * {DAY_US}
  GROUP BY a.person_id
),
s AS (
  SELECT person_id, bool_or(status = 'sent') AS sent,
         sum(CASE WHEN status = 'sent' THEN coalesce(cost, 0) ELSE 0 END) AS send_cost
  FROM campaign_sends WHERE campaign = $campaign GROUP BY person_id
)
SELECT a.person_id, a.user_id, a.arm, a.assigned_at,
       coalesce(s.sent, false) AS sent, coalesce(s.send_cost, 0.0) AS send_cost,
       coalesce(msg.opened, false) OR coalesce(msg.clicked, false) AS opened,
       coalesce(msg.clicked, false) AS clicked,
       coalesce(op.orders, 0) > 0 AS converted, coalesce(op.orders, 0) AS orders,
       coalesce(op.orders_refunded, 0) AS orders_refunded,
       coalesce(op.revenue, 0.0) AS revenue, coalesce(op.revenue_gross, 0.0) AS revenue_gross,
       coalesce(op.refunds, 0.0) AS refunds, op.first_value, a.pre_spend,
       a.t0 + $window_us <= $as_us AS window_complete,
       CASE WHEN a.t0 + 7 * {DAY_US} <= $as_us THEN coalesce(act.active_7d, false) END
         AS active_7d,
       CASE WHEN a.t0 + 30 * {DAY_US} <= $as_us THEN coalesce(act.active_30d, false) END
         AS active_30d
FROM a LEFT JOIN op USING (person_id) LEFT JOIN msg USING (person_id)
  LEFT JOIN act USING (person_id) LEFT JOIN s USING (person_id)
"""


def _params(campaign: str, attribution_days: float, as_of: datetime) -> dict[str, Any]:
    return {
        "campaign": campaign,
        "as_of": as_of,
        "as_us": _us(as_of),
        "window_us": round(attribution_days * DAY_US),
    }


def person_outcomes(
    wh: Warehouse, campaign: str, attribution_days: float, as_of: datetime
) -> pa.Table:
    """One row per assigned person: arm, send, opens, clicks, attributed orders and revenue
    (net of the refunds of those orders within the window; ``revenue_gross`` and ``refunds``
    beside it; an order refunded whole within the window is no conversion, and is counted in
    ``orders_refunded`` instead of ``orders``), pre-period spend, activity 7 and 30 days after
    (NULL while that period has not ended)."""
    params = _params(campaign, attribution_days, as_of)
    with wh.reading() as con:
        return con.sql(
            f"SELECT * FROM ({PERSONS_SQL}) ORDER BY person_id", params=params
        ).to_arrow_table()


ARM_COLUMNS = (
    "arm", "n", "sent", "send_cost", "opened", "clicked", "converted", "orders", "revenue",
    "revenue_sq", "pre_sum", "pre_sq", "pre_rev", "window_complete", "eligible_7d", "active_7d",
    "eligible_30d", "active_30d", "first_assigned", "last_assigned", "offer_orders",
    "revenue_gross", "refunds", "orders_refunded",
)  # fmt: skip


def arm_sums(
    wh: Warehouse, campaign: str, attribution_days: float, as_of: datetime
) -> list[dict[str, Any]]:
    """Sufficient statistics per arm: counts, sums and sums of squares (see ARM_COLUMNS);
    ``offer_orders``: {order value: persons} of the orders an offer was used on, the first
    attributed order of each converted person who was sent the message."""
    sql = f"""
SELECT arm, count(*), count(*) FILTER (WHERE sent), sum(send_cost),
       count(*) FILTER (WHERE opened), count(*) FILTER (WHERE clicked),
       count(*) FILTER (WHERE converted), sum(orders), sum(revenue), sum(revenue * revenue),
       sum(pre_spend), sum(pre_spend * pre_spend), sum(pre_spend * revenue),
       count(*) FILTER (WHERE window_complete), count(active_7d),
       count(*) FILTER (WHERE active_7d), count(active_30d), count(*) FILTER (WHERE active_30d),
       min(assigned_at), max(assigned_at),
       histogram(coalesce(first_value, 0.0)) FILTER (WHERE converted AND sent),
       sum(revenue_gross), sum(refunds), sum(orders_refunded)
FROM ({PERSONS_SQL}) GROUP BY arm ORDER BY arm"""
    with wh.reading() as con:
        rows = con.execute(sql, _params(campaign, attribution_days, as_of)).fetchall()
    out = [dict(zip(ARM_COLUMNS, r, strict=True)) for r in rows]
    for arm in out:
        arm["offer_orders"] = dict(arm["offer_orders"] or {})
    return out


def send_counts(wh: Warehouse, campaign: str) -> dict[str, dict[str, int]]:
    """Sends per variant and status (queued, sent, failed, suppressed)."""
    out: dict[str, dict[str, int]] = {}
    for variant, status, n in wh.fetchall(
        "SELECT variant, status, count(*) FROM campaign_sends WHERE campaign = ? "
        "GROUP BY ALL ORDER BY ALL",
        [campaign],
    ):
        out.setdefault(variant, {})[status] = n
    return out


# --- playbook -----------------------------------------------------------------------------------
def average_order_value(wh: Warehouse, days: int = 90) -> float | None:
    """Mean order value over the last ``days`` of orders (None without orders)."""
    row = wh.fetchone(
        "SELECT avg(revenue) FROM orders WHERE ordered_at >= "
        f"(SELECT max(ordered_at) FROM orders) - INTERVAL {int(days)} DAY"
    )
    return float(row[0]) if row and row[0] is not None else None


# --- journeys -----------------------------------------------------------------------------------
def latest_carts(
    wh: Warehouse, at: datetime, due_before: datetime, oldest: datetime
) -> list[tuple[str, datetime]]:
    """(person, time of their latest add_to_cart) for persons whose latest cart before ``at``
    lies in [oldest, due_before] and who placed no order after it (before ``at``)."""
    return wh.fetchall(
        """
WITH c AS (
  SELECT person_id, max(ts) AS cart_at FROM events_resolved
  WHERE type = 'add_to_cart' AND person_id IS NOT NULL AND ts < $at GROUP BY person_id
)
SELECT c.person_id, c.cart_at FROM c
WHERE c.cart_at <= $due_before AND c.cart_at >= $oldest
  AND NOT EXISTS (SELECT 1 FROM events_resolved o WHERE o.type = 'order'
                  AND o.person_id = c.person_id AND o.ts > c.cart_at AND o.ts < $at)
ORDER BY c.person_id""",
        {"at": at, "due_before": due_before, "oldest": oldest},
    )


def never_ordered_registrants(
    wh: Warehouse, at: datetime, registered_before: datetime, oldest: datetime
) -> list[tuple[str, datetime]]:
    """(person, registration time) of users registered in [oldest, registered_before] who have
    no order before ``at``."""
    return wh.fetchall(
        """
WITH r AS (
  SELECT coalesce(m.person_id, u.user_id) AS person_id, min(u.registered_at) AS registered_at
  FROM users u LEFT JOIN identity_map m ON m.id_kind = 'user' AND m.identifier = u.user_id
  WHERE u.registered_at IS NOT NULL GROUP BY 1
)
SELECT person_id, registered_at FROM r
WHERE registered_at <= $registered_before AND registered_at >= $oldest
  AND person_id NOT IN (SELECT person_id FROM events_resolved
                        WHERE type = 'order' AND ts < $at AND person_id IS NOT NULL)
ORDER BY person_id""",
        {"at": at, "registered_before": registered_before, "oldest": oldest},
    )


def recent_builds(wh: Warehouse, at: datetime, limit: int = 2) -> list[dict[str, Any]]:
    """The latest builds (one per date, newest first) that saw nothing after ``at``: cut-off
    not after it, or finished before it (today's build has tomorrow's cut-off), with their
    snapshot if it is still stored."""
    rows = wh.fetchall(
        "SELECT as_of, arg_max(build_id, finished_at), arg_max(snapshot, finished_at), "
        "max(as_of_epoch) FROM tag_builds WHERE as_of_epoch <= ? OR finished_at <= ? "
        "GROUP BY as_of ORDER BY as_of DESC LIMIT ?",
        [int(at.timestamp()), at, limit],
    )
    stored = {
        f"{r[0]}.{r[1]}"
        for r in wh.fetchall("SELECT table_schema, table_name FROM information_schema.tables")
    }
    return [
        {
            "as_of": r[0],
            "build_id": r[1],
            "snapshot": r[2] if r[2] in stored else None,
            "cutoff": datetime.fromtimestamp(r[3], UTC),
        }
        for r in rows
    ]


def snapshot_has(wh: Warehouse, snapshot: str, columns: Sequence[str]) -> set[str]:
    schema, _, table = snapshot.partition(".")
    rows = wh.fetchall(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    )
    return {r[0] for r in rows} & set(columns)


def dormant_persons(
    wh: Warehouse, snapshot: str, previous: str | None
) -> list[tuple[str, bool | None]]:
    """(person, newly dormant) for persons whose lifecycle stage is dormant in ``snapshot``;
    newly: not dormant (or absent) in ``previous`` (None when there is no previous build)."""
    if previous is None:
        sql = (
            f"SELECT person_id, NULL FROM {snapshot} WHERE lifecycle_stage = 'dormant' "
            "ORDER BY person_id"
        )
    else:
        sql = (
            f"SELECT s.person_id, p.lifecycle_stage IS DISTINCT FROM 'dormant' FROM {snapshot} s "
            f"LEFT JOIN {previous} p USING (person_id) WHERE s.lifecycle_stage = 'dormant' "
            "ORDER BY s.person_id"
        )
    return wh.fetchall(sql)


def repurchase_due(
    wh: Warehouse, snapshot: str, at: datetime, with_prediction: bool
) -> list[tuple[str, datetime]]:
    """(person, moment the next purchase was due) for buyers whose next purchase is due at
    ``at`` and not overdue by more than one cycle (then it is a win-back matter): due is the
    predicted next purchase date when the model gave one after the last order, else the last
    order plus the purchase cycle (days)."""
    predicted = (
        "epoch_us(CAST(s.predicted_next_purchase_date AS TIMESTAMPTZ))"
        if with_prediction
        else "NULL"
    )
    sql = f"""
WITH lo AS (
  SELECT person_id, max(epoch_us(ts)) AS last_us FROM events_resolved
  WHERE type = 'order' AND person_id IS NOT NULL AND ts < $at GROUP BY person_id
),
d AS (
  SELECT s.person_id, lo.last_us,
         CAST(coalesce(s.purchase_cycle_days, 30) * {DAY_US} AS BIGINT) AS cycle_us,
         CASE WHEN {predicted} > lo.last_us THEN {predicted}
              WHEN s.purchase_cycle_days IS NOT NULL
              THEN lo.last_us + CAST(s.purchase_cycle_days * {DAY_US} AS BIGINT) END AS due_us
  FROM {snapshot} s JOIN lo USING (person_id)
)
SELECT person_id, to_timestamp(due_us / 1e6) FROM d
WHERE due_us IS NOT NULL AND due_us <= $at_us
  AND $at_us < due_us + greatest(cycle_us, 7 * {DAY_US})
ORDER BY person_id"""
    return wh.fetchall(sql, {"at": at, "at_us": _us(at)})


def journey_history(wh: Warehouse, campaign: str) -> dict[str, tuple[datetime, datetime]]:
    """Person -> (last entered_at, last triggered_at) in a campaign's journey."""
    rows = wh.fetchall(
        "SELECT person_id, max(entered_at), max(triggered_at) FROM journey_entries "
        "WHERE campaign = ? GROUP BY person_id",
        [campaign],
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def record_entries(
    wh: Warehouse,
    campaign: str,
    trigger_type: str,
    entries: Sequence[tuple[str, datetime]],
    entered_at: datetime,
) -> int:
    """Store journey entries (person, triggered_at); an entry already stored is kept."""
    if not entries:
        return 0
    rows = [
        [f"{campaign}/{pid}/{trig.isoformat()}", campaign, pid, trigger_type, trig, entered_at]
        for pid, trig in entries
    ]
    with wh.transaction() as con:
        before = con.execute(
            "SELECT count(*) FROM journey_entries WHERE campaign = ?", [campaign]
        ).fetchone()[0]
        con.executemany(
            "INSERT INTO journey_entries VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows
        )
        after = con.execute(
            "SELECT count(*) FROM journey_entries WHERE campaign = ?", [campaign]
        ).fetchone()[0]
    return int(after - before)
