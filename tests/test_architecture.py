"""The layout holds: only store/ touches the warehouse, no import cycles, small modules, product
code free of the simulator and of the surfaces (CLI, REST). The figures come from
``scripts/structure_report.py`` (the same code prints them for a closing note)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "portrait"


def _report_module():
    path = ROOT / "scripts" / "structure_report.py"
    spec = importlib.util.spec_from_file_location("structure_report", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


structure = _report_module()


@pytest.fixture(scope="module")
def report() -> dict:
    return structure.report()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _modules(under: str = "") -> list[Path]:
    return sorted((SRC / under).rglob("*.py"))


def test_only_store_runs_sql_on_the_warehouse(report: dict) -> None:
    sites = report["details"]["sql_sites"]
    assert not sites, (
        "SQL on the warehouse outside src/portrait/store/ (move it into the store module of "
        "that table family):\n  " + "\n  ".join(sites)
    )


def test_file_parsers_never_touch_the_warehouse() -> None:
    """The modules allowed their own in-memory DuckDB parse files with it, nothing else."""
    for rel in structure.FILE_PARSERS:
        path = SRC / rel
        names = {
            n.id if isinstance(n, ast.Name) else n.attr
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Name | ast.Attribute)
        }
        assert not names & {"Warehouse", "warehouse", "wh", "Workspace"}, rel
        assert not any(
            m.startswith(("portrait.store", "portrait.workspace")) for m in _imports(path)
        ), rel


def test_warehouse_connection_is_private() -> None:
    from portrait.store.warehouse import Warehouse

    assert not hasattr(Warehouse, "con"), "Warehouse.con is public again: use store/ functions"


def test_no_import_cycles(report: dict) -> None:
    cycles = report["details"]["cycles"]
    assert not cycles, f"import cycles (imports inside functions count): {cycles}"


def test_modules_stay_small(report: dict) -> None:
    big = report["details"]["big_modules"]
    assert not big, f"modules over 400 lines (split them by concern): {big}"


# Who may use the simulator: the demo shop's entry points (the facade's ``simulate()``, its
# ingest service, the CLI) and offline recommender evaluation, for which the simulated shop
# is one of the data sets (``portrait recs evaluate --dataset simulated``).
SIMULATOR_USERS = ("workspace.py", "ingest/service.py", "cli/", "recs/evaluation/data.py")


def test_product_code_never_imports_the_simulator() -> None:
    offenders = [
        rel
        for p in _modules()
        if not (rel := str(p.relative_to(SRC))).startswith(("datasets/", *SIMULATOR_USERS))
        and any(n.startswith("portrait.datasets.simulator") for n in _imports(p))
    ]
    assert not offenders, f"product modules importing the simulator: {offenders}"


@pytest.mark.parametrize(
    "package", ["tags", "segments", "models", "recs", "campaigns", "experiments", "store"]
)
def test_domain_packages_never_import_the_surfaces(package: str) -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in _modules(package)
        if any(n.startswith(("portrait.cli", "portrait.api")) for n in _imports(p))
    ]
    assert not offenders, f"{package}/ imports the CLI or the REST API: {offenders}"


def test_every_cli_module_lives_under_cli() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in _modules()
        if "cli" not in p.relative_to(SRC).parts and "import typer" in p.read_text()
    ]
    assert not offenders, f"Typer commands outside src/portrait/cli/: {offenders}"


def test_services_and_facade_return_typed_results(report: dict) -> None:
    untyped = [
        u for u in report["details"]["untyped"] if u.split(":")[0].endswith(structure.SERVICE_FILES)
    ]
    assert not untyped, f"services and the facade returning bare dicts: {untyped}"


def _typed(annotation: object) -> bool:
    """A model, a list of models, or a union of those."""
    import types
    from typing import Union, get_args, get_origin

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    if get_origin(annotation) in (list, Union, types.UnionType):
        return all(_typed(a) for a in get_args(annotation))
    return False


def test_every_route_declares_a_typed_answer() -> None:
    """Each route's answer is a pydantic model (or a list of them), a file, or nothing (204),
    so /openapi.json documents every body."""
    from fastapi.responses import FileResponse
    from fastapi.routing import APIRoute

    from portrait.api.app import ROUTERS

    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    untyped = [
        f"{sorted(r.methods)[0]} {r.path}"
        for r in routes
        if not _typed(r.response_model)
        and r.response_class is not FileResponse
        and r.status_code != 204
    ]
    assert len(routes) >= 50, f"only {len(routes)} routes found"
    assert not untyped, f"routes without a typed response_model: {untyped}"
