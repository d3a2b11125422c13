"""Pure churn helpers: risk thresholds and bands, readable reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.users import USER_FEATURES
from models.churn import FEATURE_LABELS, RiskThresholds, choose_risk_thresholds, risk_band, top_reasons
from models.recall import explain_action, recall_action
from models.risk import odds_threshold

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
    tied = RiskThresholds(0.5, 0.5, 0.5)  # bounds may coincide: the highest band reached wins
    assert list(risk_band([0.49, 0.5, 0.51], tied)) == ["low", "critical", "critical"]
    assert list(risk_band([0.2, 0.7], RiskThresholds(0.2, 0.7, float("inf")))) == ["medium", "high"]


def _scored(base_rate: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated scores of a model that ranks users (Beta-distributed risk with the given mean) and their labels."""
    rng = np.random.default_rng(seed)
    concentration = 4.0
    p = rng.beta(base_rate * concentration, (1 - base_rate) * concentration, n)
    return p, (rng.random(n) < p).astype(int)


@pytest.mark.parametrize("base_rate", [0.05, 0.3, 0.7])
def test_bands_follow_the_shops_base_rate_and_order_churn(base_rate: float) -> None:
    p_val, y_val = _scored(base_rate, 20000, seed=0)
    t = choose_risk_thresholds(p_val, y_val)
    assert t.base_rate == pytest.approx(y_val.mean())
    assert t.medium == pytest.approx(odds_threshold(t.base_rate, 0.5)) and t.medium < t.base_rate < t.high
    assert t.high < t.critical < 1 and (p_val >= t.critical).mean() <= 0.1
    p, y = _scored(base_rate, 20000, seed=1)
    bands = risk_band(p, t)
    rates = pd.Series(y).groupby(bands).mean().reindex(["low", "medium", "high", "critical"])
    assert rates.is_monotonic_increasing and rates.notna().all()
    assert rates["low"] < base_rate < rates["high"]


def test_a_shop_where_most_customers_churn_is_not_mostly_low_with_no_action() -> None:
    """Issue 9: where ~70% of active customers do not return, most users must not land in `low` / `none`."""
    p_val, y_val = _scored(0.7, 20000, seed=2)
    t = choose_risk_thresholds(p_val, y_val)
    p, y = _scored(0.7, 20000, seed=3)
    bands = risk_band(p, t)
    actions = np.array([recall_action("*", b).action for b in bands])
    assert (bands == "low").mean() < 0.3
    assert (actions == "none").mean() < 0.3
    assert y[actions != "none"].sum() > 0.85 * y.sum()  # the churners are reached
    assert "0.70" in t.rule() or f"{t.base_rate:.2f}" in t.rule()


def test_band_rule_is_one_line_with_the_numbers() -> None:
    p_val, y_val = _scored(0.7, 5000, seed=4)
    t = choose_risk_thresholds(p_val, y_val)
    for prob in (0.1, float(t.medium), float(t.high), 0.999):
        band = str(risk_band([prob], t)[0])
        rule = recall_action("active", band)
        line = explain_action(prob, band, "active", rule, t)
        assert "\n" not in line and f"{prob:.2f}" in line and band in line and rule.action in line
        assert f"{t.base_rate:.2f}" in line or band == "critical"
    assert "\n" not in t.rule() and f"{t.high:.2f}" in t.rule()


def test_unreachable_band_is_empty() -> None:
    """A model that scores everyone alike splits nobody: no critical list, one band for all."""
    p = np.full(1000, 0.2)
    y = (np.arange(1000) % 5 == 0).astype(int)
    t = choose_risk_thresholds(p, y)
    assert t.critical == float("inf")
    assert len(set(risk_band(p, t))) == 1


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
    derived = top_reasons(phi, x.drop(columns="tickets_unresolved"), top_k=3)
    assert derived[0][2].feature == "tickets_unresolved" and derived[0][2].value is None
