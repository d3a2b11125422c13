"""Readable churn reasons from per-feature contributions (TreeSHAP on the log-odds), in Chinese and English.

Operators act on "距上次购买 45 天, raises risk", not on a column name and a number; these labels are the
vocabulary of the reports and the service. Re-exported by :mod:`models.churn`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

BIAS = "bias"

FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "recency_days": ("距上次购买天数", "days since last order"),
    "tenure_days": ("注册天数", "days since signup"),
    "first_order_days": ("距首次购买天数", "days since first order"),
    "orders_total": ("累计订单数", "orders ever"),
    "spend_total": ("累计消费金额", "spend ever"),
    "orders_30d": ("近30天订单数", "orders in last 30 days"),
    "spend_30d": ("近30天消费金额", "spend in last 30 days"),
    "orders_90d": ("近90天订单数", "orders in last 90 days"),
    "spend_90d": ("近90天消费金额", "spend in last 90 days"),
    "orders_180d": ("近180天订单数", "orders in last 180 days"),
    "spend_180d": ("近180天消费金额", "spend in last 180 days"),
    "orders_365d": ("近一年订单数", "orders in last year"),
    "spend_365d": ("近一年消费金额", "spend in last year"),
    "avg_order_value": ("客单价", "average order value"),
    "order_trend_90d": ("近90天下单趋势", "order trend over 90 days"),
    "distinct_categories": ("购买品类数", "categories bought"),
    "discount_share": ("折扣占比", "share of value discounted"),
    "coupon_order_share": ("用券订单占比", "share of orders with a coupon"),
    "return_rate": ("退货率", "return rate"),
    "refund_rate": ("退款率", "refund rate"),
    "tickets_total": ("客服工单数", "service tickets"),
    "tickets_unresolved": ("未解决工单数", "unresolved service tickets"),
    "late_deliveries": ("延迟配送次数", "late deliveries"),
    "mean_delivery_delay_days": ("平均配送延迟天数", "mean delivery delay (days)"),
    "reviews_written": ("评价数", "reviews written"),
    "mean_rating_given": ("平均评分", "mean rating given"),
    "views_7d": ("近7天浏览次数", "product views in last 7 days"),
    "views_30d": ("近30天浏览次数", "product views in last 30 days"),
    "carts_7d": ("近7天加购次数", "add-to-carts in last 7 days"),
    "carts_30d": ("近30天加购次数", "add-to-carts in last 30 days"),
    "days_since_last_event": ("距上次浏览天数", "days since last visit"),
    "predicted_ltv": ("预测未来消费", "predicted future spend"),
    "btyd_p_no_order": ("周期内不复购概率 (BG/NBD)", "chance of no order in the horizon (BG/NBD)"),
    "btyd_p_alive": ("仍活跃概率 (BG/NBD)", "probability still an active customer (BG/NBD)"),
    "overdue_ratio": ("超出平时购买间隔倍数", "days since last order / usual gap between orders"),
    "btyd_expected_spend": ("预期周期内消费 (BG/NBD)", "expected spend in the horizon (BG/NBD)"),
}


@dataclass
class Reason:
    """One feature's push on a user's churn risk: its value and its contribution to the log-odds."""

    feature: str
    label_zh: str
    label_en: str
    value: float | None
    contribution: float
    direction: Literal["raises", "lowers"]


def feature_label(feature: str) -> tuple[str, str]:
    """(zh, en) label of a feature; unknown features fall back to their column name rather than failing."""
    return FEATURE_LABELS.get(feature, (feature, feature.replace("_", " ")))


def _value(x: object) -> float | None:
    value = float(x)  # type: ignore[arg-type]
    return None if np.isnan(value) else value


def top_reasons(contributions: pd.DataFrame, X: pd.DataFrame, top_k: int = 3) -> list[list[Reason]]:
    """The ``top_k`` features with the largest |contribution| per row, strongest first, ``bias`` excluded.

    Rows of ``contributions`` and ``X`` are matched by position. Features contributing exactly zero are not
    reasons, so a row can have fewer than ``top_k``; ties keep the feature order. With ``top_k`` = all features,
    the contributions plus ``bias`` sum to the model's raw log-odds. A column the model derives itself (e.g. the
    churn classifier's BG/NBD inputs) that ``X`` does not hold is a reason with value None; pass the model's own
    frame (``ChurnClassifier.model_frame``) to get its values.
    """
    if top_k < 1:
        raise ValueError("top_k must be >= 1")
    if len(contributions) != len(X):
        raise ValueError(f"{len(contributions)} contribution rows for {len(X)} feature rows")
    names = [n for n in contributions.columns if n != BIAS]
    phi = contributions[names].to_numpy(dtype="float64")
    values = X.reindex(columns=names).to_numpy(dtype="float64")
    return top_reasons_array(phi, values, names, top_k)


def top_reasons_array(phi: np.ndarray, values: np.ndarray, names: list[str], top_k: int = 3) -> list[list[Reason]]:
    """:func:`top_reasons` on arrays: ``phi`` and ``values`` of shape (n, len(names)), no ``bias`` column."""
    if top_k < 1:
        raise ValueError("top_k must be >= 1")
    order = np.argsort(-np.abs(phi), axis=1, kind="stable")[:, :top_k]
    labels = [feature_label(n) for n in names]
    out: list[list[Reason]] = []
    for i, row in enumerate(order):
        reasons = []
        for j in row:
            if phi[i, j] == 0:
                continue
            zh, en = labels[j]
            direction: Literal["raises", "lowers"] = "raises" if phi[i, j] > 0 else "lowers"
            reasons.append(Reason(names[j], zh, en, _value(values[i, j]), float(phi[i, j]), direction))
        out.append(reasons)
    return out
