"""REST route for retention (permission ``privacy:manage``): ``[retention]`` of portrait.toml
applied now, or with ``dry_run`` what it would remove. The server also applies it daily
(``portrait.privacy.schedule``)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from typing import Annotated

from fastapi import APIRouter, Query

from portrait.api.deps import Caller, WorkspaceDep
from portrait.api.errors import responses
from portrait.privacy.retention import RetentionReport

router = APIRouter(tags=["privacy"], responses=responses(401, 403, 409, 422))


@router.post("/v1/privacy/retain")
def retain(
    ws: WorkspaceDep,
    _: Caller,
    dry_run: Annotated[
        bool, Query(description="Only say, per class, what would go and what stays.")
    ] = False,
) -> RetentionReport:
    """Delete, per class of data (events, quarantine, sends, snapshots, audit), what is older
    than its limit in ``[retention]``; 409 while a profile build runs."""
    return ws.privacy.retain(dry_run=dry_run)
