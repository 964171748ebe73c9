"""The figures issue 16 asks for, from the source tree alone (no install needed).

    python scripts/structure_report.py [--json]

- untyped public results: public functions and methods whose return annotation is a bare
  ``dict``/``list[dict]``/``Any`` (the services and the facade are counted apart);
- SQL call sites outside ``store/``: calls of ``execute``/``execute_local``/``sql``/``query``/
  ``fetch*`` on a warehouse or connection, and uses of ``.con`` / ``.lock`` (the modules that
  parse source files on a private in-memory DuckDB, ``FILE_PARSERS``, are not counted);
- modules over 400 lines;
- import cycles: strongly connected components of the module import graph (imports inside
  functions included, ``TYPE_CHECKING`` blocks excluded).
"""

from __future__ import annotations

import ast
import json
import sys
from collections import defaultdict
from collections.abc import Container
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "portrait"
SQL_METHODS = {
    "execute",
    "execute_local",
    "sql",
    "query",
    "fetchall",
    "fetchone",
    "fetch_arrow",
    "fetchdf",
}
SERVICE_FILES = ("service.py", "workspace.py")
# Modules that parse source files with a private in-memory DuckDB (never the warehouse: they
# must not mention it, which tests/test_architecture.py checks). Their SQL is file parsing.
FILE_PARSERS = frozenset(
    {
        "datasets/base.py",
        "datasets/cdnow.py",
        "datasets/online_retail.py",
        "datasets/reviews_zh.py",
        "datasets/ta_feng.py",
        "datasets/simulator/response.py",
        "ingest/readers.py",
        "recs/evaluation/data.py",
    }
)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def untyped(ann: ast.expr | None) -> bool:
    if ann is None:
        return False
    text = ast.unparse(ann)
    return text in {"dict", "Any", "list[dict]"} or text.startswith(
        ("dict[", "list[dict", "Dict[", "List[Dict")
    )


def is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(tree: ast.Module, mod: str, is_pkg: bool, modules: Container[str]) -> set[str]:
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                out.update(a.name for a in child.names if a.name.startswith("portrait"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("portrait"):
                    # `from pkg import sub` imports the submodule, not the package's body
                    subs = {f"{target}.{a.name}" for a in child.names}
                    found = {m for m in subs if m in modules}
                    out.update(found)
                    if len(found) < len(subs):
                        out.add(target)
            visit(child)

    visit(tree)
    return out


def sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def report() -> dict:
    files = sorted(p for p in ROOT.rglob("*.py"))
    modules = {module_name(p): p for p in files}
    untyped_all: list[str] = []
    untyped_services: list[str] = []
    sql_sites: list[str] = []
    big: list[tuple[str, int]] = []
    graph: dict[str, set[str]] = defaultdict(set)
    for path in files:
        mod = module_name(path)
        text = path.read_text()
        lines = text.count("\n")
        if lines > 400:
            big.append((mod, lines))
        tree = ast.parse(text)
        rel = path.relative_to(ROOT).as_posix()
        in_store = rel.startswith("store/") or rel in FILE_PARSERS
        for node in ast.walk(tree):
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and not node.name.startswith("_")
                and untyped(node.returns)
            ):
                where = f"{rel}:{node.lineno} {node.name}"
                untyped_all.append(where)
                if path.name in SERVICE_FILES:
                    untyped_services.append(where)
            if in_store:
                continue
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in SQL_METHODS:
                    owner = ast.unparse(node.func.value)
                    if any(
                        k in owner for k in ("wh", "warehouse", "con", "cursor", "cur", "store")
                    ):
                        sql_sites.append(f"{rel}:{node.lineno} {owner}.{node.func.attr}")
            elif isinstance(node, ast.Attribute) and node.attr in {"con", "lock"}:
                owner = ast.unparse(node.value)
                if any(k in owner for k in ("wh", "warehouse", "store")):
                    sql_sites.append(f"{rel}:{node.lineno} {owner}.{node.attr}")
        for target in imports_of(tree, mod, path.name == "__init__.py", modules):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != mod:
                graph[mod].add(target)
    cycles = sccs(dict(graph))
    return {
        "untyped_public_results": len(untyped_all),
        "untyped_in_services_and_facade": len(untyped_services),
        "sql_call_sites_outside_store": len(sql_sites),
        "modules_over_400_lines": len(big),
        "import_cycles": len(cycles),
        "modules_in_cycles": sum(len(c) for c in cycles),
        "details": {
            "untyped": untyped_all,
            "sql_sites": sql_sites,
            "big_modules": sorted(big, key=lambda x: -x[1]),
            "cycles": cycles,
        },
    }


def main() -> None:
    data = report()
    if "--json" in sys.argv:
        print(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if key != "details":
            print(f"{key:36s} {value}")
    if "-v" in sys.argv:
        for key, value in data["details"].items():
            print(f"\n## {key}")
            for item in value:
                print(" ", item)


if __name__ == "__main__":
    main()
