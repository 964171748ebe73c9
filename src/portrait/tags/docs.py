"""docs/tags.md, generated: how to write a tag file, then every built-in tag by group.

The lists in the guide (tag fields, event and user columns, aggregates, condition tests, formula
operators, rule forms) are read from the code that checks and compiles tags, so the page cannot
drift from it: a new aggregate or operator without a line of prose here fails the generator, and
``tests/tags/test_docs.py`` fails while docs/tags.md differs from what this module writes.

Regenerate with ``portrait tags docs --out docs/tags.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic.fields import FieldInfo

from portrait.config import CONFIG_FILE, ProfileSettings
from portrait.tags.catalog import (
    FIELDS_SECTION,
    YAML_LOADER,
    builtin_files,
    parse_catalog,
)
from portrait.tags.compile import ZERO_WHEN_EMPTY
from portrait.tags.conditions import COND_OPS
from portrait.tags.docs_catalog import catalog_lines, flow
from portrait.tags.docs_text import (
    AGGREGATES,
    CONDITION_TESTS,
    EXAMPLE,
    FIELD_DOCS,
    KINDS,
    OPERATOR_DOCS,
    RULE_FORMS,
    TYPES,
)
from portrait.tags.model import (
    AGG_TYPES,
    NEEDS_OF,
    OPERATORS,
    TAG_CLASSES,
    Aggregate,
    Case,
    FactDef,
    FactSource,
    GroupDef,
    Kind,
    ModelDef,
    RuleDef,
    TagBase,
    TagFile,
    ValueType,
)
from portrait.tags.sources import EVENT_FIELDS, USER_FIELDS

DOC_PATH = "docs/tags.md"
# Set by the loader, not written in a file.
_LOADER_FIELDS = {"group", "file"}


def tags_markdown(sources: Iterable[tuple[str, str]] | None = None) -> str:
    """docs/tags.md: the guide to writing tags, then the catalog of ``sources``.

    ``sources`` are (name, YAML text) pairs as :func:`parse_catalog` takes them; by default
    the built-in catalog.
    """
    sources = list(builtin_files() if sources is None else sources)
    catalog = parse_catalog(sources)
    lines = [
        "# Tag catalog",
        "",
        f"<!-- Generated from the catalog by `portrait tags docs --out {DOC_PATH}`; "
        "do not edit by hand. -->",
        "",
        f"Portrait ships {len(catalog)} tags in {len(catalog.groups)} groups. This page says "
        "how to write your own (the guide) and what every built-in tag means "
        "([built-in tags](#built-in-tags)).",
        "",
    ]
    lines += _guide()
    lines += catalog_lines(catalog, _source_order(sources))
    return "\n".join(lines).rstrip("\n") + "\n"


# --- the guide ------------------------------------------------------------------------------
def _guide() -> list[str]:
    tags_dir = ProfileSettings.model_fields["tags_dir"].default
    lines = [
        "## Writing a tag file",
        "",
        "A tag file is YAML: a level-1 `group`, optional level-2 `groups2` labels, and a list of "
        "`tags`. The built-in files live in `src/portrait/catalog/`. A workspace adds its own: "
        f"every `*.yaml` or `*.yml` file in its `{tags_dir}/` folder (set another folder with "
        f"`tags_dir` under `[profile]` in `{CONFIG_FILE}`) is loaded after the built-in files, "
        "and the whole catalog is checked together. A workspace tag may read built-in tags, "
        "needs an id of its own, and may reuse a built-in group id to join that group. "
        "`portrait tags list` shows the catalog a workspace sees; a file with a mistake is "
        "refused with a message naming the file, the tag and the fix.",
        "",
        "```yaml",
        EXAMPLE.rstrip("\n"),
        "```",
        "",
        "Each tag has a `kind`: "
        + "; ".join(f"`{k}`: {KINDS[k]}" for k in _checked(Kind, KINDS))
        + ". Its `type` is one of:",
        "",
        "| type | value |",
        "|---|---|",
        *(f"| `{t}` | {TYPES[t]} |" for t in _checked(ValueType, TYPES)),
        "",
        f"## {FIELDS_SECTION}",
        "",
        "Any other field is refused (a misspelt field would otherwise be ignored).",
        "",
    ]
    blocks: list[tuple[str, dict[str, FieldInfo], str]] = [
        ("In a file", TagFile.model_fields, ""),
        ("In `group`", GroupDef.model_fields, "group."),
        ("In a tag", _tag_fields(), ""),
        ("In `fact`", FactDef.model_fields, "fact."),
        ("In `rule`", RuleDef.model_fields, "rule."),
        ("In each of `rule.cases`", Case.model_fields, "cases[]."),
        ("In `model`", ModelDef.model_fields, "model."),
    ]
    fields = {
        title: {prefix + (info.alias or name): info for name, info in model_fields.items()}
        for title, model_fields, prefix in blocks
    }
    _checked_set([key for block in fields.values() for key in block], FIELD_DOCS)
    for title, block in fields.items():
        lines += [f"### {title}", "", "| field | required | meaning |", "|---|---|---|"]
        lines += [_field_row(key, info) for key, info in block.items()]
        lines.append("")
    return lines + _facts() + _conditions() + _rules()


def _tag_fields() -> dict[str, FieldInfo]:
    """The fields of a tag: the common ones, each kind's block before ``cross_check``."""
    common = {k: v for k, v in TagBase.model_fields.items() if k not in _LOADER_FIELDS}
    blocks = {kind: cls.model_fields[kind] for kind, cls in TAG_CLASSES.items()}
    order = [*list(common)[: list(common).index("cross_check")], *blocks, "cross_check"]
    return {name: {**common, **blocks}[name] for name in order}


def _field_row(key: str, info: Any) -> str:
    doc = FIELD_DOCS[key]
    if get_origin(info.annotation) is Literal:
        doc += " One of " + ", ".join(f"`{v}`" for v in get_args(info.annotation)) + "."
    required = f"with `kind: {key}`" if key in TAG_CLASSES else _required(info)
    return f"| `{key.rpartition('.')[2]}` | {required} | {doc} |"


def _facts() -> list[str]:
    sources = get_args(FactSource)
    lines = [
        "## Facts",
        "",
        "A fact aggregates one person's rows of a source: "
        + ", ".join(f"`from: {s}`" for s in sources)
        + ". Rows are filtered by `where` (see [conditions](#conditions)) and, over events, by "
        "the `window`. A fact over `users` reads one column of the person's own record with "
        "`agg: value`.",
        "",
        "### Aggregates",
        "",
        "| agg | needs `of` | gives type | value |",
        "|---|---|---|---|",
    ]
    for agg in _checked(Aggregate, AGGREGATES):
        types = ", ".join(f"`{t}`" for t in sorted(AGG_TYPES[agg]))
        empty = " 0 when no row matches." if agg in ZERO_WHEN_EMPTY else ""
        needs = "yes" if agg in NEEDS_OF else ""
        lines.append(f"| `{agg}` | {needs} | {types} | {AGGREGATES[agg]}{empty} |")
    lines.append("")
    lines.append("Other aggregates are empty (null) for a person with no matching row.")
    lines.append("")
    for source, fields in (("events", EVENT_FIELDS), ("users", USER_FIELDS)):
        lines += [
            f"### Columns of `{source}`",
            "",
            f"What `of`, `weight_of` and conditions of a fact `from: {source}` may name.",
            "",
            "| column | type |",
            "|---|---|",
            *(f"| `{name}` | {kind} |" for name, kind in fields.items()),
            "",
        ]
    return lines


def _conditions() -> list[str]:
    return [
        "## Conditions",
        "",
        "A condition (`where`, `share_where`, `when`, a score's `where`) is a mapping of column "
        "(in a fact) or tag (in a rule) to a test; all entries must hold. A test is a value "
        "(equals; `null` means is null), a list (one of) or a mapping of these operators, all "
        "of which must hold:",
        "",
        "| test | holds when the column |",
        "|---|---|",
        *(f"| `{op}` | {CONDITION_TESTS[op]} |" for op in _checked_set(COND_OPS, CONDITION_TESTS)),
        "",
        "`any: [cond, ...]` holds when one of the conditions does, `all: [cond, ...]` when every "
        "one does, `not: cond` when it does not. A comparison with an empty (null) value fails: "
        "`{x: {ne: 5}}` is false when `x` is empty, `not: {x: 5}` is true. Any value written "
        "`$name` is read from the tag's `params`, so thresholds live in the tag and show in "
        "its fingerprint. A rule cannot test a `top` tag, and a test on an `enum` tag may only "
        "name its `values`.",
        "",
        "```yaml",
        "where: {type: [order, refund], price: {gt: 0, le: $max_price}, "
        "not: {channel: {is_null: true}}}",
        "```",
        "",
    ]


def _rules() -> list[str]:
    lines = [
        "## Rules",
        "",
        "A rule computes a value from other tags of the same person (or, for `score`, from "
        "everyone's). It has exactly one of these forms:",
        "",
    ]
    forms = [f for f in RuleDef.model_fields if f != "otherwise"]  # else goes with cases
    for form in _checked_set(forms, RULE_FORMS):
        text, example = RULE_FORMS[form]
        lines += [f"### `{form}`", "", text, "", "```yaml", example, "```", ""]
    lines += [
        "### Formula operators",
        "",
        "A `compute` tree is a tag id, a number, `$param`, or `{operator: [arguments]}`:",
        "",
        "| operator | arguments | value |",
        "|---|---|---|",
    ]
    for op in _checked_set(OPERATORS, OPERATOR_DOCS):
        arity = OPERATORS[op]
        lines.append(f"| `{op}` | {'one or more' if arity is None else arity} | "
                     f"{OPERATOR_DOCS[op]} |")  # fmt: skip
    lines += [
        "",
        "## Models",
        "",
        "A model tag (`model: {model: <name>}`) is filled from the `model_scores` table "
        "(person, tag, value as text) that a trained model writes; a build casts the value to "
        "the tag's type. Until the model has scored a person, the tag is empty for them. "
        "A `top` model tag (e.g. categories with their purchase probabilities) is written as "
        "one row per key and per weight, tagged `<tag>__k0`, `<tag>__w0`, `<tag>__k1`, ...",
        "",
    ]
    return lines


# --- helpers --------------------------------------------------------------------------------
def _required(info: Any) -> str:
    if info.is_required():
        return "yes"
    default = info.get_default(call_default_factory=True)
    return "no" if default in (None, {}, []) else f"no (default `{flow(default)}`)"


def _checked(literal: Any, docs: Mapping[str, str]) -> list[str]:
    """The values of a ``Literal`` type, each of which must have a line of prose."""
    return _checked_set(list(get_args(literal)), docs)


def _checked_set(names: Iterable[str], docs: Mapping[str, Any]) -> list[str]:
    """``names`` in the order of ``docs``, which must explain each of them and no other."""
    names = list(names)
    missing = [n for n in names if n not in docs]
    stale = sorted(set(docs) - set(names))
    if missing or stale:
        raise RuntimeError(
            f"{DOC_PATH}: portrait/tags/docs_text.py is out of step with the code: "
            f"no text for {missing}, text for unknown {stale}"
        )
    return [n for n in docs if n in names]


def _source_order(sources: list[tuple[str, str]]) -> dict[str, int]:
    """Tag id -> position in the files (the catalog itself is in dependency order)."""
    ids: list[str] = []
    for _, text in sources:
        data = yaml.load(text, Loader=YAML_LOADER)
        ids += [t.get("id") for t in data.get("tags") or [] if isinstance(t, dict)]
    return {tag_id: i for i, tag_id in enumerate(ids)}
