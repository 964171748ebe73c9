"""The event types Portrait understands, and which fields each one needs."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "page_view": "A page was viewed.",
    "search": "A search was made (query holds the text).",
    "product_view": "A product detail page was viewed.",
    "click": "Something was clicked (a banner, a recommendation, a link).",
    "add_to_cart": "A product was added to the cart.",
    "remove_from_cart": "A product was removed from the cart.",
    "order": "One order line: product, quantity and unit price, grouped by order_id.",
    "payment": "An order was paid (price holds the amount paid).",
    "refund": "A return or a cancellation of an order line.",
    "review": "A review with rating and text.",
    "share": "A product or page was shared.",
    "like": "A product or content was liked.",
    "follow": "The user followed another user or a brand.",
    "invite": "The user invited someone (target_user_id once known).",
    "login": "The user logged in (links anonymous_id to user_id).",
    "register": "The user registered (links anonymous_id to user_id).",
    "coupon_received": "A coupon was granted to the user.",
    "coupon_used": "A coupon was redeemed.",
    "message_sent": "A marketing message was sent.",
    "message_opened": "A marketing message was opened.",
    "message_clicked": "A marketing message was clicked.",
    "survey_answer": "A questionnaire answer (properties hold question and answer).",
    "question": "A question asked about a product (Q&A).",
    "answer": "An answer given to a product question (Q&A).",
}

# Fields an event of a type cannot do without; a record missing one goes to quarantine.
REQUIRED_BY_TYPE: dict[str, tuple[str, ...]] = {
    "search": ("query",),
    "product_view": ("product_id",),
    "add_to_cart": ("product_id",),
    "remove_from_cart": ("product_id",),
    "order": ("order_id",),
    "payment": ("order_id",),
    "review": ("product_id",),
}

# Event types that identify a user with a device: they stitch anonymous history to the user.
IDENTIFYING_TYPES = ("login", "register")
