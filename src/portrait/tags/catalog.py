"""Load the tag catalog: the built-in YAML files plus a workspace's own, checked as a whole.

Every problem is a ``TagCatalogError`` naming the file, the tag and the fix: a field that is
not allowed, a column the source does not have, a tag that does not exist, a ``$param`` that is
not declared, a value an enum does not allow, or a cycle between rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from portrait.tags.checks import reference_problem
from portrait.tags.model import KINDS, TAG_ADAPTER, GroupDef, TagDef, TagFile, dependencies

__all__ = [
    "Catalog",
    "TagCatalogError",
    "builtin_files",
    "dependencies",
    "layers",
    "load_catalog",
    "parse_catalog",
]
BUILTIN_PACKAGE = "portrait.catalog"
# libyaml parses the catalog about ten times faster; its errors still give line and column.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The section of docs/tags.md (portrait.tags.docs) that lists every field a tag file may use.
FIELDS_SECTION = "Tag fields"


_KIND_ERRORS = ("union_tag_not_found", "union_tag_invalid")


class TagCatalogError(ValueError):
    """A tag file is wrong; the message names the file, the tag and the fix."""


@dataclass
class Catalog:
    """The tags in dependency order, with their level-1 and level-2 groups."""

    tags: list[TagDef]
    groups: dict[str, GroupDef]
    groups2: dict[str, dict[str, str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_id = {t.id: t for t in self.tags}

    def __len__(self) -> int:
        return len(self.tags)

    def __iter__(self) -> Iterator[TagDef]:
        return iter(self.tags)

    def __contains__(self, tag_id: object) -> bool:
        return tag_id in self.by_id

    def get(self, tag_id: str) -> TagDef:
        try:
            return self.by_id[tag_id]
        except KeyError:
            raise KeyError(f"no tag {tag_id!r}; `portrait tags list` shows the catalog") from None

    @property
    def fingerprint(self) -> str:
        text = ",".join(f"{t.id}:{t.fingerprint}" for t in sorted(self.tags, key=lambda t: t.id))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def builtin_files() -> list[tuple[str, str]]:
    """(name, text) of the tag files shipped inside the package."""
    root = resources.files(BUILTIN_PACKAGE)
    return sorted(
        (f"builtin:{p.name}", p.read_text(encoding="utf-8"))
        for p in root.iterdir()
        if p.name.endswith((".yaml", ".yml"))
    )


def load_catalog(extra_dir: Path | None = None, *, builtin: bool = True) -> Catalog:
    """The built-in catalog plus every ``*.yaml`` in ``extra_dir`` (a workspace's tags)."""
    sources = builtin_files() if builtin else []
    if extra_dir is not None and extra_dir.is_dir():
        for p in sorted([*extra_dir.glob("*.yaml"), *extra_dir.glob("*.yml")]):
            sources.append((str(p), p.read_text(encoding="utf-8")))
    return parse_catalog(sources)


def parse_catalog(sources: Iterable[tuple[str, str]]) -> Catalog:
    """Parse and check tag files given as (name, YAML text)."""
    tags: list[TagDef] = []
    groups: dict[str, GroupDef] = {}
    groups2: dict[str, dict[str, str]] = {}
    seen: dict[str, str] = {}
    files = []
    for name, text in sources:
        files.append(name)
        tag_file = _parse_file(name, text)
        groups.setdefault(tag_file.group.id, tag_file.group)
        groups2.update(tag_file.groups2)
        for i, raw in enumerate(tag_file.tags):
            tag = _parse_tag(name, i, raw, tag_file.group.id)
            if tag.id in seen:
                raise TagCatalogError(
                    f"{name}: tag {tag.id!r} is already defined in {seen[tag.id]}; "
                    "give one of them another id"
                )
            seen[tag.id] = name
            tags.append(tag)
    by_id = {t.id: t for t in tags}
    for tag in tags:
        _check_references(tag, by_id)
    return Catalog(tags=_dependency_order(tags, by_id), groups=groups, groups2=groups2, files=files)


def _parse_file(name: str, text: str) -> TagFile:
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as e:
        raise TagCatalogError(f"{name}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise TagCatalogError(f"{name}: expected a mapping with `group:` and `tags:` at the top")
    try:
        return TagFile.model_validate(data)
    except ValidationError as e:
        raise TagCatalogError(f"{name}: {_problems(e)}") from e


def _parse_tag(name: str, index: int, raw: dict[str, Any], group: str) -> TagDef:
    label = raw.get("id", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
    if not isinstance(raw, dict):
        raise TagCatalogError(f"{name}: tag {label}: expected a mapping of fields")
    try:
        return TAG_ADAPTER.validate_python({"group": group, **raw, "file": name})
    except ValidationError as e:
        raise TagCatalogError(f"{name}: tag {label!r}: {_problems(e, union=True)}") from e


def _problems(e: ValidationError, union: bool = False) -> str:
    """The errors as ``field: message``; ``union``: the first part of each location is the
    tag's kind (which class of the union checked it), not a field."""
    out = []
    for err in e.errors():
        loc = err["loc"][1:] if union and err["type"] not in _KIND_ERRORS else err["loc"]
        where = ".".join(str(p) for p in loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in _KIND_ERRORS:
            where, msg = "kind", f"is {' or '.join(KINDS)} (how the value is made)"
        if err["type"] == "extra_forbidden":
            msg = (
                "is not a known field (check the spelling; docs/tags.md lists them under "
                f'"{FIELDS_SECTION}")'
            )
        out.append(f"{where}: {msg}" if where else msg)
    return "; ".join(out)


def _check_references(tag: TagDef, by_id: dict[str, TagDef]) -> None:
    problem = reference_problem(tag, by_id)
    if problem is not None:
        raise TagCatalogError(f"{tag.file}: tag {tag.id!r}: {problem}")


def _dependency_order(tags: list[TagDef], by_id: dict[str, TagDef]) -> list[TagDef]:
    """Tags ordered so that every rule comes after what it reads; a cycle is an error."""
    order: list[TagDef] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(tag: TagDef, path: list[str]) -> None:
        if state.get(tag.id) == 2:
            return
        if state.get(tag.id) == 1:
            cycle = " -> ".join([*path[path.index(tag.id) :], tag.id])
            raise TagCatalogError(
                f"{tag.file}: tag {tag.id!r} is part of a cycle ({cycle}); "
                "a rule cannot depend on itself, directly or through other rules"
            )
        state[tag.id] = 1
        for dep in sorted(dependencies(tag)):
            visit(by_id[dep], [*path, tag.id])
        state[tag.id] = 2
        order.append(tag)

    for tag in tags:
        visit(tag, [])
    return order


def layers(catalog: Catalog) -> list[list[TagDef]]:
    """Rules grouped so that each group reads only tags of earlier groups (or facts)."""
    depth: dict[str, int] = {}
    for tag in catalog.tags:
        deps = dependencies(tag)
        depth[tag.id] = 0 if tag.rule is None else 1 + max((depth[d] for d in deps), default=0)
    out: list[list[TagDef]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for tag in catalog.tags:
        out[depth[tag.id]].append(tag)
    return out
