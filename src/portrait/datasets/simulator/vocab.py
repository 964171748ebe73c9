"""Fixed vocabularies of the demo shop: categories, brands, cities, names and text templates.

Everything here is plain data. The generators index into these lists with integer arrays, so a
string is built once per vocabulary entry, never once per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Leaf:
    """A third-level category: slug, Chinese and English names, median list price."""

    slug: str
    zh: str
    en: str
    price: float


@dataclass(frozen=True)
class TopCategory:
    """A top-level category with its subcategories, brands and product attribute values."""

    slug: str
    zh: str
    en: str
    children: dict[str, tuple[str, tuple[Leaf, ...]]]  # l2 slug -> (l2 zh name, leaves)
    brands: tuple[str, ...]
    variants: tuple[str, ...]
    adjectives: tuple[str, ...]
    colours: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()


_COLOURS = ("black", "white", "grey", "red", "blue", "navy", "pink", "beige", "green", "gold")

CATEGORIES: tuple[TopCategory, ...] = (
    TopCategory(
        "beauty", "美妆", "Beauty",
        {
            "skincare": ("护肤", (Leaf("face_cream", "面霜", "Face Cream", 280.0),
                                Leaf("serum", "精华", "Serum", 420.0),
                                Leaf("cleanser", "洁面乳", "Cleanser", 110.0),
                                Leaf("sheet_mask", "面膜", "Sheet Mask", 130.0))),
            "makeup": ("彩妆", (Leaf("lipstick", "口红", "Lipstick", 240.0),
                              Leaf("foundation", "粉底液", "Foundation", 300.0),
                              Leaf("eyeshadow", "眼影盘", "Eyeshadow Palette", 190.0))),
            "fragrance": ("香水", (Leaf("perfume", "香水", "Eau de Parfum", 620.0),)),
        },
        ("Lancôme", "Estée Lauder", "L'Oréal", "SK-II", "Shiseido", "完美日记", "花西子",
         "Olay", "百雀羚", "Innisfree"),
        ("30ml", "50ml", "100ml", "礼盒装", "旅行装"),
        ("保湿", "美白", "修护", "Hydrating", "Anti-aging"),
        colours=("red", "pink", "nude", "coral", "berry"),
        styles=("natural", "glam", "classic"),
    ),
    TopCategory(
        "apparel", "服饰", "Apparel",
        {
            "womenswear": ("女装", (Leaf("dress", "连衣裙", "Dress", 290.0),
                                  Leaf("coat", "大衣", "Coat", 650.0),
                                  Leaf("jeans", "牛仔裤", "Jeans", 240.0))),
            "menswear": ("男装", (Leaf("shirt", "衬衫", "Shirt", 190.0),
                                Leaf("jacket", "夹克", "Jacket", 480.0),
                                Leaf("tshirt", "T恤", "T-Shirt", 90.0))),
            "shoes": ("鞋靴", (Leaf("sneakers", "运动鞋", "Sneakers", 520.0),
                             Leaf("boots", "短靴", "Boots", 580.0))),
        },
        ("Uniqlo", "Zara", "H&M", "太平鸟", "李宁", "Nike", "Adidas", "波司登", "ONLY", "森马"),
        ("S", "M", "L", "XL", "2024新款"),
        ("修身", "宽松", "百搭", "Slim Fit", "Oversized"),
        colours=_COLOURS,
        styles=("casual", "business", "sporty", "vintage", "street", "minimalist"),
        materials=("cotton", "wool", "polyester", "denim", "silk", "leather"),
    ),
    TopCategory(
        "electronics", "数码", "Electronics",
        {
            "phones": ("手机", (Leaf("smartphone", "智能手机", "Smartphone", 3600.0),
                              Leaf("phone_case", "手机壳", "Phone Case", 45.0))),
            "computers": ("电脑", (Leaf("laptop", "笔记本电脑", "Laptop", 6200.0),
                                 Leaf("tablet", "平板电脑", "Tablet", 2900.0))),
            "audio": ("影音", (Leaf("earbuds", "蓝牙耳机", "Wireless Earbuds", 620.0),
                             Leaf("speaker", "音箱", "Speaker", 380.0))),
            "wearables": ("穿戴", (Leaf("smartwatch", "智能手表", "Smartwatch", 1500.0),)),
        },
        ("Apple", "华为", "小米", "OPPO", "vivo", "Lenovo", "Sony", "Samsung", "荣耀"),
        ("128GB", "256GB", "Pro", "Lite", "2024款"),
        ("旗舰", "轻薄", "降噪", "Ultra", "Max"),
        colours=("black", "white", "silver", "blue", "gold"),
        styles=("minimalist", "gaming", "business"),
        materials=("aluminium", "plastic", "glass"),
    ),
    TopCategory(
        "home", "家居", "Home",
        {
            "kitchen": ("厨具", (Leaf("cookware", "炒锅", "Wok", 290.0),
                               Leaf("knife_set", "刀具套装", "Knife Set", 160.0))),
            "bedding": ("床品", (Leaf("duvet", "蚕丝被", "Duvet", 420.0),
                               Leaf("pillow", "枕头", "Pillow", 140.0))),
            "furniture": ("家具", (Leaf("chair", "办公椅", "Office Chair", 650.0),
                                 Leaf("lamp", "台灯", "Desk Lamp", 180.0))),
        },
        ("IKEA", "无印良品", "苏泊尔", "罗莱", "富安娜", "网易严选", "双立人", "Lock&Lock"),
        ("单人", "双人", "Large", "套装"),
        ("北欧", "简约", "日式", "Premium"),
        colours=("white", "grey", "beige", "black", "green", "blue"),
        styles=("nordic", "modern", "japanese", "classic"),
        materials=("wood", "ceramic", "stainless_steel", "linen", "cotton"),
    ),
    TopCategory(
        "food", "食品", "Food",
        {
            "snacks": ("零食", (Leaf("nuts", "每日坚果", "Mixed Nuts", 65.0),
                              Leaf("chips", "薯片", "Potato Chips", 18.0),
                              Leaf("chocolate", "巧克力", "Chocolate", 55.0))),
            "drinks": ("饮品", (Leaf("tea", "茶叶", "Tea", 160.0),
                              Leaf("coffee", "咖啡", "Coffee Beans", 85.0),
                              Leaf("milk", "牛奶", "Milk", 60.0))),
            "fresh": ("生鲜", (Leaf("fruit", "水果", "Fresh Fruit", 80.0),
                             Leaf("meat", "牛排", "Steak", 130.0))),
        },
        ("三只松鼠", "良品铺子", "百草味", "Nestlé", "伊利", "蒙牛", "Lipton", "Ferrero",
         "农夫山泉"),
        ("500g", "1kg", "礼盒装", "12瓶装"),
        ("原味", "低糖", "进口", "Organic"),
    ),
    TopCategory(
        "books", "图书", "Books",
        {
            "fiction": ("小说", (Leaf("novel", "长篇小说", "Novel", 42.0),
                               Leaf("scifi", "科幻小说", "Science Fiction", 48.0))),
            "education": ("教育", (Leaf("textbook", "教材", "Textbook", 55.0),
                                 Leaf("language", "外语学习", "Language Learning", 62.0))),
            "children": ("童书", (Leaf("picture_book", "绘本", "Picture Book", 38.0),)),
        },
        ("人民文学出版社", "中信出版社", "商务印书馆", "Penguin", "HarperCollins", "译林出版社"),
        ("精装", "平装", "第2版", "全套"),
        ("经典", "畅销", "新版", "Bestseller"),
        styles=("classic", "modern"),
    ),
    TopCategory(
        "sports", "运动户外", "Sports & Outdoors",
        {
            "fitness": ("健身", (Leaf("yoga_mat", "瑜伽垫", "Yoga Mat", 110.0),
                               Leaf("dumbbell", "哑铃", "Dumbbells", 190.0))),
            "outdoor": ("户外", (Leaf("tent", "帐篷", "Tent", 520.0),
                               Leaf("backpack", "登山包", "Hiking Backpack", 320.0))),
            "cycling": ("骑行", (Leaf("bicycle", "自行车", "Bicycle", 1600.0),
                               Leaf("helmet", "骑行头盔", "Cycling Helmet", 210.0))),
        },
        ("迪卡侬", "The North Face", "Columbia", "安踏", "捷安特", "Keep", "Nike", "Adidas"),
        ("入门款", "Pro", "2人", "XL"),
        ("轻量", "专业", "防水", "Ultralight"),
        colours=_COLOURS,
        styles=("sporty", "outdoor", "minimalist"),
        materials=("nylon", "aluminium", "polyester", "rubber"),
    ),
    TopCategory(
        "baby", "母婴", "Baby & Kids",
        {
            "diapers": ("纸尿裤", (Leaf("diapers", "纸尿裤", "Diapers", 150.0),)),
            "formula": ("奶粉", (Leaf("infant_formula", "婴儿奶粉", "Infant Formula", 310.0),)),
            "toys": ("玩具", (Leaf("building_blocks", "积木", "Building Blocks", 380.0),
                            Leaf("plush", "毛绒玩具", "Plush Toy", 85.0))),
        },
        ("帮宝适", "花王", "飞鹤", "爱他美", "LEGO", "好孩子", "贝亲"),
        ("S码", "M码", "L码", "3段", "礼盒"),
        ("安心", "柔软", "益智", "Gentle"),
        colours=("white", "pink", "blue", "yellow"),
        materials=("cotton", "plastic", "wood"),
    ),
    TopCategory(
        "pets", "宠物", "Pets",
        {
            "pet_food": ("宠物食品", (Leaf("dog_food", "狗粮", "Dog Food", 210.0),
                                  Leaf("cat_food", "猫粮", "Cat Food", 180.0))),
            "pet_supplies": ("宠物用品", (Leaf("cat_litter", "猫砂", "Cat Litter", 60.0),
                                      Leaf("pet_toy", "宠物玩具", "Pet Toy", 40.0))),
        },
        ("皇家", "麦富迪", "Pedigree", "Whiskas", "Orijen", "网易严选宠物"),
        ("2kg", "10kg", "组合装"),
        ("天然", "无谷", "Grain-free"),
        materials=("plastic", "tofu", "bentonite"),
    ),
    TopCategory(
        "appliances", "家电", "Appliances",
        {
            "kitchen_appliances": ("厨房电器", (Leaf("rice_cooker", "电饭煲", "Rice Cooker", 420.0),
                                            Leaf("air_fryer", "空气炸锅", "Air Fryer", 360.0))),
            "personal_care": ("个护电器", (Leaf("hair_dryer", "吹风机", "Hair Dryer", 320.0),
                                       Leaf("shaver", "剃须刀", "Shaver", 290.0))),
            "large_appliances": ("大家电", (Leaf("refrigerator", "冰箱", "Refrigerator", 3200.0),
                                         Leaf("washer", "洗衣机", "Washing Machine", 2600.0))),
        },
        ("美的", "格力", "海尔", "Dyson", "Philips", "九阳", "Panasonic"),
        ("3L", "5L", "Pro", "2024款"),
        ("智能", "变频", "静音", "Smart"),
        colours=("white", "black", "silver", "pink"),
        styles=("modern", "minimalist"),
        materials=("plastic", "stainless_steel"),
    ),
)

N_CATEGORIES = len(CATEGORIES)

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
                        texts.append(f"{first[s]}, {second[s].lower()}. {end}")
        out.append(texts)
    return out


# REVIEW_TEXTS[language][sentiment] -> list of texts; language 0 zh, 1 en.
REVIEW_TEXTS = (_review_texts(_ZH_ASPECTS, _ZH_ENDINGS, True), _review_texts(_EN_ASPECTS, _EN_ENDINGS, False))

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
