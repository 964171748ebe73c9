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
    Catalog,
    builtin_files,
    dependencies,
    parse_catalog,
)
from portrait.tags.compile import ZERO_WHEN_EMPTY
from portrait.tags.conditions import COND_OPS, describe
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
    TagDef,
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
    lines += _catalog(catalog, _source_order(sources))
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


# --- the catalog ----------------------------------------------------------------------------
def _catalog(catalog: Catalog, order: dict[str, int]) -> list[str]:
    by_group: dict[str, list[TagDef]] = {g: [] for g in catalog.groups}
    for tag in sorted(catalog, key=lambda t: order.get(t.id, len(order))):
        by_group[tag.group].append(tag)
    lines = [
        "## Built-in tags",
        "",
        "| group | id | tags |",
        "|---|---|---|",
        *(
            f"| [{g.zh} / {g.en}](#group-{g.id}) | `{g.id}` | {len(by_group[g.id])} |"
            for g in catalog.groups.values()
        ),
        "",
        "Each tag shows its kind, type, window and refresh, its parameters with their "
        "defaults, the tags it reads, and its definition in compact YAML.",
        "",
    ]
    for group in catalog.groups.values():
        tags = by_group[group.id]
        lines += [
            f'<a id="group-{group.id}"></a>',
            "",
            f"## {group.zh} / {group.en}",
            "",
            f"Group `{group.id}`, {len(tags)} tags.",
            "",
        ]
        for sub in _level2(tags, catalog.groups2):
            sub_tags = [t for t in tags if t.group2 == sub]
            if sub is not None or len(sub_tags) < len(tags):
                labels = catalog.groups2.get(sub or "", {})
                title = f"{labels['zh']} / {labels['en']}" if labels else (sub or "Other")
                lines += [f"### {title}", ""]
                lines += [f"Level-2 group `{sub}`.", ""] if sub else []
            for tag in sub_tags:
                lines += _tag(tag)
    return lines


def _level2(tags: list[TagDef], declared: Mapping[str, Any]) -> list[str | None]:
    """The level-2 groups of ``tags``: declared ones in file order, then the rest, then none."""
    used = [t.group2 for t in tags]
    out: list[str | None] = [g for g in declared if g in used]
    out += [g for g in dict.fromkeys(used) if g is not None and g not in out]
    return [*out, None] if None in used else out


def _tag(tag: TagDef) -> list[str]:
    facts = [f"`{tag.kind}`", _type(tag)]
    if tag.window:
        facts.append(f"window {tag.window}")
    facts.append(f"refresh {tag.refresh}")
    if tag.pii:
        facts.append("**PII**")
    lines = [
        f"#### `{tag.id}`",
        "",
        f"**{tag.zh}** / {tag.en} · " + " · ".join(facts),
        "",
        " ".join(tag.description.split()),
        "",
    ]
    notes = []
    if tag.params:
        notes.append(
            "parameters: " + ", ".join(f"`{k}` = `{_flow(v)}`" for k, v in tag.params.items())
        )
    deps = sorted(dependencies(tag))
    if deps:
        notes.append("reads: " + ", ".join(f"[`{d}`](#{d})" for d in deps))
    if tag.fact is not None:
        notes.append(f"value: {_fact_text(tag)}")
    if tag.model is not None:
        notes.append(f"filled by the `{tag.model.model}` model, from `model_scores`")
    if tag.cross_check:
        notes.append(f"cross-checked against [`{tag.cross_check}`](#{tag.cross_check})")
    if notes:
        lines += [*(f"- {n}" for n in notes), ""]
    return [*lines, "```yaml", *_definition_yaml(tag), "```", ""]


def _type(tag: TagDef) -> str:
    if tag.type == "enum":
        return "`enum` (" + ", ".join(f"`{v}`" for v in tag.values or []) + ")"
    if tag.type == "top" and tag.fact is not None:
        return f"`top` ({tag.fact.n} keys with their shares)"
    if tag.type == "top":
        return f"`top` ({tag.top_n} keys with their weights)"
    return f"`{tag.type}`"


def _fact_text(tag: TagDef) -> str:
    f = tag.fact
    assert f is not None
    if f.source == "users":
        return f"the user record's `{f.of}`"
    text = f"`{f.agg}`" + (f" of `{f.of}`" if f.of else "")
    if f.weight_of:
        text += f" weighted by `{f.weight_of}`"
    text += f" over {f.source}"
    if f.where:
        text += f" where {_condition_text(f.where)}"
    if tag.window_days:
        text += f", last {tag.window_days} days"
    if f.share_where:
        text += f"; the share of them where {_condition_text(f.share_where)}"
    return text


_SYMBOLS = {"eq": "=", "ne": "≠", "gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


def _condition_text(cond: Any) -> str:
    return describe(cond, lambda leaf: _test_text(leaf.column, leaf.op, leaf.value))


def _test_text(key: str, op: str, arg: Any) -> str:
    if op == "is_null":
        return f"`{key}` is {'' if arg else 'not '}null"
    if op in ("in", "not_in"):
        return f"`{key}` {op.replace('_', ' ')} `{_flow(arg)}`"
    return f"`{key}` {_SYMBOLS[op]} `{_flow(arg)}`"


def _definition_yaml(tag: TagDef) -> list[str]:
    """The tag's fact, rule or model block as compact YAML (one flow mapping per case)."""
    block = getattr(tag, tag.kind)
    body = block.model_dump(by_alias=True, exclude_none=True)
    if tag.fact is not None and tag.fact.agg != "top":
        body.pop("n", None)  # only top-N reads it
    cases = body.pop("cases", None)
    if cases is None:
        return [f"{tag.kind}: {_flow(body)}"]
    lines = [f"{tag.kind}:", "  cases:"]
    lines += [f"    - {_flow({'when': c['when'], 'then': c.get('then')})}" for c in cases]
    return lines + [f"  {k}: {_flow(v)}" for k, v in body.items()]


# --- helpers --------------------------------------------------------------------------------
def _flow(value: Any) -> str:
    """``value`` as one line of YAML flow style."""
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10_000
    )
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _required(info: Any) -> str:
    if info.is_required():
        return "yes"
    default = info.get_default(call_default_factory=True)
    return "no" if default in (None, {}, []) else f"no (default `{_flow(default)}`)"


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
