"""Load the tag catalog: the built-in YAML files plus a workspace's own, checked as a whole.

Every problem is a ``TagCatalogError`` naming the file, the tag and the fix: a field that is
not allowed, a column the source does not have, a tag that does not exist, a ``$param`` that is
not declared, a value an enum does not allow, or a cycle between rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from portrait.tags.model import COND_OPS, OPERATORS, GroupDef, TagDef, TagFile
from portrait.tags.sources import EVENT_FIELDS, USER_FIELDS

BUILTIN_PACKAGE = "portrait.catalog"
# libyaml parses the catalog about ten times faster; its errors still give line and column.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The section of docs/tags.md (portrait.tags.docs) that lists every field a tag file may use.
FIELDS_SECTION = "Tag fields"


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
        import hashlib

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
        return TagDef.model_validate({"group": group, **raw, "file": name})
    except ValidationError as e:
        raise TagCatalogError(f"{name}: tag {label!r}: {_problems(e)}") from e


def _problems(e: ValidationError) -> str:
    out = []
    for err in e.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = (
                "is not a known field (check the spelling; docs/tags.md lists them under "
                f'"{FIELDS_SECTION}")'
            )
        out.append(f"{where}: {msg}" if where else msg)
    return "; ".join(out)


# --- cross-references -----------------------------------------------------------------------
def dependencies(tag: TagDef) -> set[str]:
    """The other tags a rule reads."""
    if tag.rule is None:
        return set()
    deps: set[str] = set()
    r = tag.rule
    if r.cases is not None:
        for case in r.cases:
            deps |= _condition_names(case.when)
    if r.compute is not None:
        deps |= _compute_names(r.compute)
    for block in (r.band, r.score):
        if block is not None:
            deps.add(block["of"])
    if r.score is not None and r.score.get("where"):
        deps |= _condition_names(r.score["where"])
    return deps


def _condition_names(cond: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for key, test in cond.items():
        if key in ("any", "all"):
            for sub in test:
                names |= _condition_names(sub)
        elif key == "not":
            names |= _condition_names(test)
        else:
            names.add(key)
    return names


def _compute_names(node: Any) -> set[str]:
    if isinstance(node, str):
        return set() if node.startswith("$") else {node}
    if isinstance(node, dict):
        out: set[str] = set()
        for args in node.values():
            for a in args if isinstance(args, list) else [args]:
                out |= _compute_names(a)
        return out
    return set()


def _check_references(tag: TagDef, by_id: dict[str, TagDef]) -> None:
    where = f"{tag.file}: tag {tag.id!r}"

    def fail(msg: str) -> None:
        raise TagCatalogError(f"{where}: {msg}")

    def param(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            if value[1:] not in tag.params:
                fail(f"{value} is not in `params`; add `params: {{{value[1:]}: ...}}`")
            return tag.params[value[1:]]
        return value

    def check_condition(cond: dict[str, Any], columns: dict[str, str] | None) -> None:
        if not isinstance(cond, dict) or not cond:
            fail(f"a condition must be a non-empty mapping, got {cond!r}")
        for key, test in cond.items():
            if key in ("any", "all"):
                if not isinstance(test, list) or not test:
                    fail(f"`{key}` takes a list of conditions")
                for sub in test:
                    check_condition(sub, columns)
                continue
            if key == "not":
                check_condition(test, columns)
                continue
            if columns is not None and key not in columns:
                known = ", ".join(sorted(columns))
                fail(f"condition on unknown column {key!r}; columns are: {known}")
            if columns is None:
                if key not in by_id:
                    fail(f"condition on unknown tag {key!r}; define it or fix the name")
                target = by_id[key]
                if target.type == "top":
                    fail(f"tag {key!r} is a top-N list and cannot be compared")
            if isinstance(test, dict):
                bad = set(test) - COND_OPS
                if bad:
                    fail(f"unknown test {sorted(bad)} on {key!r}; use {sorted(COND_OPS)}")
                values = [param(v) for v in test.values()]
            else:
                values = [param(test)]
            if columns is None and by_id[key].type == "enum":
                allowed = set(by_id[key].values or [])
                for v in values:
                    for item in v if isinstance(v, list) else [v]:
                        if isinstance(item, str) and item not in allowed:
                            fail(f"{key!r} never takes {item!r}; it takes {sorted(allowed)}")

    def check_compute(node: Any) -> None:
        if isinstance(node, str):
            if node.startswith("$"):
                param(node)
            elif node not in by_id:
                fail(f"formula reads unknown tag {node!r}")
            return
        if isinstance(node, dict):
            if len(node) != 1:
                fail(f"a formula node has one operator, got {sorted(node)}")
            op, args = next(iter(node.items()))
            if op not in OPERATORS:
                fail(f"unknown operator {op!r}; use one of {sorted(OPERATORS)}")
            args = args if isinstance(args, list) else [args]
            arity = OPERATORS[op]
            if arity is not None and len(args) != arity:
                fail(f"{op} takes {arity} argument(s), got {len(args)}")
            for a in args:
                check_compute(a)
            return
        if not isinstance(node, (int, float, bool)):
            fail(f"a formula leaf is a tag, a number or $param, got {node!r}")

    if tag.fact is not None:
        columns = EVENT_FIELDS if tag.fact.source == "events" else USER_FIELDS
        for col in (tag.fact.of, tag.fact.weight_of):
            if col is not None and col not in columns:
                known = ", ".join(sorted(columns))
                fail(f"{tag.fact.source} have no column {col!r}; columns are: {known}")
        for cond in (tag.fact.where, tag.fact.share_where):
            if cond is not None:
                check_condition(cond, columns)
    if tag.rule is not None:
        r = tag.rule
        for dep in dependencies(tag):
            if dep not in by_id:
                fail(f"reads unknown tag {dep!r}; define it or fix the name")
        if r.cases is not None:
            for case in r.cases:
                check_condition(case.when, None)
                _check_output(tag, param(case.then), fail)
            _check_output(tag, param(r.otherwise), fail)
        if r.compute is not None:
            check_compute(r.compute)
        if r.score is not None and r.score.get("where") is not None:
            check_condition(r.score["where"], None)
        if r.band is not None:
            labels = param(r.band["labels"])
            edges = param(r.band["edges"])
            if len(labels) != len(edges) + 1:
                fail(f"band has {len(edges)} edges and needs {len(edges) + 1} labels")
            for lab in labels:
                _check_output(tag, lab, fail)
    if tag.cross_check is not None and tag.cross_check not in by_id:
        fail(f"cross_check names unknown tag {tag.cross_check!r}")


def _check_output(tag: TagDef, value: Any, fail: Any) -> None:
    if value is None:
        return
    if tag.type == "enum" and value not in (tag.values or []):
        fail(f"value {value!r} is not among its `values` {tag.values}")
    if tag.type == "bool" and not isinstance(value, bool):
        fail(f"a bool tag yields true or false, not {value!r}")


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
