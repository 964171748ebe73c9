"""The tag engine: a declarative catalog of tags compiled to Ibis expressions and built into
profiles on DuckDB or Spark."""
