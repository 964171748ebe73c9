"""Fixed vocabularies of the demo shop: cities, names, channels, campaigns and text templates.

Everything here is plain data. The generators index into these lists with integer arrays, so a
string is built once per vocabulary entry, never once per event.
"""

from __future__ import annotations

import numpy as np

# fmt: off
# (city, region, country, tier, UTC offset in hours, share of users)
CITIES: tuple[tuple[str, str, str, int, int, float], ...] = (
    ("北京", "北京", "CN", 1, 8, 7.0), ("上海", "上海", "CN", 1, 8, 7.5),
    ("广州", "广东", "CN", 1, 8, 5.0), ("深圳", "广东", "CN", 1, 8, 5.5),
    ("杭州", "浙江", "CN", 2, 8, 4.0), ("成都", "四川", "CN", 2, 8, 4.0),
    ("重庆", "重庆", "CN", 2, 8, 3.5), ("武汉", "湖北", "CN", 2, 8, 3.0),
    ("西安", "陕西", "CN", 2, 8, 2.5), ("南京", "江苏", "CN", 2, 8, 2.8),
    ("苏州", "江苏", "CN", 2, 8, 2.5), ("天津", "天津", "CN", 2, 8, 2.2),
    ("长沙", "湖南", "CN", 2, 8, 2.2), ("郑州", "河南", "CN", 2, 8, 2.0),
    ("厦门", "福建", "CN", 3, 8, 1.5), ("昆明", "云南", "CN", 3, 8, 1.5),
    ("济南", "山东", "CN", 3, 8, 1.6), ("哈尔滨", "黑龙江", "CN", 3, 8, 1.4),
    ("合肥", "安徽", "CN", 3, 8, 1.6), ("福州", "福建", "CN", 3, 8, 1.4),
    ("南昌", "江西", "CN", 3, 8, 1.3), ("大连", "辽宁", "CN", 3, 8, 1.3),
    ("洛阳", "河南", "CN", 4, 8, 1.0), ("赣州", "江西", "CN", 4, 8, 0.9),
    ("株洲", "湖南", "CN", 4, 8, 0.8), ("宜昌", "湖北", "CN", 4, 8, 0.8),
    ("绵阳", "四川", "CN", 4, 8, 0.8), ("桂林", "广西", "CN", 4, 8, 0.8),
    ("烟台", "山东", "CN", 4, 8, 0.9), ("曲靖", "云南", "CN", 5, 8, 0.6),
    ("汉中", "陕西", "CN", 5, 8, 0.5), ("六安", "安徽", "CN", 5, 8, 0.5),
    ("信阳", "河南", "CN", 5, 8, 0.6), ("梅州", "广东", "CN", 5, 8, 0.5),
    ("Singapore", "Singapore", "SG", 1, 8, 1.2), ("Kuala Lumpur", "Selangor", "MY", 2, 8, 0.8),
    ("Tokyo", "Tokyo", "JP", 1, 9, 0.6), ("Sydney", "NSW", "AU", 1, 10, 0.6),
    ("London", "England", "GB", 1, 0, 0.7), ("New York", "NY", "US", 1, -5, 0.8),
    ("San Francisco", "CA", "US", 1, -8, 0.6), ("Toronto", "ON", "CA", 1, -5, 0.5),
    ("Vancouver", "BC", "CA", 1, -8, 0.5),
)

# Phone country calling codes and national number lengths, for the non-Chinese countries.
CALLING_CODES: dict[str, tuple[str, int]] = {
    "SG": ("+65", 8), "MY": ("+60", 9), "JP": ("+81", 10), "AU": ("+61", 9),
    "GB": ("+44", 10), "US": ("+1", 10), "CA": ("+1", 10),
}

ZH_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马",
               "朱", "胡", "郭", "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐")
ZH_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
            "涛", "明", "超", "秀英", "霞", "平", "刚", "子轩", "浩然", "欣怡", "梓涵", "雨桐",
            "宇航", "诗涵", "一诺", "思远", "佳怡", "俊杰")
EN_FIRST = ("James", "Mary", "John", "Emma", "Oliver", "Sophia", "Liam", "Olivia", "Noah",
            "Ava", "Lucas", "Mia", "Ethan", "Chloe", "Daniel", "Grace", "Wei", "Mei")
EN_LAST = ("Smith", "Tan", "Lee", "Brown", "Wong", "Lim", "Taylor", "Wilson", "Chen", "Ng",
           "Johnson", "Davies", "Garcia", "Sato")
EMAIL_WORDS = ("happy", "sunny", "lucky", "xiao", "panda", "moon", "star", "blue", "coffee",
               "tiger", "lily", "river", "cloud", "mango")
EMAIL_DOMAINS_CN = ("163.com", "126.com", "sina.com", "foxmail.com", "gmail.com")
EMAIL_DOMAINS_INTL = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com")

REGISTRATION_CHANNELS = ("app", "mini_program", "web", "h5")
REGISTRATION_CHANNEL_SHARES = (0.45, 0.30, 0.18, 0.07)
DEVICES = ("mobile", "desktop", "tablet")
# Event channels: sessions happen on the first three; messages go out on the last three.
EVENT_CHANNELS = ("app", "mini_program", "web", "email", "sms", "push")
USER_ATTRIBUTES = (
    '{"member_level": "silver"}',
    '{"member_level": "gold"}',
    '{"member_level": "platinum"}',
    '{"newsletter": true}',
    '{"source": "offline_store"}',
)

# Review sentences by aspect; index 0 negative, 1 neutral, 2 positive.
_ZH_ASPECTS = (
    ("质量太差", "质量一般", "质量很好"),
    ("物流太慢", "物流还行", "物流很快"),
    ("价格偏贵", "价格还可以", "性价比很高"),
    ("客服态度差", "客服回复一般", "客服很耐心"),
    ("和描述不符", "和描述差不多", "和图片一样"),
)
_ZH_ENDINGS = (("不会再买了", "失望", "要退货"), ("凑合用吧", "一般般", "还行"),
               ("会回购的", "推荐购买", "非常满意"))
_EN_ASPECTS = (
    ("Terrible quality", "Quality is okay", "Great quality"),
    ("arrived late", "delivery was fine", "fast delivery"),
    ("overpriced", "fair price", "great value for money"),
    ("rude customer service", "customer service was average", "helpful customer service"),
    ("not as described", "roughly as described", "exactly as pictured"),
)
_EN_ENDINGS = (("Would not buy again.", "Very disappointed.", "Returning it."),
               ("It's okay.", "Nothing special.", "Does the job."),
               ("Will buy again!", "Highly recommend.", "Love it!"))
# fmt: on


def _review_texts(aspects: tuple, endings: tuple, zh: bool) -> list[list[str]]:
    """All template combinations per sentiment (0 negative, 1 neutral, 2 positive)."""
    out: list[list[str]] = []
    for s in range(3):
        texts = []
        for i, first in enumerate(aspects):
            for second in aspects[i + 1 :]:
                for end in endings[s]:
                    if zh:
                        texts.append(f"{first[s]}，{second[s]}，{end}")
                    else:
                        opening = first[s][0].upper() + first[s][1:]
                        texts.append(f"{opening}, {second[s].lower()}. {end}")
        out.append(texts)
    return out


# REVIEW_TEXTS[language][sentiment] -> list of texts; language 0 zh, 1 en.
REVIEW_TEXTS = (
    _review_texts(_ZH_ASPECTS, _ZH_ENDINGS, True),
    _review_texts(_EN_ASPECTS, _EN_ENDINGS, False),
)


# fmt: off
QUESTION_TEXTS = (("这个尺码偏大吗？", "什么时候发货？", "保质期多久？", "有赠品吗？",
                   "支持七天无理由退货吗？"),
                  ("Does this run large?", "When will it ship?", "Is there a warranty?",
                   "Does it come with a gift box?", "Can I return it within 7 days?"))
ANSWER_TEXTS = (("尺码正常，按平时买就行", "下单第二天就发了", "挺好用的，放心买"),
                ("True to size.", "Shipped the next day.", "Works well, go for it."))

# (campaign id, channel, day as a fraction of the period, share of users targeted, coupon or "")
CAMPAIGNS: tuple[tuple[str, str, float, float, str], ...] = (
    ("cmp-welcome-back", "email", 0.08, 0.55, "SAVE10"),
    ("cmp-mid-promo", "sms", 0.48, 0.70, "PROMO15"),
    ("cmp-mid-promo-push", "push", 0.50, 0.45, ""),
    ("cmp-new-arrivals", "push", 0.70, 0.40, ""),
    ("cmp-winback", "email", 0.85, 0.35, "BACK20"),
)
# (coupon id, percentage off, days valid)
COUPONS: tuple[tuple[str, float, int], ...] = (
    ("NEW10", 0.10, 30),
    ("SAVE10", 0.10, 14),
    ("PROMO15", 0.15, 7),
    ("BACK20", 0.20, 14),
    ("CENTER05", 0.05, 10),
)
COUPON_INDEX = {c[0]: i for i, c in enumerate(COUPONS)}

# Constant JSON strings for the `properties` column, addressed by index.
PROPERTIES = (
    '{"element": "banner"}',
    '{"element": "recommendation"}',
    '{"element": "search_result"}',
    '{"platform": "wechat"}',
    '{"platform": "weibo"}',
    '{"platform": "link"}',
    '{"method": "alipay"}',
    '{"method": "wechat_pay"}',
    '{"method": "card"}',
    '{"source": "invite"}',
    '{"via": "share"}',
    '{"reason": "quality"}',
    '{"reason": "size"}',
    '{"reason": "changed_mind"}',
    '{"question": "monthly_budget", "answer": "<500"}',
    '{"question": "monthly_budget", "answer": "500-2000"}',
    '{"question": "monthly_budget", "answer": ">2000"}',
)
PROP = {
    "click": 0,
    "share": 3,
    "payment": 6,
    "invited": 9,
    "via_share": 10,
    "refund": 11,
    "survey": 14,
}
# fmt: on


def _flat_texts() -> tuple[list[str], dict[str, tuple[int, int]]]:
    """Every review, question and answer text in one list, with (first, count) ranges."""
    texts: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    for lang, name in enumerate(("zh", "en")):
        for sentiment in range(3):
            ranges[f"review-{name}-{sentiment}"] = (len(texts), len(REVIEW_TEXTS[lang][sentiment]))
            texts += REVIEW_TEXTS[lang][sentiment]
        ranges[f"question-{name}"] = (len(texts), len(QUESTION_TEXTS[lang]))
        texts += QUESTION_TEXTS[lang]
        ranges[f"answer-{name}"] = (len(texts), len(ANSWER_TEXTS[lang]))
        texts += ANSWER_TEXTS[lang]
    return texts, ranges


TEXTS, TEXT_RANGES = _flat_texts()


def text_codes(
    kind: str, language: np.ndarray, u: np.ndarray, sentiment: np.ndarray | None = None
) -> np.ndarray:
    """Codes into TEXTS: a ``kind`` text ("review", "question", "answer") per entry.

    ``language`` is 0 (zh) or 1 (en) per entry, ``u`` uniform in [0, 1), ``sentiment`` (reviews
    only) 0 negative, 1 neutral, 2 positive. Works on numpy arrays.
    """
    names = [
        [f"{kind}-{lang}-{s}" if sentiment is not None else f"{kind}-{lang}" for s in range(3)]
        for lang in ("zh", "en")
    ]
    first = np.array([[TEXT_RANGES[k][0] for k in row] for row in names])
    count = np.array([[TEXT_RANGES[k][1] for k in row] for row in names])
    s = np.zeros_like(language) if sentiment is None else sentiment
    return first[language, s] + (u * count[language, s]).astype(np.int64)
