"""A seeded synthetic user-feature frame for model tests, with columns named like ``USER_FEATURES``.

Each user has a latent purchase rate and order value and may already have gone silent ("dead") at some point in
the past; alive users may die in the label window, more likely after unresolved tickets and late deliveries. So
churn rises with recency and bad experiences and falls with frequency, as the handbooks describe, and the true
directions match the classifier's monotone constraints. The real end-to-end data comes from the feature pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import columns as c

CHURNED = "churned"
FUTURE_SPEND = "future_spend"
WINDOWS = (30, 90, 180, 365)


def _orders(rng: np.random.Generator, rate: np.ndarray, start: np.ndarray, end: np.ndarray) -> pd.DataFrame:
    """Poisson orders per user at whole-day ages uniform in [start, end] (days before the cutoff)."""
    counts = rng.poisson(rate * (end - start))
    user = np.repeat(np.arange(rate.size), counts)
    age = np.floor(start[user] + rng.random(user.size) * (end[user] - start[user]))
    return pd.DataFrame({"user": user, "age": age})


def _order_features(ov: pd.DataFrame, n: int) -> pd.DataFrame:
    g = ov.groupby("user")
    out = pd.DataFrame(index=pd.RangeIndex(n))
    out["recency_days"] = g["age"].min()
    out["orders_total"] = g.size()
    out["spend_total"] = g["value"].sum()
    for days in WINDOWS:
        inside = ov[ov["age"] <= days].groupby("user")
        out[f"orders_{days}d"] = inside.size()
        out[f"spend_{days}d"] = inside["value"].sum()
    out["orders_prev_90d"] = ov[(ov["age"] > 90) & (ov["age"] <= 180)].groupby("user").size()
    counts = [col for col in out.columns if col.startswith(("orders_", "spend_"))]
    return out.fillna({col: 0 for col in counts})


def _ratio(num: np.ndarray | pd.Series, den: np.ndarray | pd.Series) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _experience(rng: np.random.Generator, f: pd.DataFrame) -> None:
    """Service, delivery, review and return features (in place)."""
    n, orders = len(f), f["orders_total"].to_numpy().astype(int)
    f["tickets_unresolved"] = rng.poisson(0.15, n)
    f["tickets_total"] = f["tickets_unresolved"] + rng.poisson(0.4, n)
    f["late_deliveries"] = rng.binomial(orders, 0.08)
    delay = rng.gamma(2.0, 1.0, n) * f["late_deliveries"]
    f["mean_delivery_delay_days"] = _ratio(delay, orders)
    f["reviews_written"] = rng.binomial(orders, 0.3)
    f["mean_rating_given"] = np.where(f["reviews_written"] > 0, np.clip(rng.normal(4.4, 0.5, n), 1, 5), np.nan)
    f["return_rate"] = np.where(orders > 0, rng.beta(1, 12, n), np.nan)
    f["refund_rate"] = f["return_rate"] * 0.9
    f["discount_share"] = np.where(orders > 0, rng.beta(2, 8, n), np.nan)
    f["coupon_order_share"] = _ratio(rng.binomial(orders, 0.3), orders)
    f["distinct_categories"] = np.minimum(orders, 1 + rng.poisson(0.3 * orders))


def _browsing(
    rng: np.random.Generator, f: pd.DataFrame, rate: np.ndarray, dead: np.ndarray, dead_age: np.ndarray
) -> None:
    """Views, carts and days since last event: alive users browse in proportion to their purchase rate."""
    n = len(f)
    alive = ~dead
    intensity = np.where(alive, rate * 8, 0.002)
    f["views_30d"] = rng.poisson(intensity * 30)
    f["views_7d"] = rng.binomial(f["views_30d"], 7 / 30)
    f["carts_30d"] = rng.binomial(f["views_30d"], 0.2)
    f["carts_7d"] = rng.binomial(f["carts_30d"], 7 / 30)
    gap = rng.exponential(1 / np.maximum(rate * 8, 1e-3)) + np.where(alive, 0.0, dead_age)
    f["days_since_last_event"] = np.floor(np.minimum(gap, f["tenure_days"]))
    f.loc[rng.random(n) < 0.03, "days_since_last_event"] = np.nan


def _labels(rng: np.random.Generator, f: pd.DataFrame, rate: np.ndarray, aov: np.ndarray, dead: np.ndarray) -> None:
    """Churn in the next 90 days and spend in the next 180, from the latent state (in place)."""
    n = len(f)
    late_share = np.nan_to_num(_ratio(f["late_deliveries"], f["orders_total"]))
    hazard = 0.05 + 0.35 * f["tickets_unresolved"].to_numpy() + 1.5 * late_share
    dies = rng.random(n) < 1 - np.exp(-hazard)
    alive = ~dead & ~dies
    wins_back = dead & (rng.random(n) < 0.03)
    future_rate = np.where(alive, rate, np.where(wins_back, 1 / 60, 0.0))
    orders_90 = rng.poisson(future_rate * 90)
    orders_180 = orders_90 + rng.poisson(future_rate * 90)
    f[CHURNED] = (orders_90 == 0).astype(int)
    f[FUTURE_SPEND] = orders_180 * aov * rng.lognormal(0, 0.2, n)
    f["predicted_ltv"] = future_rate * 180 * aov * rng.lognormal(0, 0.3, n)


def make_user_frame(n: int = 12000, seed: int = 0) -> pd.DataFrame:
    """``n`` users: ``user_id``, user features, labels ``churned`` / ``future_spend`` and a noisy ``predicted_ltv``."""
    rng = np.random.default_rng(seed)
    tenure = np.ceil(rng.uniform(1, 900, n))
    rate = rng.lognormal(np.log(4 / 365), 0.9, n)
    aov = rng.lognormal(np.log(150), 0.5, n)
    dead = rng.random(n) < 0.35
    dead_age = np.where(dead, np.floor(rng.uniform(0, 1, n) * tenure), 0.0)
    ov = _orders(rng, rate, dead_age, tenure)
    ov["value"] = aov[ov["user"]] * rng.lognormal(0, 0.3, len(ov))
    f = _order_features(ov, n)
    f.insert(0, c.USER_ID, [f"u{i:06d}" for i in range(n)])
    f.insert(2, "tenure_days", tenure)
    f["avg_order_value"] = _ratio(f["spend_total"], f["orders_total"])
    trend_den = f["orders_90d"] + f["orders_prev_90d"]
    f["order_trend_90d"] = _ratio(f["orders_90d"] - f["orders_prev_90d"], trend_den)
    f = f.drop(columns="orders_prev_90d")
    _experience(rng, f)
    _browsing(rng, f, rate, dead, dead_age)
    _labels(rng, f, rate, aov, dead)
    return f


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model inputs: everything but the id, the labels and the (tiering-only) predicted value."""
    return [col for col in frame.columns if col not in (c.USER_ID, CHURNED, FUTURE_SPEND, "predicted_ltv")]
