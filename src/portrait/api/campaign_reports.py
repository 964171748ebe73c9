"""REST routes for campaign reports, journeys and the playbook, registered by `create_app`
before the campaign routes (``/v1/campaigns/suggestions`` is not a campaign's name)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from portrait.api.errors import service_call
from portrait.campaigns.service import CampaignConflictError


class JourneysRun(BaseModel):
    at: datetime | None = None  # evaluate as of this moment; default now
    dry_run: bool = False  # only say who would enter


class SuggestionsCreate(BaseModel):
    names: list[str] = Field(min_length=1, examples=[["pb-price-sensitive", "pb-first-order"]])


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return service_call(fn, *args, conflicts=(CampaignConflictError,), **kwargs)


def register(app: FastAPI, WorkspaceDep: Any, Admin: Any) -> None:
    """Add the report, journeys and suggestions routes to `app`."""

    @app.get("/v1/campaigns/suggestions", tags=["campaigns"])
    def suggestions(ws: WorkspaceDep, _: Admin, lang: str = "en") -> dict[str, Any]:
        """The playbook's campaigns for the current segments, with sizes and expected cost."""
        return _call(ws.campaigns.suggest, lang=lang)

    @app.post("/v1/campaigns/suggestions", tags=["campaigns"], status_code=201)
    def create_suggested(
        body: SuggestionsCreate, ws: WorkspaceDep, _: Admin
    ) -> list[dict[str, Any]]:
        """Store chosen playbook campaigns as drafts (409 if one exists)."""
        return _call(ws.campaigns.create_suggested, body.names)

    @app.post("/v1/campaigns/journeys/run", tags=["campaigns"])
    def run_journeys(body: JourneysRun, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Enroll persons who newly meet a launched campaign's trigger."""
        return _call(ws.campaigns.journeys, at=_aware(body.at), dry_run=body.dry_run)

    @app.get("/v1/campaigns/{name}/report", tags=["campaigns"])
    def report(
        name: str, ws: WorkspaceDep, _: Admin, as_of: datetime | None = None
    ) -> dict[str, Any]:
        """Per variant and control: reach, delivery, opens, clicks, conversion, revenue,
        activity, cost, ROI, frequentist and Bayesian tests, CUPED, SRM and notes."""
        return _call(ws.campaigns.report, name, as_of=_aware(as_of))
