"""Canonical tables and event types."""

from portrait.schema.event_types import EVENT_TYPES, IDENTIFYING_TYPES, REQUIRED_BY_TYPE
from portrait.schema.tables import (
    CANONICAL,
    EVENTS,
    OPEN_MAP_COLUMN,
    PRODUCTS,
    USERS,
    Column,
    Table,
    describe_markdown,
    source_columns,
)

__all__ = [
    "CANONICAL",
    "EVENTS",
    "EVENT_TYPES",
    "IDENTIFYING_TYPES",
    "OPEN_MAP_COLUMN",
    "PRODUCTS",
    "REQUIRED_BY_TYPE",
    "USERS",
    "Column",
    "Table",
    "describe_markdown",
    "source_columns",
]
