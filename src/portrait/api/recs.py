"""REST routes for recommendations."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from typing import Annotated

from fastapi import APIRouter, Query

from portrait.api.deps import Caller, WorkspaceDep
from portrait.api.errors import responses
from portrait.recs.results import BoughtTogether, Recommendations, SimilarProducts
from portrait.recs.rules import BusinessRules

K = Annotated[int, Query(ge=1, le=1000)]

router = APIRouter(tags=["recommendations"], responses=responses(401, 403, 404, 409, 422))


@router.get("/v1/users/{user_id}/recommendations")
def recommendations(
    user_id: str,
    ws: WorkspaceDep,
    _: Caller,
    k: K = 10,
    recent_days: Annotated[float, Query(ge=0)] = BusinessRules.recent_days,
    max_per_category: Annotated[int | None, Query(ge=1)] = None,
) -> Recommendations:
    """The ``k`` products to show the user, best first, each with a short reason; views and
    cart adds since training move the list (no rebuild)."""
    rules = BusinessRules(recent_days=recent_days, max_per_category=max_per_category)
    return ws.recs.recommend(user_id, k=k, rules=rules)


@router.get("/v1/products/{product_id}/similar")
def similar(product_id: str, ws: WorkspaceDep, _: Caller, k: K = 10) -> SimilarProducts:
    """Products bought by the same customers, then like it by content (a new product's
    only neighbours)."""
    return ws.recs.similar(product_id, k=k)


@router.get("/v1/products/{product_id}/bought-together")
def bought_together(product_id: str, ws: WorkspaceDep, _: Caller, k: K = 10) -> BoughtTogether:
    """Association rules from the product: support, confidence and lift over baskets."""
    return ws.recs.bought_together(product_id, k=k)
