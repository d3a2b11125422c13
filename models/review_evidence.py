"""Evidence a moderator can read (Chinese and English, with the numbers) and the moderation action per review.

Evidence is a fixed vocabulary of facts about the review's context, each stated only when it is notable, so the
same feature value always reads the same way; facts are ordered by how much the fitted model relies on the
feature (gain importance), strongest first. The action comes from a rules table the platform can change without
retraining: the first matching rule wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

LABELS = ("genuine", "suspicious", "fake")
ACTIONS = ("publish", "hold", "hide")
TEXT_PROBABILITY = "text_probability"
CAMPAIGN_SIZE = "campaign_size"


@dataclass(frozen=True)
class Fact:
    """One kind of evidence: when it is notable and how it reads."""

    feature: str
    notable: Callable[[float], bool]
    zh: Callable[[float], str]
    en: Callable[[float], str]


def _n(v: float) -> int:
    return round(v)


FACTS: tuple[Fact, ...] = (
    Fact("device_shared_accounts", lambda v: v >= 3, lambda v: f"设备被{_n(v)}个账号共用",
         lambda v: f"device shared by {_n(v)} accounts"),
    Fact("near_duplicate_count_30d", lambda v: v >= 2, lambda v: f"30天内与{_n(v)}条评价近似重复",
         lambda v: f"near-duplicate of {_n(v)} reviews in 30 days"),
    Fact("product_reviews_24h", lambda v: v >= 10, lambda v: f"该商品24小时内共{_n(v) + 1}条评价，本条是其中之一",
         lambda v: f"one of {_n(v) + 1} reviews on this SKU within 24 h"),
    Fact("verified_purchase", lambda v: v == 0, lambda v: "未购买过该商品", lambda v: "no purchase of this SKU"),
    Fact("account_age_days", lambda v: v <= 14, lambda v: f"账号注册仅{max(_n(v), 0)}天",
         lambda v: f"account {max(_n(v), 0)} days old"),
    Fact("reviewer_reviews_1d", lambda v: v >= 3, lambda v: f"该账号24小时内已发{_n(v)}条评价",
         lambda v: f"{_n(v)} reviews by this account in the previous 24 h"),
    Fact("rating_deviation", lambda v: abs(v) >= 2,
         lambda v: f"评分比该商品此前均分{'高' if v > 0 else '低'}{abs(v):.1f}星",
         lambda v: f"rating {abs(v):.1f} stars {'above' if v > 0 else 'below'} this SKU's earlier mean"),
    Fact(TEXT_PROBABILITY, lambda v: v >= 0.8, lambda v: f"文本与虚假评价相似（文本得分{v:.2f}）",
         lambda v: f"text resembles fake reviews (text score {v:.2f})"),
    Fact(CAMPAIGN_SIZE, lambda v: v >= 3, lambda v: f"属于一个{_n(v)}条评价的疑似刷单团伙",
         lambda v: f"part of a suspected campaign of {_n(v)} reviews"),
)  # fmt: skip


def float_column(column: object) -> np.ndarray:
    """A frame's column or a list/array as float64, missing values NaN."""
    if isinstance(column, pd.Series):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(column, dtype="float64")


def evidence(
    frame: pd.DataFrame | Mapping[str, object], importance: dict[str, float], top_k: int = 4, n: int | None = None
) -> list[list[dict[str, object]]]:
    """Per row, up to ``top_k`` notable facts ``{feature, value, zh, en}``, most relied-on feature first.

    ``frame`` is a frame or ``n`` rows as columns by name (a request's raw reviews need no frame). Facts whose
    feature it lacks (a dataset without orders has no ``verified_purchase``) are never stated.
    """
    facts = sorted((f for f in FACTS if f.feature in frame), key=lambda f: -importance.get(f.feature, 0.0))
    values = {f.feature: float_column(frame[f.feature]) for f in facts}
    out: list[list[dict[str, object]]] = []
    for i in range(len(frame) if n is None else n):
        row: list[dict[str, object]] = []
        for fact in facts:
            v = values[fact.feature][i]
            if np.isnan(v) or not fact.notable(v):
                continue
            row.append({"feature": fact.feature, "value": float(v), "zh": fact.zh(v), "en": fact.en(v)})
            if len(row) == top_k:
                break
        out.append(row)
    return out


@dataclass(frozen=True)
class ActionRule:
    """When ``label`` matches (None = any), the probability is at least ``min_probability`` and the review sits in a
    campaign of at least ``min_campaign_size`` reviews, take ``action``."""

    action: str
    label: str | None = None
    min_probability: float = 0.0
    min_campaign_size: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {self.action!r}")
        if self.label is not None and self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS} or None, got {self.label!r}")


#: fake -> hide; suspicious -> hold for a moderator; a "genuine" review inside a campaign of 5+ -> hold; else publish.
DEFAULT_RULES: tuple[ActionRule, ...] = (
    ActionRule("hide", label="fake"),
    ActionRule("hold", label="suspicious"),
    ActionRule("hold", min_campaign_size=5),
    ActionRule("publish"),
)


def actions(
    labels: Sequence[str], probability: np.ndarray, campaign_size: np.ndarray, rules: Sequence[ActionRule]
) -> list[str]:
    """The first matching rule's action per review; a table without a catch-all falls back to "hold" (never
    publishes by omission)."""
    out = []
    for label, p, size in zip(labels, probability, campaign_size, strict=True):
        match = next(
            (r for r in rules if (r.label is None or r.label == label) and p >= r.min_probability
             and size >= r.min_campaign_size),
            None,
        )  # fmt: skip
        out.append(match.action if match is not None else "hold")
    return out
