"""docs/tags.md, its second half: every tag of a catalog by group, with its definition.

``portrait.tags.docs`` writes the guide and puts this after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from portrait.tags.catalog import Catalog, dependencies
from portrait.tags.conditions import describe
from portrait.tags.model import TagDef


def catalog_lines(catalog: Catalog, order: dict[str, int]) -> list[str]:
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
            "parameters: " + ", ".join(f"`{k}` = `{flow(v)}`" for k, v in tag.params.items())
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
        return f"`{key}` {op.replace('_', ' ')} `{flow(arg)}`"
    return f"`{key}` {_SYMBOLS[op]} `{flow(arg)}`"


def _definition_yaml(tag: TagDef) -> list[str]:
    """The tag's fact, rule or model block as compact YAML (one flow mapping per case)."""
    block = getattr(tag, tag.kind)
    body = block.model_dump(by_alias=True, exclude_none=True)
    if tag.fact is not None and tag.fact.agg != "top":
        body.pop("n", None)  # only top-N reads it
    cases = body.pop("cases", None)
    if cases is None:
        return [f"{tag.kind}: {flow(body)}"]
    lines = [f"{tag.kind}:", "  cases:"]
    lines += [f"    - {flow({'when': c['when'], 'then': c.get('then')})}" for c in cases]
    return lines + [f"  {k}: {flow(v)}" for k, v in body.items()]


def flow(value: Any) -> str:
    """``value`` as one line of YAML flow style."""
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10_000
    )
    return text.removesuffix("\n").removesuffix("\n...").strip()
