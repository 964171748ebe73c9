"""Warehouse tables of segments (migration 3, brought to this layout by migration 8):
definitions, membership snapshots, bitmap index.

Persons get dense integer ids (``segment_person_ids``) that stay the same from build to build,
new persons taking the next ids, so that the membership bitmaps of two builds compare directly
(who joined, who left). Each build's index is keyed by its ``build_id`` and dropped with its
snapshot; memberships are kept for the history.

Rows holding large BLOBs are fetched by a one-column primary key (``tag_key``, ``bitmap_key``,
``member_key``), and those BLOBs are stored uncompressed: DuckDB compresses large BLOBs with
zstd a whole vector of rows at a time, so fetching one bitmap meant decompressing its
neighbours too (125 ms for five bitmaps of a 100 MB index at 10M persons, 1 ms uncompressed).
Serialised roaring bitmaps are compact already.
"""

from __future__ import annotations

SEGMENT_MEMBERS_SQL = """CREATE TABLE IF NOT EXISTS segment_members (
  member_key VARCHAR PRIMARY KEY,   -- name/build_id
  name VARCHAR NOT NULL,
  build_id VARCHAR NOT NULL,
  as_of DATE NOT NULL,
  size BIGINT NOT NULL,
  path VARCHAR NOT NULL,            -- bitmap, bitmap+warehouse or warehouse
  normalized VARCHAR NOT NULL,      -- the definition evaluated
  bitmap BLOB USING COMPRESSION uncompressed NOT NULL,  -- the members' dense ids
  evaluated_at TIMESTAMPTZ NOT NULL
)"""

SEGMENT_TABLES_SQL: list[str] = [
    """CREATE TABLE IF NOT EXISTS segments (
  name VARCHAR PRIMARY KEY,
  expression VARCHAR NOT NULL,      -- as written
  normalized VARCHAR NOT NULL,      -- as checked: NOT pushed down, BETWEEN spelt out
  description VARCHAR,
  builtin BOOLEAN NOT NULL,         -- shipped with Portrait (not deletable)
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS segment_person_ids (
  person_id VARCHAR NOT NULL,
  pid UINTEGER NOT NULL             -- dense id used in every bitmap; never reused
)""",
    """CREATE TABLE IF NOT EXISTS segment_index_builds (
  build_id VARCHAR PRIMARY KEY,     -- the profile build (tag_builds) indexed
  snapshot VARCHAR NOT NULL,
  persons BIGINT NOT NULL,
  -- bitmap of the persons of the snapshot
  universe BLOB USING COMPRESSION uncompressed NOT NULL,
  tags INTEGER NOT NULL,            -- tags indexed
  skipped VARCHAR NOT NULL,         -- JSON {tag: reason} of tags left to the warehouse
  bytes BIGINT NOT NULL,            -- serialized size of all bitmaps
  seconds DOUBLE NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS segment_index_tags (
  tag_key VARCHAR PRIMARY KEY,      -- build_id/tag_id
  build_id VARCHAR NOT NULL,
  tag_id VARCHAR NOT NULL,
  value_type VARCHAR NOT NULL,
  encoding VARCHAR NOT NULL,        -- values (a bitmap per value/key) or stepped (numbers)
  distinct_values BIGINT NOT NULL,
  non_null BIGINT NOT NULL,
  -- bitmap of the persons with a value
  present BLOB USING COMPRESSION uncompressed NOT NULL,
  -- stepped: the sorted distinct values (numpy bytes)
  dictionary BLOB USING COMPRESSION uncompressed,
  dtype VARCHAR,                    -- stepped: numpy dtype of the dictionary
  codes BLOB USING COMPRESSION uncompressed,  -- stepped: the persons' ranks in the
                                    -- dictionary, fine bucket after fine bucket
  codes_dtype VARCHAR               -- stepped: numpy dtype of the codes
)""",
    """CREATE TABLE IF NOT EXISTS segment_index_bitmaps (
  bitmap_key VARCHAR PRIMARY KEY,   -- build_id/tag_id/part/key
  build_id VARCHAR NOT NULL,
  tag_id VARCHAR NOT NULL,
  part VARCHAR NOT NULL,            -- value (key = the value or list key); step (key = a
                                    -- code: the persons with a code up to it, cumulative);
                                    -- fine (key = the highest code of a fine bucket: its
                                    -- persons, from the code after the previous fine key)
  key VARCHAR NOT NULL,
  cardinality BIGINT NOT NULL,
  bitmap BLOB USING COMPRESSION uncompressed NOT NULL
)""",
    SEGMENT_MEMBERS_SQL,
]

INDEX_TABLES = ("segment_index_builds", "segment_index_tags", "segment_index_bitmaps")

# Migration 8: any earlier layout of the segment tables (the first release's: no one-column
# keys, compressed BLOBs, a bit-sliced numeric index; or keys but compressed BLOBs), or none at
# all (a warehouse whose migration 3 had no tables yet), to the layout above. The index is
# derived data: dropped, and made again by the next build or count. Memberships (the history)
# are copied over; their key is name/build_id in every layout. Definitions and dense ids never
# changed shape. Every statement works whatever layout it finds: nothing inspects the tables.
SEGMENT_LAYOUT_SQL: list[str] = [
    *(f"DROP TABLE IF EXISTS {table}" for table in INDEX_TABLES),
    SEGMENT_MEMBERS_SQL,  # so that the next statement finds one
    "ALTER TABLE segment_members RENAME TO _segment_members_old",
    *SEGMENT_TABLES_SQL,
    "INSERT INTO segment_members SELECT name || '/' || build_id, name, build_id, as_of, size, "
    "path, normalized, bitmap, evaluated_at FROM _segment_members_old",
    "DROP TABLE _segment_members_old",
]
