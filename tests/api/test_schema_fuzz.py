"""The API keeps its own promises: a schema fuzzer (schemathesis) sends every route requests
generated from ``/openapi.json`` and checks each answer against the same document.

Zero server errors (5xx), zero answers off the documented schema, status codes and content
types. Bounded: a few examples per route on a small built shop, so it runs in CI. Every
failing route is reported, not only the first.
"""

from __future__ import annotations

from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from portrait.api.app import create_app
from portrait.workspace import Workspace

EXAMPLES_PER_ROUTE = 12
# What "answers as documented" means: no 5xx, and the status code, content type, headers and
# body of every answer are the ones the document declares. (``positive_data_acceptance`` is
# left out on purpose: a request can match the schema and still name a segment that does not
# exist or hold an expression that does not parse; those 404/422 answers are documented.)
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("fuzz") / "shop"
    ws = Workspace.init(root)
    ws.simulate(users=300, days=60, seed=5)
    ws.build()
    yield ws
    ws.close()


def fuzz_operation(operation, token: str) -> list[str]:
    """Up to EXAMPLES_PER_ROUTE generated requests; the failures' messages."""
    failures: list[str] = []

    @hypothesis.given(operation.as_strategy(GenerationMode.POSITIVE))
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def run(case) -> None:
        if case.query and "wait" in case.query:  # a job is followed, never waited for here
            case.query["wait"] = 0
        try:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as e:  # collected and reported below
            failures.append(f"{operation.label}: {str(e)[:1500]}")

    run()
    return failures


def test_every_route_answers_as_documented(shop: Workspace) -> None:
    token = shop.create_key("admin", "schema fuzz").token
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(shop))
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        failures += fuzz_operation(result.ok(), token)
    assert operations >= 50, f"only {operations} operations in the schema"
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures[:40])
