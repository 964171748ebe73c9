"""Message templates: sandboxed, strict, validated at create time, offers in words."""

from __future__ import annotations

import pytest

from portrait.campaigns.definition import (
    CampaignDefinitionError,
    FirstOrder,
    FixedOff,
    FreeShipping,
    Message,
    PercentOff,
    ThresholdOff,
    parse_campaign,
)
from portrait.campaigns.templates import (
    TemplateRenderError,
    offer_context,
    offer_text,
    pick_language,
    render_message,
    render_text,
    sample_context,
    user_context,
    validate_templates,
)


def campaign(body: dict[str, str], subject: dict[str, str] | None = None):
    return parse_campaign({
        "name": "t", "segment": "orders_total > 0", "channel": "email",
        "variants": [{"name": "discount", "offer": {"type": "threshold", "threshold": 199,
                                                    "amount": 20},
                      "message": {"subject": subject or {}, "body": body}}],
    })  # fmt: skip


@pytest.mark.parametrize(
    ("offer", "zh", "en"),
    [
        (ThresholdOff(threshold=199, amount=20), "满199减20", "20 off orders of 199"),
        (ThresholdOff(threshold=300, amount=30, stack=True), "每满300减30",
         "30 off every 300 spent"),
        (PercentOff(percent=0.15), "立减15%", "15% off"),
        (FixedOff(amount=10, min_spend=100), "满100减10", "10 off orders of 100+"),
        (FirstOrder(amount=10), "首单立减10元", "10 off your first order"),
        (FreeShipping(), "包邮", "free shipping"),
    ],
)  # fmt: skip
def test_offers_in_words(offer, zh: str, en: str) -> None:
    assert offer_text(offer, "zh") == zh
    assert offer_text(offer, "en") == en


def test_a_message_uses_tags_products_and_the_offer() -> None:
    c = campaign({
        "zh": "{{ name }}，{% if favourite_brand %}{{ favourite_brand }}上新，{% endif %}"
              "{{ offer.text }}{% for p in products %} {{ p.title }} ¥{{ p.price }}{% endfor %}",
    }, {"zh": "{{ name }}，送你{{ offer.amount|int }}元"})  # fmt: skip
    v = c.variants[0]
    ctx = user_context(
        user_id="u1", name="王芳", language="zh", tags={"favourite_brand": "李宁"},
        products=[{"title": "跑鞋", "price": 399.0}] * 5, offer=offer_context(v.offer, "zh"),
        shop="店", campaign="t",
    )  # fmt: skip
    subject, body = render_message(v.message, "zh", ctx)
    assert subject == "王芳，送你20元"
    assert body == "王芳，李宁上新，满199减20 跑鞋 ¥399.0 跑鞋 ¥399.0 跑鞋 ¥399.0"
    ctx.update(favourite_brand=None, products=[])  # no brand, no recommendations
    assert render_message(v.message, "zh", ctx)[1] == "王芳，满199减20"


def test_language_is_the_users_else_the_first_given() -> None:
    m = Message(body={"en": "Hi", "zh": "你好"})
    assert pick_language(m, "zh") == "zh"
    assert pick_language(m, None) == "en"
    assert pick_language(Message(body={"zh": "你好"}), "en") == "zh"


def test_create_time_validation_names_variant_field_and_language() -> None:
    with pytest.raises(CampaignDefinitionError, match=r"variants\.discount\.message\.body\.en: "
                       r"template syntax error on line 1"):  # fmt: skip
        validate_templates(campaign({"en": "Hi {{ name "}))
    with pytest.raises(CampaignDefinitionError, match=r"body\.zh: unknown name\(s\) nmae"):
        validate_templates(campaign({"zh": "你好 {{ nmae }}"}))
    with pytest.raises(CampaignDefinitionError, match=r"subject\.en: .*coupon"):
        validate_templates(campaign({"en": "ok"}, {"en": "{{ offer.coupon }}"}))
    validate_templates(campaign({"en": "{{ name }} {{ offer.text }}"}))


def test_the_sandbox_refuses_unsafe_code() -> None:
    ctx = sample_context("en", {"text": "x"})
    with pytest.raises(TemplateRenderError):
        render_text("{{ name.__class__.__mro__[1].__subclasses__() }}", ctx)
    with pytest.raises(TemplateRenderError):
        render_text("{{ missing }}", ctx)
