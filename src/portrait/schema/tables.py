"""The canonical data model: every source is mapped into these tables.

Each column is declared once, with its Arrow type, whether it is PII and what it means. The
warehouse DDL, the ingest validation and the documentation (``portrait schema``) are all
generated from these declarations, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from portrait.schema.event_types import EVENT_TYPES

UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    """One canonical column: name, Arrow type, SQL type, meaning and PII flag."""

    name: str
    type: pa.DataType
    sql_type: str
    doc: str
    pii: bool = False
    required: bool = False

    @property
    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=not self.required)


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns, its key and what one row is."""

    name: str
    doc: str
    key: str
    columns: tuple[Column, ...]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([c.field for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]


def _c(name: str, t: pa.DataType, sql: str, doc: str, **kw: bool) -> Column:
    return Column(name, t, sql, doc, **kw)


USERS = Table(
    name="users",
    key="user_id",
    doc="One row per registered user (latest known attributes; re-ingest updates the row).",
    columns=(
        _c("user_id", pa.string(), "VARCHAR", "Shop's user id.", required=True),
        _c("registered_at", UTC_TS, "TIMESTAMPTZ", "Registration time, UTC."),
        _c("gender", pa.string(), "VARCHAR", "Declared gender, normalised to F, M or U (unknown)."),
        _c("birth_date", pa.date32(), "DATE", "Declared birth date."),
        _c("city", pa.string(), "VARCHAR", "City of residence."),
        _c("region", pa.string(), "VARCHAR", "Province/state/region or area code."),
        _c("country", pa.string(), "VARCHAR", "Country."),
        _c(
            "channel", pa.string(), "VARCHAR", "Registration channel (web, app, mini-program, ...)."
        ),
        _c("language", pa.string(), "VARCHAR", "Preferred language for messages: zh or en."),
        _c("phone", pa.string(), "VARCHAR", "Phone number as given.", pii=True),
        _c("email", pa.string(), "VARCHAR", "E-mail address as given.", pii=True),
        _c("name", pa.string(), "VARCHAR", "Person's name.", pii=True),
        _c("address", pa.string(), "VARCHAR", "Postal address as given.", pii=True),
        _c(
            "phone_hash",
            pa.string(),
            "VARCHAR",
            "Keyed HMAC-SHA256 (workspace secret) of the phone's last 11 digits; finds the "
            "same person under two ids without the phone.",
        ),
        _c("attributes", pa.string(), "VARCHAR", "Other attributes as a JSON object."),
        _c("ingested_at", UTC_TS, "TIMESTAMPTZ", "When this row was stored."),
        _c("batch_id", pa.string(), "VARCHAR", "Ingest batch that stored this row."),
    ),
)

PRODUCTS = Table(
    name="products",
    key="product_id",
    doc="One row per product (latest known attributes; re-ingest updates the row).",
    columns=(
        _c("product_id", pa.string(), "VARCHAR", "Shop's product id (SKU).", required=True),
        _c("title", pa.string(), "VARCHAR", "Product title (any language)."),
        _c("category_l1", pa.string(), "VARCHAR", "Top-level category."),
        _c("category_l2", pa.string(), "VARCHAR", "Second-level category."),
        _c("category_l3", pa.string(), "VARCHAR", "Third-level category."),
        _c("brand", pa.string(), "VARCHAR", "Brand."),
        _c("price", pa.float64(), "DOUBLE", "List price in the workspace currency."),
        _c("colour", pa.string(), "VARCHAR", "Colour."),
        _c("style", pa.string(), "VARCHAR", "Style."),
        _c("material", pa.string(), "VARCHAR", "Material."),
        _c("attributes", pa.string(), "VARCHAR", "Other attributes as a JSON object."),
        _c("launched_at", UTC_TS, "TIMESTAMPTZ", "When the product went on sale, UTC."),
        _c("ingested_at", UTC_TS, "TIMESTAMPTZ", "When this row was stored."),
        _c("batch_id", pa.string(), "VARCHAR", "Ingest batch that stored this row."),
    ),
)

EVENTS = Table(
    name="events",
    key="event_id",
    doc=(
        "One row per behaviour event. Orders are one `order` event per order line sharing an "
        "order_id (quantity x price = line revenue); `payment` is one per order; returns and "
        "cancellations are `refund` events."
    ),
    columns=(
        _c(
            "event_id",
            pa.string(),
            "VARCHAR",
            "Unique id; when a source has none, a deterministic hash of the content.",
            required=True,
        ),
        _c("user_id", pa.string(), "VARCHAR", "Logged-in user, if known."),
        _c("anonymous_id", pa.string(), "VARCHAR", "Device/cookie id of the visitor, if known."),
        _c("ts", UTC_TS, "TIMESTAMPTZ", "When it happened, normalised to UTC.", required=True),
        _c("type", pa.string(), "VARCHAR", "Event type, one of EVENT_TYPES.", required=True),
        _c("product_id", pa.string(), "VARCHAR", "Product concerned."),
        _c("quantity", pa.int64(), "BIGINT", "Units (order, cart, refund)."),
        _c("price", pa.float64(), "DOUBLE", "Unit price paid, in the workspace currency."),
        _c("discount", pa.float64(), "DOUBLE", "Discount per unit given (coupon or promotion)."),
        _c("order_id", pa.string(), "VARCHAR", "Order (invoice) the event belongs to."),
        _c("query", pa.string(), "VARCHAR", "Search query text."),
        _c("channel", pa.string(), "VARCHAR", "Channel: web, app, email, sms, push, in_app, ..."),
        _c("device", pa.string(), "VARCHAR", "Device class: desktop, mobile, tablet."),
        _c("campaign_id", pa.string(), "VARCHAR", "Marketing campaign concerned."),
        _c("coupon_id", pa.string(), "VARCHAR", "Coupon concerned."),
        _c("rating", pa.int64(), "BIGINT", "Review rating, 1 to 5."),
        _c("text", pa.string(), "VARCHAR", "Review, question or answer text."),
        _c(
            "target_user_id",
            pa.string(),
            "VARCHAR",
            "The other person in a social event (invitee, followed user, share recipient).",
        ),
        _c("properties", pa.string(), "VARCHAR", "Any other fields, as a JSON object."),
        _c("ingested_at", UTC_TS, "TIMESTAMPTZ", "When this row was stored."),
        _c("batch_id", pa.string(), "VARCHAR", "Ingest batch that stored this row."),
    ),
)

CANONICAL: dict[str, Table] = {t.name: t for t in (USERS, PRODUCTS, EVENTS)}

# Columns set by the warehouse, never read from a source.
SYSTEM_COLUMNS = frozenset({"ingested_at", "batch_id", "phone_hash"})

# The column that holds unknown source fields as JSON, per kind.
OPEN_MAP_COLUMN = {"users": "attributes", "products": "attributes", "events": "properties"}


def source_columns(kind: str) -> list[Column]:
    """The columns a source file may provide for ``kind`` (everything but system columns)."""
    return [c for c in CANONICAL[kind].columns if c.name not in SYSTEM_COLUMNS]


def describe_markdown() -> str:
    """The data model as a Markdown document (used by ``portrait schema`` and docs/)."""
    lines = ["# Portrait canonical data model", ""]
    for table in CANONICAL.values():
        lines += [f"## `{table.name}`", "", table.doc, "", f"Key: `{table.key}`.", ""]
        lines += ["| column | type | PII | meaning |", "|---|---|---|---|"]
        for c in table.columns:
            req = " (required)" if c.required else ""
            pii = "yes" if c.pii else ""
            lines.append(f"| `{c.name}` | {c.sql_type}{req} | {pii} | {c.doc} |")
        lines.append("")
    lines += ["## Event types", "", "| type | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {doc} |" for name, doc in EVENT_TYPES.items()]
    lines.append("")
    return "\n".join(lines)
