"""CLI output that scripts and narrow terminals can rely on: unwrapped lines, fitted tables."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from portrait.cli import app
from portrait.cli.common import Column, fitted_table

runner = CliRunner()


def render(table, width: int) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text().splitlines()


def test_a_wide_table_leaves_out_its_least_needed_columns_at_80_columns():
    columns = [Column("name", priority=9), *(Column(f"metric_{i}", priority=i) for i in range(8))]
    rows = [["a-campaign", *(f"{i * 1000:,}" for i in range(8))]]
    lines = render(fitted_table("report", columns, rows, width=80), 80)
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if "name" in line)
    assert "metric_7" in header and "metric_0" not in header  # the lowest priority went first
    assert any("not shown at this width: metric_0" in line for line in lines)


def test_every_column_is_shown_when_there_is_room():
    columns = [Column("name"), Column("count", justify="right")]
    lines = render(fitted_table(None, columns, [["x", "1"]], width=200), 200)
    assert "count" in lines[1] and not any("not shown" in line for line in lines)


def test_an_error_with_a_200_character_path_is_one_line(tmp_path: Path):
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    missing = tmp_path / ("x" * 120) / ("y" * 80) / "nope.csv"
    assert len(str(missing)) > 200
    result = runner.invoke(app, ["ingest", str(missing), "-w", str(ws)])
    assert result.exit_code == 2
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line == f"error: {missing}: no such file"


def test_a_plain_line_with_a_long_path_is_not_wrapped(tmp_path: Path):
    ws = tmp_path / ("w" * 150)
    result = runner.invoke(app, ["init", str(ws)])
    assert result.exit_code == 0
    assert f"Workspace ready at {ws}" in result.stdout.splitlines()[0]
