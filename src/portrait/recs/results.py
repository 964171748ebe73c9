"""What serving recommendations returns: typed, JSON-ready lists of products with the reason
each is there, read by attribute by the CLI, the REST routes and campaign messages.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class RecommendedItem(_Result):
    """One product of a list, with why it is there."""

    product_id: str
    title: str | None = None
    brand: str | None = None
    category: str | None = Field(None, description="At the level the business rules use.")
    score: float = Field(description="Its blended score (rules: the rule's confidence).")
    reason: str = Field(description="Why, in words: 'you buy this again', 'similar to ...'.")
    reason_code: str = Field(
        description="Why, as a code: repeat, also_bought, bought_together, popular, "
        "segment_popular, session_similar, new_similar, content, favourite_brand."
    )


class RuleItem(RecommendedItem):
    """A product bought together with the asked one: the association rule's figures."""

    baskets: int = Field(description="Baskets holding both products.")
    support: float
    confidence: float
    lift: float


class Recommendations(_Result):
    """The products to show one user, best first."""

    user_id: str
    person_id: str = Field(description="The person the user or anonymous id belongs to.")
    k: int
    cold_start: bool = Field(description="No purchases in training: segment popularity.")
    personalised: bool = Field(
        True,
        description="False: the person does not consent to personalisation, so the list is "
        "the shop's best sellers and none of their own data was used.",
    )
    session: list[str] = Field(
        default_factory=list, description="Products viewed or carted since training, newest first."
    )
    model: str | None = Field(None, description="The trained candidate generator.")
    run_id: str | None = Field(None, description="Its training run (the recs model card).")
    items: list[RecommendedItem]


class SimilarProducts(_Result):
    """Products like one product: bought by the same customers, then by content."""

    product_id: str
    k: int
    items: list[RecommendedItem]


class BoughtTogether(_Result):
    """Association rules from one product."""

    product_id: str
    baskets: int = Field(description="Baskets the rules were counted over.")
    k: int
    items: list[RuleItem]
