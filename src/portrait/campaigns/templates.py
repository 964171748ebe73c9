"""Personalised messages: Jinja2 templates rendered in a sandbox from a user's profile.

A template sees these names (and nothing else: an unknown name is an error at create time):

- ``name``, ``user_id``, ``language``, ``gender``, ``city``
- ``favourite_brand``, ``favourite_category``, ``price_band``, ``lifecycle_stage``, ``persona``
  (profile tags; None when the user has no value: test with ``{% if favourite_brand %}``)
- ``products``: up to 3 recommended products, each with ``title``, ``price``, ``brand``,
  ``product_id`` (empty when no recommendation model is trained)
- ``offer``: ``offer.text`` ("满199减20" / "20 off orders of 199"), ``offer.type`` and the
  offer's fields (``offer.amount``, ``offer.percent``, ...)
- ``shop``, ``campaign``

>>> ctx = sample_context("en", offer_context(ThresholdOff(threshold=199, amount=20), "en"))
>>> render_text("Hi {{ name }}: {{ offer.text }}", ctx)
'Hi Alex: 20 off orders of 199'
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from portrait.campaigns.definition import (
    Campaign,
    CampaignDefinitionError,
    FirstOrder,
    FixedOff,
    FreeShipping,
    MemberPerk,
    Message,
    NoOffer,
    PercentOff,
    ThresholdOff,
)

# profile tags a message may use, by context name
PROFILE_TAGS = {
    "favourite_brand": "favourite_brand",
    "favourite_category": "favourite_category",
    "price_band": "price_band",
    "lifecycle_stage": "lifecycle_stage",
    "persona": "main_persona",
    "gender": "gender",
    "city": "city",
}
CONTEXT_NAMES = frozenset(
    {"name", "user_id", "language", "products", "offer", "shop", "campaign", *PROFILE_TAGS}
)
MAX_PRODUCTS = 3

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class TemplateRenderError(ValueError):
    """A template failed on a user's data (kept as the send's error, never sent half-done)."""


@lru_cache(maxsize=512)
def _compiled(source: str) -> Any:
    return _env.from_string(source)


def render_text(source: str, context: dict[str, Any]) -> str:
    """Render one template in the sandbox; unknown names and unsafe calls raise."""
    try:
        return _compiled(source).render(context)
    except (UndefinedError, SecurityError, TypeError) as e:
        raise TemplateRenderError(str(e)) from e


def pick_language(message: Message, language: str | None) -> str:
    """The user's language when the message has it, else the message's first language."""
    if language in message.body:
        return str(language)
    return next(iter(message.body))


def render_message(message: Message, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) in ``language`` (a subject may be missing: then empty)."""
    subject = message.subject.get(language) or next(iter(message.subject.values()), "")
    return render_text(subject, context).strip(), render_text(message.body[language], context)


# --- offers -----------------------------------------------------------------------------------
def _money(x: float) -> str:
    return f"{x:g}"


def offer_text(offer: Any, language: str) -> str:
    """The offer in words, e.g. 满199减20 / 20 off orders of 199."""
    zh = language == "zh"
    if isinstance(offer, ThresholdOff):
        if zh:
            each = "每" if offer.stack else ""
            return f"{each}满{_money(offer.threshold)}减{_money(offer.amount)}"
        if offer.stack:
            return f"{_money(offer.amount)} off every {_money(offer.threshold)} spent"
        return f"{_money(offer.amount)} off orders of {_money(offer.threshold)}"
    if isinstance(offer, PercentOff):
        pct = _money(round(offer.percent * 100, 2))
        if zh:
            floor = f"满{_money(offer.min_spend)}" if offer.min_spend else ""
            return f"{floor}立减{pct}%"
        floor = f" on orders of {_money(offer.min_spend)}+" if offer.min_spend else ""
        return f"{pct}% off{floor}"
    if isinstance(offer, FixedOff):
        if zh:
            return (f"满{_money(offer.min_spend)}" if offer.min_spend else "") + (
                f"减{_money(offer.amount)}" if offer.min_spend else f"立减{_money(offer.amount)}元"
            )
        floor = f" orders of {_money(offer.min_spend)}+" if offer.min_spend else ""
        return f"{_money(offer.amount)} off{floor}"
    if isinstance(offer, FirstOrder):
        if offer.percent is not None:
            pct = _money(round(offer.percent * 100, 2))
            return f"首单立减{pct}%" if zh else f"{pct}% off your first order"
        return (
            f"首单立减{_money(offer.amount or 0)}元"
            if zh
            else (f"{_money(offer.amount or 0)} off your first order")
        )
    if isinstance(offer, FreeShipping):
        if offer.min_spend:
            return (
                f"满{_money(offer.min_spend)}包邮"
                if zh
                else (f"free shipping on orders of {_money(offer.min_spend)}+")
            )
        return "包邮" if zh else "free shipping"
    if isinstance(offer, MemberPerk):
        return offer.perk
    if isinstance(offer, NoOffer):
        return ""
    raise TypeError(f"unknown offer {offer!r}")


def offer_context(offer: Any, language: str) -> dict[str, Any]:
    """The offer's fields plus its ``text`` in the language."""
    return {**offer.model_dump(), "text": offer_text(offer, language)}


# --- contexts ---------------------------------------------------------------------------------
def user_context(
    *,
    user_id: str,
    name: str | None,
    language: str,
    tags: dict[str, Any],
    products: list[dict[str, Any]],
    offer: dict[str, Any],
    shop: str,
    campaign: str,
) -> dict[str, Any]:
    """Everything a template may use, for one user."""
    ctx: dict[str, Any] = {
        "user_id": user_id,
        "name": name,
        "language": language,
        "products": products[:MAX_PRODUCTS],
        "offer": offer,
        "shop": shop,
        "campaign": campaign,
    }
    for key, tag in PROFILE_TAGS.items():
        ctx[key] = tags.get(tag)
    return ctx


def sample_context(language: str, offer: dict[str, Any]) -> dict[str, Any]:
    """A full context with every value present: what create-time validation renders."""
    zh = language == "zh"
    product = {"product_id": "p1", "title": "示例商品" if zh else "Sample product", "price": 99.0,
               "brand": "Brand"}  # fmt: skip
    return user_context(
        user_id="u1", name="小明" if zh else "Alex", language=language,
        tags={"favourite_brand": "Brand", "favourite_category": "beauty", "price_band": "mid",
              "lifecycle_stage": "active", "main_persona": "brand_loyal", "gender": "F",
              "city": "上海" if zh else "Shanghai"},
        products=[product] * MAX_PRODUCTS, offer=offer, shop="Shop", campaign="campaign",
    )  # fmt: skip


def validate_templates(campaign: Campaign) -> None:
    """Every subject and body parses, uses only known names and renders on a sample user;
    an error names the variant, the field and the language."""
    problems = []
    for v in campaign.variants:
        for field in ("subject", "body"):
            for language, source in getattr(v.message, field).items():
                where = f"variants.{v.name}.message.{field}.{language}"
                try:
                    ast = _env.parse(source)
                except TemplateSyntaxError as e:
                    problems.append(f"{where}: template syntax error on line {e.lineno}: {e}")
                    continue
                unknown = sorted(meta.find_undeclared_variables(ast) - CONTEXT_NAMES)
                if unknown:
                    problems.append(
                        f"{where}: unknown name(s) {', '.join(unknown)}; a message can use "
                        f"{', '.join(sorted(CONTEXT_NAMES))}"
                    )
                    continue
                try:
                    render_text(source, sample_context(language, offer_context(v.offer, language)))
                except TemplateRenderError as e:
                    problems.append(f"{where}: {e}")
    if problems:
        raise CampaignDefinitionError("invalid message template: " + "; ".join(problems))
