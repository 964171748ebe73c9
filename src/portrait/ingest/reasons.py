"""Why a record was put in quarantine: machine-readable codes, plain explanations and fixes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    explanation: str
    fix: str


_REASONS = [
    Reason(
        "missing_identity",
        "the event has neither user_id nor anonymous_id, so it belongs to nobody",
        "send the logged-in user_id or the device/cookie id as anonymous_id",
    ),
    Reason("missing_user_id", "the user record has no user_id", "give every user a user_id"),
    Reason("missing_product_id", "the record has no product_id", "give every product a product_id"),
    Reason("missing_type", "the event has no type", "set type to one of the event types"),
    Reason(
        "unknown_event_type",
        "the event type is not one Portrait knows",
        "use one of the event types listed by `portrait schema`, or map yours onto one",
    ),
    Reason("missing_timestamp", "the event has no timestamp (ts)", "send ts as ISO 8601 time"),
    Reason(
        "bad_timestamp",
        "a time could not be read",
        "send ISO 8601 (2024-05-01T12:30:00+08:00), or epoch seconds/milliseconds",
    ),
    Reason(
        "implausible_timestamp",
        "the time is before the earliest valid date or too far in the future",
        "check the source clock and time zone (ingest.earliest_valid/max_future_hours in "
        "portrait.toml set the bounds)",
    ),
    Reason(
        "wrong_type",
        "a field holds a value of the wrong type (e.g. text where a number belongs)",
        "send numbers for quantity, price, discount and rating, and dates as ISO 8601",
    ),
    Reason(
        "negative_price",
        "the price is negative",
        "send returns and cancellations as refund events with a positive price",
    ),
    Reason(
        "bad_discount",
        "the discount is negative or larger than the price",
        "send the discount per unit, between 0 and the unit price",
    ),
    Reason(
        "bad_quantity",
        "the quantity is zero, or negative on an event that is not an order line",
        "send a positive quantity; returns are refund events",
    ),
    Reason("bad_rating", "the rating is outside 1..5", "send a rating from 1 to 5"),
    Reason(
        "missing_field",
        "a field this event type needs is missing",
        "search needs query; product_view/add_to_cart/remove_from_cart/review need product_id; "
        "order and payment need order_id",
    ),
    Reason(
        "unknown_currency",
        "the price is in a currency with no exchange rate",
        "add the rate under [ingest] currency_rates in portrait.toml, or convert at source",
    ),
    Reason(
        "bad_json",
        "properties/attributes is not a JSON object",
        'send properties as a JSON object, e.g. {"colour": "red"}',
    ),
    Reason(
        "implausible_birth_date",
        "the birth date is in the future or more than 120 years ago",
        "send the real birth date or leave it empty",
    ),
    Reason(
        "not_an_object",
        "the record is not a JSON object",
        "send each record as an object with the canonical field names",
    ),
    Reason(
        "value_too_long",
        "a text field is longer than any real value of it (an id over ingest.max_id_length, "
        "text over max_text_length/max_long_text_length, properties or attributes over "
        "max_json_length bytes)",
        "send the real value (ids are short keys, not payloads); if such values are genuine, "
        "raise the limit under [ingest] in portrait.toml",
    ),
    Reason(
        "value_too_large",
        "a price, discount or quantity is beyond ingest.max_price or ingest.max_quantity "
        "(prices are compared in the workspace currency)",
        "check the unit (cents vs yuan) and the column mapping; if such values are genuine, "
        "raise max_price or max_quantity under [ingest] in portrait.toml",
    ),
    Reason(
        "nul_character",
        "an id or text field contains a NUL character (U+0000), which no id or text holds",
        "strip NUL bytes at the source (they usually come from fixed-width or C-string fields)",
    ),
    Reason(
        "invalid_email",
        "the e-mail is not an address (it needs one @ and a domain with a dot, no spaces)",
        "send the address as name@domain.tld, or leave email empty",
    ),
    Reason(
        "invalid_phone",
        "the phone is not a number (only digits, spaces and + ( ) . / - are allowed, and it "
        "needs 5 to 20 digits)",
        "send the number, e.g. +86 138-0013-8000, or leave phone empty",
    ),
    Reason(
        "invalid_utf8",
        "the line is not valid UTF-8 text (the raw bytes are kept escaped, e.g. \\xff)",
        "export the file as UTF-8 (e.g. `iconv -f GB18030 -t UTF-8`), or fix the damaged line",
    ),
    Reason(
        "control_character",
        "a JSON line holds a raw control character that ends no line (a lone carriage return, "
        "or \\x01); inside a JSON string it must be escaped",
        "escape control characters in JSON strings (\\r, \\u0001), and end lines with \\n "
        "or \\r\\n",
    ),
    Reason(
        "erased_person",
        "the record is about a person erased on request (right to be forgotten); nothing of it "
        "is kept",
        "stop sending this person's data (their ids are refused from now on: see "
        "`portrait privacy forget`)",
    ),
    Reason(
        "line_too_long",
        "the line is longer than ingest.max_line_bytes (its first bytes are kept)",
        "put one record per line (a missing line break joins records); if such lines are "
        "genuine, raise max_line_bytes under [ingest] in portrait.toml",
    ),
]

REASONS: dict[str, Reason] = {r.code: r for r in _REASONS}


def explain(code: str, detail: str | None = None) -> str:
    """One sentence: what is wrong (with the offending value) and how to fix it."""
    reason = REASONS.get(code)
    if reason is None:
        return f"{code}: {detail or ''}".strip()
    what = f"{reason.explanation} ({detail})" if detail else reason.explanation
    return f"{what}; fix: {reason.fix}"
