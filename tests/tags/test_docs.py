"""docs/tags.md: generated from the catalog, in step with it, and its links and example hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from portrait.cli import app
from portrait.tags.catalog import TagCatalogError, builtin_files, load_catalog, parse_catalog
from portrait.tags.docs import tags_markdown
from portrait.tags.docs_text import EXAMPLE

DOC = Path(__file__).parents[2] / "docs" / "tags.md"


@pytest.fixture(scope="module")
def page() -> str:
    return tags_markdown()


def test_docs_match_the_catalog(page: str) -> None:
    assert DOC.read_text(encoding="utf-8") == page, (
        "docs/tags.md is stale: regenerate it with `portrait tags docs --out docs/tags.md`"
    )


def test_every_tag_has_a_section(page: str) -> None:
    headings = set(re.findall(r"^#### `(\w+)`$", page, flags=re.M))
    assert headings == {t.id for t in load_catalog()}


def test_every_link_on_the_page_has_a_target(page: str) -> None:
    targets = set(re.findall(r'<a id="([^"]+)"></a>', page))
    for heading in re.findall(r"^#+ (.+)$", page, flags=re.M):
        # GitHub's anchor: lower case, punctuation dropped, spaces to hyphens
        targets.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    links = set(re.findall(r"\]\(#([^)]+)\)", page))
    assert links and links <= targets, sorted(links - targets)


def test_the_example_tag_file_loads_with_the_builtin_catalog() -> None:
    sources = [*builtin_files(), ("workspace/tags/custom.yaml", EXAMPLE)]
    catalog = parse_catalog(sources)
    example_ids = [t["id"] for t in yaml.safe_load(EXAMPLE)["tags"]]
    assert all(catalog.get(i).group == "custom" for i in example_ids)
    page = tags_markdown(sources)
    assert all(f"#### `{i}`" in page for i in example_ids)


def test_unknown_field_errors_name_a_section_of_the_page(page: str) -> None:
    text = EXAMPLE.replace("    window: 90d\n", "    windw: 90d\n", 1)
    with pytest.raises(TagCatalogError, match="windw: is not a known field") as info:
        parse_catalog([("custom.yaml", text)])
    assert "docs/tags.md" in str(info.value)
    (section,) = re.findall(r'"([^"]+)"', str(info.value))
    assert f"\n## {section}\n" in page


def test_cli_prints_or_writes_the_page(page: str, tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["tags", "docs"])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == page
    target = tmp_path / "tags.md"
    written = runner.invoke(app, ["tags", "docs", "--out", str(target)])
    assert written.exit_code == 0, written.output
    assert target.read_text(encoding="utf-8") == page
