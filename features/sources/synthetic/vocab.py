"""Static vocabularies of the synthetic world: categories and item types, brands, cities, names.

Pure data, so that the generators read like the handbook and the numbers live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: tuple[str, ...] = ("服装", "美妆", "数码", "家居", "食品生鲜", "母婴", "运动户外", "图书")

# Share of the catalogue per category (the platform is apparel- and beauty-heavy, like Taobao).
CATEGORY_SHARE: tuple[float, ...] = (0.24, 0.15, 0.12, 0.14, 0.13, 0.09, 0.08, 0.05)

# Base return probability per delivered line (apparel: size and fit; food almost never).
RETURN_RATE: tuple[float, ...] = (0.14, 0.03, 0.05, 0.04, 0.01, 0.03, 0.07, 0.01)

# Mean extra units per line beyond the first (food and nappies come in multiples).
EXTRA_UNITS: tuple[float, ...] = (0.12, 0.3, 0.05, 0.2, 0.7, 0.5, 0.1, 0.2)

# Chance that a line is a re-purchase of the buyer's last item in the category family (consumables).
REPEAT_RATE: tuple[float, ...] = (0.03, 0.25, 0.02, 0.05, 0.3, 0.35, 0.05, 0.02)


@dataclass(frozen=True)
class ItemType:
    """A product type inside a category, with its own season and price level."""

    name: str
    category: str
    peak_doy: int  # day of year of the seasonal peak
    amp: float  # log amplitude of seasonality (0 = flat)
    width: float  # 1 = broad season, small = narrow
    median_price: float  # yuan


def _types(category: str, rows: list[tuple[str, int, float, float, float]]) -> list[ItemType]:
    return [ItemType(name, category, peak, amp, width, price) for name, peak, amp, width, price in rows]


ITEM_TYPES: tuple[ItemType, ...] = tuple(
    _types("服装", [("羽绒服", 355, 1.6, 0.5, 499), ("T恤", 190, 0.9, 1.0, 69), ("连衣裙", 165, 0.8, 0.8, 159),
                  ("卫衣", 290, 0.6, 1.0, 129), ("牛仔裤", 100, 0.1, 1.0, 139), ("毛衣", 340, 1.0, 0.7, 199)])
    + _types("美妆", [("面膜", 60, 0.1, 1.0, 89), ("口红", 60, 0.2, 1.0, 229), ("精华液", 300, 0.2, 1.0, 399),
                    ("防晒霜", 180, 1.0, 0.6, 129), ("洗面奶", 0, 0.05, 1.0, 69)])
    + _types("数码", [("手机", 170, 0.3, 1.0, 2499), ("蓝牙耳机", 170, 0.2, 1.0, 199), ("充电宝", 30, 0.1, 1.0, 99),
                    ("平板电脑", 240, 0.4, 0.7, 2999), ("智能手表", 170, 0.2, 1.0, 899)])
    + _types("家居", [("四件套", 280, 0.3, 1.0, 299), ("收纳箱", 70, 0.2, 1.0, 59), ("电风扇", 185, 1.5, 0.5, 199),
                    ("取暖器", 5, 1.5, 0.5, 249), ("台灯", 240, 0.2, 1.0, 129), ("毛毯", 340, 0.9, 0.7, 159)])
    + _types("食品生鲜", [("坚果礼盒", 20, 1.0, 0.3, 129), ("车厘子", 15, 1.2, 0.3, 169), ("牛奶", 0, 0.05, 1.0, 69),
                      ("大米", 0, 0.05, 1.0, 59), ("零食大礼包", 30, 0.4, 0.6, 79), ("月饼", 255, 2.2, 0.08, 159)])
    + _types("母婴", [("纸尿裤", 0, 0.05, 1.0, 139), ("奶粉", 0, 0.05, 1.0, 299), ("婴儿湿巾", 0, 0.05, 1.0, 49),
                    ("儿童玩具", 152, 0.5, 0.4, 149)])
    + _types("运动户外", [("跑步鞋", 110, 0.3, 1.0, 459), ("瑜伽垫", 100, 0.2, 1.0, 89), ("泳衣", 190, 1.5, 0.4, 139),
                      ("帐篷", 130, 0.9, 0.5, 399), ("滑雪服", 5, 1.6, 0.4, 699)])
    + _types("图书", [("教辅", 240, 1.0, 0.3, 39), ("小说", 200, 0.1, 1.0, 45), ("童书", 152, 0.3, 0.6, 59)])
)  # fmt: skip

ADJECTIVES: dict[str, tuple[str, ...]] = {
    "服装": ("加厚保暖", "修身显瘦", "宽松百搭", "韩版潮流", "纯棉透气", "简约休闲", "复古文艺"),
    "美妆": ("补水保湿", "持久不脱色", "温和无刺激", "美白提亮", "清爽控油", "敏感肌可用"),
    "数码": ("旗舰款", "超长续航", "快充版", "轻薄便携", "降噪版", "高配版"),
    "家居": ("北欧风", "静音节能", "大容量", "简约现代", "加厚款", "多功能"),
    "食品生鲜": ("新鲜直达", "年货精选", "家庭装", "产地直发", "无添加", "礼盒装"),
    "母婴": ("超薄透气", "婴幼儿专用", "无香型", "益智早教", "大包装", "柔软亲肤"),
    "运动户外": ("专业级", "轻量透气", "防水防滑", "减震缓冲", "便携折叠", "户外专用"),
    "图书": ("全新正版", "彩图版", "精装版", "2024新版", "套装", "畅销版"),
}

SPECS: dict[str, tuple[str, ...]] = {
    "服装": ("S码", "M码", "L码", "XL码", "均码"),
    "美妆": ("30ml", "50ml", "100ml", "3.5g", "套装"),
    "数码": ("128G", "256G", "黑色", "白色", "标准版"),
    "家居": ("1.5m床", "1.8m床", "单只装", "两件套", "标准款"),
    "食品生鲜": ("500g", "1kg", "2.5kg", "5kg", "10袋装"),
    "母婴": ("S码", "M码", "L码", "80抽", "900g"),
    "运动户外": ("39码", "41码", "43码", "均码", "双人款"),
    "图书": ("全1册", "全3册", "全6册", "上下册", "单本"),
}

BRAND_HEADS = ("优", "星", "云", "暖", "北", "极", "悦", "素", "雅", "尚", "川", "禾", "初", "森", "锦", "木",
               "鹿", "青", "元", "知")  # fmt: skip
BRAND_TAILS = ("品", "河", "帆", "阳", "辰", "然", "家", "格", "屿", "语", "舍", "光", "朵", "系", "集", "纪")

# (city, tier, weight): tier drives transit time; weight is the share of users.
CITIES: tuple[tuple[str, int, float], ...] = (
    ("上海", 1, 7.0), ("北京", 1, 6.5), ("广州", 1, 5.5), ("深圳", 1, 5.5), ("杭州", 2, 4.5), ("成都", 2, 4.5),
    ("重庆", 2, 4.0), ("武汉", 2, 3.8), ("南京", 2, 3.5), ("西安", 2, 3.2), ("苏州", 2, 3.0), ("天津", 2, 3.0),
    ("长沙", 2, 2.6), ("郑州", 2, 2.6), ("东莞", 2, 2.4), ("青岛", 2, 2.2), ("沈阳", 2, 2.0), ("宁波", 2, 2.0),
    ("昆明", 3, 1.8), ("合肥", 3, 1.8), ("佛山", 3, 1.8), ("福州", 3, 1.6), ("厦门", 3, 1.5), ("济南", 3, 1.5),
    ("哈尔滨", 3, 1.4), ("南宁", 3, 1.3), ("贵阳", 3, 1.2), ("南昌", 3, 1.2), ("石家庄", 3, 1.2), ("太原", 3, 1.0),
    ("兰州", 4, 0.8), ("乌鲁木齐", 4, 0.7), ("呼和浩特", 4, 0.6), ("银川", 4, 0.4), ("西宁", 4, 0.3), ("拉萨", 4, 0.2),
)  # fmt: skip

SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
            "林", "罗", "高", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹")  # fmt: skip
GIVEN_CHARS = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
               "秀", "霞", "平", "刚", "桂", "文", "华", "建", "国", "红", "玉", "欣", "宇", "浩", "婷", "雪", "晨",
               "子", "涵", "梓", "轩", "怡", "佳")  # fmt: skip
NICK_PREFIX = ("小", "阿", "大", "老")

# China Mobile / Unicom / Telecom style prefixes.
PHONE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "157",
                  "158", "159", "166", "176", "177", "180", "181", "182", "186", "187", "188", "189", "191", "199")  # fmt: skip

ACQUISITION_CHANNELS = ("organic", "search_ads", "social", "livestream", "referral")
ACQUISITION_WEIGHTS = (0.40, 0.20, 0.15, 0.15, 0.10)
ORDER_CHANNELS = ("app", "mini_program", "web")

RETURN_REASONS = {
    "defect": "质量问题",
    "wrong_item": "发错货",
    "size": "尺码不合适",
    "dislike": "不喜欢/效果不好",
    "no_reason": "七天无理由退货",
    "late": "物流太慢",
}

SUPPLIER_SUFFIXES = ("贸易有限公司", "实业有限公司", "供应链有限公司", "科技有限公司", "电子商务有限公司")
