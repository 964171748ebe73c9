"""REST routes for recommendations, registered by `create_app`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from typing import Annotated, Any

from fastapi import FastAPI, Query

from portrait.api.errors import service_call
from portrait.recs.rules import BusinessRules
from portrait.recs.serve import NotTrainedError

K = Annotated[int, Query(ge=1, le=1000)]


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return service_call(fn, *args, conflicts=(NotTrainedError,), **kwargs)


def register(app: FastAPI, WorkspaceDep: Any, Admin: Any) -> None:
    """Add the recommendation routes to `app`."""

    @app.get("/v1/users/{user_id}/recommendations", tags=["recommendations"])
    def recommendations(
        user_id: str,
        ws: WorkspaceDep,
        _: Admin,
        k: K = 10,
        recent_days: Annotated[float, Query(ge=0)] = BusinessRules.recent_days,
        max_per_category: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, Any]:
        """The ``k`` products to show the user, best first, each with a short reason; views and
        cart adds since training move the list (no rebuild)."""
        rules = BusinessRules(recent_days=recent_days, max_per_category=max_per_category)
        return _call(ws.recs.recommend, user_id, k=k, rules=rules)

    @app.get("/v1/products/{product_id}/similar", tags=["recommendations"])
    def similar(product_id: str, ws: WorkspaceDep, _: Admin, k: K = 10) -> dict[str, Any]:
        """Products bought by the same customers, then like it by content (a new product's
        only neighbours)."""
        return _call(ws.recs.similar, product_id, k=k)

    @app.get("/v1/products/{product_id}/bought-together", tags=["recommendations"])
    def bought_together(product_id: str, ws: WorkspaceDep, _: Admin, k: K = 10) -> dict[str, Any]:
        """Association rules from the product: support, confidence and lift over baskets."""
        return _call(ws.recs.bought_together, product_id, k=k)
