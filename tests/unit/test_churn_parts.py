"""Pure churn helpers: risk thresholds and bands, readable reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.users import USER_FEATURES
from models.churn import FEATURE_LABELS, RiskThresholds, choose_risk_thresholds, risk_band, top_reasons

pytestmark = pytest.mark.unit


def test_every_user_feature_has_labels() -> None:
    for feat in USER_FEATURES.features:
        zh, en = FEATURE_LABELS[feat.name]
        assert zh and en


def test_risk_band_edges() -> None:
    t = RiskThresholds(0.3, 0.6, 0.9)
    bands = risk_band([0.0, 0.3, 0.59, 0.6, 0.9, 1.0], t)
    assert list(bands) == ["low", "medium", "medium", "high", "critical", "critical"]
    with pytest.raises(ValueError):
        RiskThresholds(0.5, 0.4, 0.9)
    with pytest.raises(ValueError):
        risk_band([np.nan], t)


def test_thresholds_meet_band_churn_rates_and_shares_on_validation() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(1.5, 3, 20000)
    y = (rng.random(p.size) < p).astype(int)
    t = choose_risk_thresholds(p, y)
    assert t.medium < t.high < t.critical < 1
    bands = risk_band(p, t)
    for band, rate, share in zip(("medium", "high", "critical"), (0.3, 0.6, 0.85), (0.5, 0.25, 0.1), strict=True):
        assert y[bands == band].mean() >= rate
        assert (p >= getattr(t, band)).mean() <= share
    assert y[bands == "low"].mean() < 0.3


def test_unreachable_band_is_empty() -> None:
    p = np.full(1000, 0.2)
    y = (np.arange(1000) % 5 == 0).astype(int)
    t = choose_risk_thresholds(p, y)
    assert t.medium == t.high == t.critical == float("inf")
    assert set(risk_band(p, t)) == {"low"}


def test_top_reasons_by_hand() -> None:
    phi = pd.DataFrame(
        {"recency_days": [0.8, 0.0], "orders_90d": [-0.3, -0.5], "tickets_unresolved": [0.1, 0.0], "bias": [0.2, 0.2]}
    )
    x = pd.DataFrame({"recency_days": [120.0, np.nan], "orders_90d": [0, 4], "tickets_unresolved": [1, 0]})
    reasons = top_reasons(phi, x, top_k=2)
    assert [r.feature for r in reasons[0]] == ["recency_days", "orders_90d"]
    assert reasons[0][0].direction == "raises" and reasons[0][1].direction == "lowers"
    assert reasons[0][0].label_zh == "距上次购买天数" and reasons[0][0].value == 120.0
    assert [r.feature for r in reasons[1]] == ["orders_90d"]
    assert top_reasons(phi.iloc[1:], x.iloc[1:], top_k=3)[0][0].value == 4.0
    with pytest.raises(ValueError, match="rows"):
        top_reasons(phi, x.iloc[:1])
