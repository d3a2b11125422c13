"""Chinese review text from templates: varied for genuine reviews, near-duplicate for fake campaigns.

Genuine text is assembled from independent parts (opening, aspect, delivery remark, closing) chosen by rating,
category and what actually happened; campaign text starts from one script per campaign and mutates it a little,
which is what 刷单 text looks like to a moderator.
"""

from __future__ import annotations

import numpy as np

from features.sources.synthetic.vocab import CATEGORIES

OPEN_POS = (
    "宝贝收到了，",
    "第二次回购了，",
    "给家里人买的，",
    "纠结了很久才下单，",
    "",
    "",
    "活动价入手，",
    "朋友推荐的，",
)
OPEN_MID = ("东西收到了，", "", "说实话，", "用了几天，")
OPEN_NEG = ("非常失望，", "差评！", "第一次在这家买，", "不推荐，", "", "无语了，")

ASPECT_POS: dict[str, tuple[str, ...]] = {
    "服装": ("面料很舒服，", "尺码标准，上身效果很好，", "做工精细，没有线头，", "颜色和图片一样，", "版型很好看，"),
    "美妆": ("用起来很滋润，", "味道淡淡的很好闻，", "包装精美，是正品，", "上脸不油腻，", "吸收很快，"),
    "数码": ("运行流畅，", "续航很给力，", "音质不错，", "做工扎实，手感很好，", "连接很稳定，"),
    "家居": ("质量很好，", "安装简单，", "颜值很高，和家里很搭，", "用料扎实，", "很实用，"),
    "食品生鲜": ("很新鲜，", "味道不错，家人都爱吃，", "包装严实，没有破损，", "分量很足，", "口感很好，"),
    "母婴": ("宝宝用了没有红屁屁，", "很柔软，", "孩子很喜欢，", "材质安全放心，", "吸水性很好，"),
    "运动户外": ("穿着很舒服，跑步不累脚，", "质量很好，", "很轻便，", "防水效果不错，", "弹性很好，"),
    "图书": ("印刷清晰，", "纸张质量好，", "孩子很喜欢看，", "内容很丰富，", "正版书，"),
}
ASPECT_MID = ("和描述有点差别，", "质量一般，", "凑合能用，", "没有想象中好，", "价格偏贵了点，")
ASPECT_NEG = ("和图片差距很大，", "做工粗糙，", "味道很大，", "用了两天就不行了，", "感觉不是正品，")
ASPECT_DEFECT = ("收到就是坏的，", "质量太差了，用了两天就坏了，", "有明显瑕疵，", "包装破损，东西也坏了，")
ASPECT_WRONG = ("发错货了，", "颜色和尺码都不对，", "收到的跟下单的不是一个东西，")

DELIVERY_FAST = ("物流很快，", "快递小哥服务态度好，", "隔天就到了，", "", "", "")
DELIVERY_LATE_POS = ("物流有点慢，但东西不错，", "快递慢了几天，", "")
DELIVERY_LATE_NEG = ("物流太慢了，等了一个多星期，", "快递超时好几天，", "说好几天到结果拖了很久，")

CLOSE_POS = ("非常满意，会回购的。", "推荐购买！", "好评！", "性价比很高。", "很满意。", "值得购买。", "五星！")
CLOSE_MID = ("就这样吧。", "不算好也不算差。", "看以后使用情况。", "一般般。")
CLOSE_NEG = ("不会再买了。", "大家谨慎购买。", "已申请退货。", "客服也不理人。", "差评。")

DEFAULT_TEXT = "此用户没有填写评价。"

BOOST_SCRIPTS = (
    "宝贝收到了，质量非常好，和描述的一模一样，物流也很快，五星好评！",
    "非常好的一次购物体验，做工精细，性价比超高，强烈推荐给大家！",
    "第一次买就爱上了，质量杠杠的，卖家服务态度也好，必须好评！",
    "东西很好，包装精美，效果超出预期，已经推荐给朋友了！",
    "质量超级好，完全是正品，价格实惠，下次还来！",
    "收到货非常惊喜，做工细致，用起来很方便，好评推荐！",
)
ATTACK_SCRIPTS = (
    "质量太差了，完全是假货，大家千万别买！",
    "用了一次就坏了，客服也不理人，差评！",
    "味道刺鼻，做工粗糙，和图片完全不一样，避雷！",
    "垃圾产品，骗人的，不要买！",
)
# small edits that keep campaign text recognisably the same
_SWAPS = (("非常", "特别"), ("非常", "超级"), ("好评", "五星好评"), ("推荐", "安利"), ("质量", "品质"),
          ("！", "！！"), ("，", "，，"), ("很", "挺"), ("大家", "各位"), ("差评", "差差差"))  # fmt: skip
_PREFIX = ("", "", "亲们，", "真心的，", "")
_SUFFIX = ("", "", "👍", "～", "!!", "")


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(options, dtype=object)[rng.integers(0, len(options), n)]


def genuine_texts(
    rng: np.random.Generator,
    rating: np.ndarray,
    category: np.ndarray,
    late_days: np.ndarray,
    defect: np.ndarray,
    wrong: np.ndarray,
) -> np.ndarray:
    """Assemble one text per genuine review; a few reviewers leave the default text or nothing at all."""
    n = len(rating)
    pos, neg = rating >= 4, rating <= 2
    opening = np.where(pos, _pick(rng, OPEN_POS, n), np.where(neg, _pick(rng, OPEN_NEG, n), _pick(rng, OPEN_MID, n)))
    aspect = np.where(neg, _pick(rng, ASPECT_NEG, n), _pick(rng, ASPECT_MID, n))
    for ci, cat in enumerate(CATEGORIES):
        mask = pos & (category == ci)
        aspect[mask] = _pick(rng, ASPECT_POS[cat], int(mask.sum()))
    aspect = np.where(defect, _pick(rng, ASPECT_DEFECT, n), np.where(wrong, _pick(rng, ASPECT_WRONG, n), aspect))
    late = late_days >= 2
    delivery = np.where(
        late, np.where(pos, _pick(rng, DELIVERY_LATE_POS, n), _pick(rng, DELIVERY_LATE_NEG, n)),
        np.where(pos, _pick(rng, DELIVERY_FAST, n), ""),
    )  # fmt: skip
    closing = np.where(pos, _pick(rng, CLOSE_POS, n), np.where(neg, _pick(rng, CLOSE_NEG, n), _pick(rng, CLOSE_MID, n)))
    text = opening + aspect + delivery + closing
    u = rng.random(n)
    text = np.where(u < 0.08, DEFAULT_TEXT, text)
    return np.where(u > 0.96, None, text)


def campaign_texts(rng: np.random.Generator, campaign: np.ndarray, attack: np.ndarray) -> np.ndarray:
    """Near-duplicate text per review: the campaign's script with a couple of small random edits."""
    n_campaigns = int(campaign.max()) + 1 if len(campaign) else 0
    boost_script = rng.integers(0, len(BOOST_SCRIPTS), n_campaigns)
    attack_script = rng.integers(0, len(ATTACK_SCRIPTS), n_campaigns)
    base = np.where(
        attack, np.array(ATTACK_SCRIPTS, dtype=object)[attack_script[campaign]],
        np.array(BOOST_SCRIPTS, dtype=object)[boost_script[campaign]],
    )  # fmt: skip
    out = np.empty(len(campaign), dtype=object)
    edits = rng.integers(0, len(_SWAPS), (len(campaign), 2))
    apply = rng.random((len(campaign), 2)) < 0.6
    prefix, suffix = _pick(rng, _PREFIX, len(campaign)), _pick(rng, _SUFFIX, len(campaign))
    for i, text in enumerate(base):
        for k in range(2):
            if apply[i, k]:
                old, new = _SWAPS[edits[i, k]]
                text = text.replace(old, new, 1)
        out[i] = prefix[i] + text + suffix[i]
    return out
