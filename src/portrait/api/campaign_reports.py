"""REST routes for campaign reports, journeys and the playbook; the app includes them before
the campaign routes (``/v1/campaigns/suggestions`` is not a campaign's name)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from portrait.api.deps import Caller, Moment, WorkspaceDep
from portrait.api.errors import responses
from portrait.campaigns.results import CampaignPublic, CampaignReport, JourneysRun, Suggestions


class JourneysRunBody(BaseModel):
    at: Moment | None = None  # evaluate as of this moment; default now
    dry_run: bool = False  # only say who would enter


class SuggestionsCreate(BaseModel):
    names: list[str] = Field(min_length=1, examples=[["pb-price-sensitive", "pb-first-order"]])


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


router = APIRouter(tags=["campaigns"], responses=responses(401, 403, 404, 409, 422))


@router.get("/v1/campaigns/suggestions")
def suggestions(ws: WorkspaceDep, _: Caller, lang: str = "en") -> Suggestions:
    """The playbook's campaigns for the current segments, with sizes and expected cost."""
    return ws.campaigns.suggest(lang=lang)


@router.post("/v1/campaigns/suggestions", status_code=201, responses=responses(409))
def create_suggested(body: SuggestionsCreate, ws: WorkspaceDep, _: Caller) -> list[CampaignPublic]:
    """Store chosen playbook campaigns as drafts (409 if one exists)."""
    return ws.campaigns.create_suggested(body.names)


@router.post("/v1/campaigns/journeys/run")
def run_journeys(body: JourneysRunBody, ws: WorkspaceDep, _: Caller) -> JourneysRun:
    """Enroll persons who newly meet a launched campaign's trigger."""
    return ws.campaigns.journeys(at=_aware(body.at), dry_run=body.dry_run)


@router.get("/v1/campaigns/{name}/report")
def report(
    name: str, ws: WorkspaceDep, _: Caller, as_of: Annotated[Moment | None, Query()] = None
) -> CampaignReport:
    """Per variant and control: reach, delivery, opens, clicks, conversion, revenue,
    activity, cost, ROI, frequentist and Bayesian tests, CUPED, SRM and notes."""
    return ws.campaigns.report(name, as_of=_aware(as_of))
