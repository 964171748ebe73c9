"""The category tree of the demo shop: 3 levels, brands and product attribute values per top
category, a median list price per leaf."""

from __future__ import annotations

from dataclasses import dataclass


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


# fmt: off
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
# fmt: on

N_CATEGORIES = len(CATEGORIES)
