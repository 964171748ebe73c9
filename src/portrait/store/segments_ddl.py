"""Warehouse tables of segments (migration 3): definitions, membership snapshots, bitmap index."""

from __future__ import annotations

SEGMENT_TABLES_SQL: list[str] = []
