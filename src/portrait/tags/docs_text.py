"""The prose of docs/tags.md: one line per field, type, aggregate, test, operator and rule form.

Which names need a line is read from the code (``portrait.tags.docs`` checks it), so adding an
aggregate or an operator without explaining it here stops the generator with a clear message.
"""

from __future__ import annotations

# A workspace tag file; tests/tags/test_docs.py loads it with the built-in catalog.
EXAMPLE = """\
group: {id: custom, zh: 自定义, en: Custom}
groups2:
  weekend: {zh: 周末, en: Weekend}
tags:
  - id: weekend_orders_90d
    zh: 近90天周末订单数
    en: Weekend orders, last 90 days
    description: Distinct orders placed on a Saturday or Sunday (shop time) in the last 90 days.
    group2: weekend
    kind: fact
    type: int
    window: 90d
    fact: {from: events, where: {type: order, weekday: {ge: 5}}, agg: count_distinct, of: order_id}
  - id: weekend_order_share
    zh: 周末订单占比
    en: Weekend share of orders
    description: Share of the last 90 days' orders placed at a weekend; empty without orders.
    group2: weekend
    kind: rule
    type: float
    rule: {compute: {div: [weekend_orders_90d, orders_90d]}}
  - id: weekend_shopper
    zh: 周末购物者
    en: Weekend shopper
    description: At least min_orders orders in the last 90 days, mostly at weekends.
    group2: weekend
    kind: rule
    type: bool
    params: {min_orders: 2, threshold: 0.5}
    rule:
      cases:
        - {when: {orders_90d: {lt: $min_orders}}, then: false}
        - {when: {weekend_order_share: {ge: $threshold}}, then: true}
      else: false
"""

KINDS = {
    "fact": "aggregated from the person's events or read from their user record",
    "rule": "computed from other tags",
    "model": "written by a trained model",
}

TYPES = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number (facts and rules round it to 6 decimals)",
    "enum": "one of the tag's `values`",
    "text": "free text",
    "top": "a ranked list of up to `n` keys, each with its share of the weight",
    "date": "a calendar date",
    "timestamp": "a point in time",
}

FIELD_DOCS = {
    # the file
    "group": "The level-1 group of every tag in the file: `{id, zh, en}`.",
    "groups2": "Labels of level-2 groups: `{id: {zh: ..., en: ...}}`.",
    "tags": "The tags, a list of mappings.",
    "group.id": "Group id, lower_snake_case.",
    "group.zh": "Chinese label.",
    "group.en": "English label.",
    # a tag
    "id": "Unique tag id, lower_snake_case; the column name in profiles.",
    "zh": "Chinese label.",
    "en": "English label.",
    "description": "What the value means, in a sentence or two.",
    "group2": "Level-2 group id (labelled in the file's `groups2`).",
    "kind": "How the value is made.",
    "type": "The value's type (see above).",
    "values": "For `enum`: the allowed values; rules may only compare with or yield these.",
    "window": "For facts over events: only the last N days, written `30d`.",
    "refresh": "How often the tag is meant to be rebuilt (a build computes every tag).",
    "pii": "The value is personal data: sealed (encrypted) in the snapshots, masked for roles "
    "without pii:read, coverage only in statistics, not usable in segment expressions.",
    "params": "Named values that conditions and rules read as `$name`.",
    "fact": "For `kind: fact`: the aggregate (see [Facts](#facts)).",
    "rule": "For `kind: rule`: the computation (see [Rules](#rules)).",
    "model": "For `kind: model`: the model (see [Models](#models)).",
    "cross_check": "Another tag that should agree with this one; `portrait tags quality` "
    "reports how often they do.",
    # fact
    "fact.from": "The source rows.",
    "fact.agg": "The aggregate (see [Aggregates](#aggregates)).",
    "fact.of": "The column aggregated.",
    "fact.where": "Only rows where this [condition](#conditions) holds.",
    "fact.share_where": "For `share`: the rows counted in the numerator.",
    "fact.n": "For `top`: how many keys to keep (1 to 20).",
    "fact.weight_of": "For `top`, `mode` and `mode_share`: rank keys by the sum of this column "
    "instead of by row count.",
    # rule
    "rule.cases": "Conditions on tags with the value each yields; the first that holds wins.",
    "rule.else": "With `cases`: the value when none holds (default null).",
    "rule.compute": "A formula over tags (see [operators](#formula-operators)).",
    "rule.band": "`{of: tag, edges: [...], labels: [...]}`: a number cut into labelled bands.",
    "rule.score": "`{of: tag, buckets: 5, order: asc, where: ...}`: 1 to `buckets` by rank.",
    "cases[].when": "A [condition](#conditions) on tags.",
    "cases[].then": "The value (or `$param`) when it holds; `null` leaves the tag empty.",
    # model
    "model.model": "The model that writes the scores (churn, clv, ...).",
    "model.n": "For type `top`: how many keys the model writes (1 to 20, default 5).",
}

AGGREGATES = {
    "count": "Number of rows.",
    "count_distinct": "Distinct values of `of`.",
    "sum": "Sum of `of`.",
    "mean": "Mean of `of`.",
    "min": "Smallest `of`.",
    "max": "Largest `of`.",
    "share": "Rows (or sum of `of`, if given) matching `share_where`, over all rows; empty when "
    "there are none.",
    "mode": "The most frequent value of `of` (or the one with the largest `weight_of`); a tie "
    "goes to the smaller value.",
    "mode_share": "The mode's share of all matching rows (or of their `weight_of`); rows "
    "without a value of `of` count in the total.",
    "top": "The `n` most frequent values of `of` (or those with the largest `weight_of`), "
    "each with its share of the rows that have a value.",
    "distinct_days": "Distinct local calendar days with a row.",
    "first": "Time of the first row.",
    "last": "Time of the latest row.",
    "value": "The user record's column `of` (`from: users` only).",
}

CONDITION_TESTS = {
    "eq": "equals the value (`eq: null`: is null)",
    "ne": "differs from the value (`ne: null`: is not null)",
    "gt": "is greater than the value",
    "ge": "is greater than or equal to the value",
    "lt": "is less than the value",
    "le": "is less than or equal to the value",
    "in": "is one of a list",
    "not_in": "is none of a list",
    "is_null": "is null (`is_null: true`) or is not (`is_null: false`)",
}

OPERATOR_DOCS = {
    "add": "Sum.",
    "sub": "First minus second.",
    "mul": "Product.",
    "div": "First divided by second; null when the divisor is 0 or null.",
    "neg": "Minus the argument.",
    "coalesce": "The first argument that is not null.",
    "least": "The smallest argument.",
    "greatest": "The largest argument.",
    "round": "The first rounded to the second's number of decimals.",
    "days_since": "Whole days from a timestamp tag to the build date.",
    "days_between": "Whole days from the first timestamp to the second.",
    "age_years": "Completed years from a date tag to the build date.",
    "is_null": "True when the argument is null.",
    "not_null": "True when the argument is not null.",
    "to_float": "The argument as a float.",
}

RULE_FORMS = {
    "cases": (
        "Conditions on tags, tried in order; the first that holds gives the value, `else` "
        "(default null) when none does. `then: null` leaves the tag empty, for example when "
        "there is too little evidence.",
        "rule:\n"
        "  cases:\n"
        "    - {when: {orders_total: 0}, then: prospect}\n"
        "    - {when: {days_since_last_order: {le: $recent_days}}, then: active}\n"
        "  else: lapsed",
    ),
    "compute": (
        "A formula: a tag id, a number, `$param`, or `{operator: [arguments]}` nested freely "
        "(see [operators](#formula-operators)). The result is cast to the tag's type.",
        "rule: {compute: {div: [{sub: [total_spend, refunded_amount]}, orders_total]}}",
    ),
    "band": (
        "Cuts a numeric tag `of` at `edges` (ascending) into `labels`, one more label than "
        "edges: below the first edge gives the first label, at or above the last edge the "
        "last. Empty when `of` is. Edges and labels may be `$param`s.",
        "rule: {band: {of: age, edges: [18, 25, 35], labels: [under_18, 18-24, 25-34, 35_plus]}}",
    ),
    "score": (
        "Ranks everyone the build sees by the tag `of` and splits them by percent rank into "
        "`buckets` groups of about equal size, scored 1 to `buckets` (default 5): with "
        "`order: asc` (the default) a higher value gives a higher score, with `desc` a lower "
        "one. Only persons where `of` is known and the optional `where` condition holds are "
        "ranked; others are empty.",
        "rule: {score: {of: total_spend, buckets: 5, order: asc, where: {orders_total: {gt: 0}}}}",
    ),
}
