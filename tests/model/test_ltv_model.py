"""Lifetime value: non-negative, deterministic, better than its baselines, BG/NBD right, and a leakage-free split."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from features import columns as c
from models import metrics
from models.btyd import BgNbdGammaGamma, order_value_param
from models.ltv import BgNbdLtv, CarriedForwardLtv, LtvRegressor, ltv_report, normalized_gini
from tests.synthetic_users import FUTURE_SPEND, feature_columns, make_user_frame
from training.datasets import LabelConfig, customer_dataset, ltv_days_for

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    frame = make_user_frame(10000, seed=3)
    return frame.iloc[:6000], frame.iloc[6000:], feature_columns(frame)


@pytest.fixture(scope="module")
def model(split) -> LtvRegressor:
    train, _, cols = split
    return LtvRegressor(n_estimators=200).fit(train[cols], train[FUTURE_SPEND])


def test_ltv_beats_the_naive_forecast_and_is_non_negative(split, model) -> None:
    train, test, cols = split
    pred = model.predict(test[cols])
    assert (pred >= 0).all()
    naive = test["spend_180d"].to_numpy()
    truth = test[FUTURE_SPEND].to_numpy()
    assert metrics.spearman(truth, pred) > metrics.spearman(truth, naive) + 0.1
    assert np.abs(truth - pred).mean() < np.abs(truth - naive).mean()
    assert pred.mean() == pytest.approx(truth.mean(), rel=0.15)
    again = LtvRegressor(n_estimators=200).fit(train[cols], train[FUTURE_SPEND])
    np.testing.assert_array_equal(again.predict(test[cols]), pred)


def test_ltv_beats_both_baselines_on_the_primary_metric(split, model) -> None:
    train, test, cols = split
    truth = test[FUTURE_SPEND]
    ours = ltv_report(truth, model.predict(test[cols]))
    for baseline in (CarriedForwardLtv(180), BgNbdLtv(180)):
        pred = baseline.fit(train[cols], train[FUTURE_SPEND]).predict(test[cols])
        assert (pred >= 0).all()
        theirs = ltv_report(truth, pred)
        assert ours["normalized_gini"] > theirs["normalized_gini"] + 0.02, type(baseline).__name__
    assert "btyd_expected_spend" in model.model_features_


def test_carried_forward_is_last_period_spend(split) -> None:
    _, test, cols = split
    np.testing.assert_allclose(CarriedForwardLtv(180).fit(test[cols]).predict(test[cols]), test["spend_180d"])
    np.testing.assert_allclose(
        CarriedForwardLtv(120).fit(test[cols]).predict(test[cols]), test["spend_180d"] * 120 / 180
    )


def test_ltv_rejects_negative_targets() -> None:
    frame = make_user_frame(200, seed=1)
    with pytest.raises(ValueError, match=">= 0"):
        LtvRegressor().fit(frame[feature_columns(frame)], -frame[FUTURE_SPEND] - 1)


def test_normalized_gini_bounds_ties_and_binary_auc() -> None:
    rng = np.random.default_rng(0)
    y = rng.gamma(0.5, 100, 500) * (rng.random(500) < 0.4)
    assert normalized_gini(y, y) == pytest.approx(1.0)
    assert normalized_gini(y, -y) < -0.5
    assert normalized_gini(y, np.ones_like(y)) == pytest.approx(0.0, abs=1e-12)
    binary = (rng.random(500) < 0.3).astype(float)
    score = 1 / (1 + np.exp(-(binary + rng.normal(0, 1, 500))))
    assert normalized_gini(binary, score) == pytest.approx(2 * metrics.roc_auc(binary, score) - 1, abs=1e-9)


def _simulate_bgnbd(n: int, T: float, params: dict[str, float], seed: int) -> pd.DataFrame:
    """Customers drawn from BG/NBD with known parameters: history up to T, plus lambda and alive for the truth."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    t, x, last = np.zeros(n), np.zeros(n), np.zeros(n)
    alive, active = np.ones(n, dtype=bool), np.ones(n, dtype=bool)
    while active.any():
        nxt = t + rng.exponential(1.0 / lam)
        buys = active & (nxt < T)
        x, last, t = x + buys, np.where(buys, nxt, last), np.where(buys, nxt, t)
        dies = buys & (rng.random(n) < p)  # BG/NBD: a customer may drop out right after each purchase
        alive &= ~dies
        active = buys & ~dies
    return pd.DataFrame({"x": x, "t_x": last, "lam": lam, "alive": alive})


def test_bgnbd_no_purchase_probability_matches_a_simulation() -> None:
    """P(no order in h days) from the closed form equals its simulated frequency, for known parameters."""
    params, T, h = {"r": 0.8, "alpha": 20.0, "a": 0.6, "b": 3.0}, 365.0, 90.0
    sim = _simulate_bgnbd(40000, T, params, seed=1)
    frame = pd.DataFrame(
        {
            "orders_total": sim["x"] + 1,
            "recency_days": T - sim["t_x"],
            "first_order_days": T,
            "avg_order_value": 100.0,
        }
    )
    model = BgNbdGammaGamma()
    model.bgnbd_params_ = params
    truth = np.where(sim["alive"], np.exp(-sim["lam"] * h), 1.0)
    predicted = model.p_no_purchase(frame, h)
    assert predicted.mean() == pytest.approx(truth.mean(), abs=0.01)
    for lo, hi in ((0, 1), (1, 4), (4, 1000)):
        group = (sim["x"] >= lo) & (sim["x"] < hi)
        assert predicted[group].mean() == pytest.approx(truth[group].mean(), abs=0.02), (lo, hi)


def test_bgnbd_formulas_agree_with_lifetimes() -> None:
    """The closed forms evaluated here reproduce ``lifetimes``' own, on its fitted parameters."""
    from lifetimes import BetaGeoFitter

    frame = make_user_frame(3000, seed=5)
    frame = frame[frame["orders_total"] > 0]
    model = BgNbdGammaGamma().fit(frame)
    ref = BetaGeoFitter()
    ref.params_ = pd.Series(model.bgnbd_params_)
    x = (frame["orders_total"] - 1).to_numpy()
    T = np.maximum(np.round(frame["tenure_days"].to_numpy()), 1.0)
    t_x = np.where(x > 0, np.clip(np.round(T - frame["recency_days"].to_numpy()), 0, T), 0.0)
    np.testing.assert_allclose(model.p_alive(frame), ref.conditional_probability_alive(x, t_x, T), rtol=1e-9)
    np.testing.assert_allclose(
        model.expected_orders(frame, 180),
        ref.conditional_expected_number_of_purchases_up_to_time(180, x, t_x, T),
        rtol=1e-6,
    )


def test_a_degenerate_gamma_gamma_fit_is_recorded_for_the_run_not_warned(caplog) -> None:
    """Order values so heavy-tailed that Gamma-Gamma's q runs to 1 (an infinite mean): each user's own mean is used,
    the training run's params say so, and no WARNING is printed on every fit (the demo printed four)."""
    users = make_user_frame(3000, seed=5)
    fitted = BgNbdGammaGamma().fit(users)
    assert order_value_param(fitted) == {"btyd_order_value": "Gamma-Gamma"}
    heavy = users.assign(avg_order_value=(np.random.default_rng(0).pareto(0.5, len(users)) + 1.0) * 20.0)
    with caplog.at_level(logging.INFO, logger="models.btyd"):
        degenerate = BgNbdGammaGamma().fit(heavy)
    assert degenerate.gamma_gamma_params_ is None
    assert order_value_param(degenerate)["btyd_order_value"].startswith("each user's mean (Gamma-Gamma degenerate")
    assert [r.levelname for r in caplog.records] == ["INFO"]
    value = heavy["avg_order_value"].to_numpy()
    np.testing.assert_allclose(degenerate.expected_order_value(heavy)[value > 0], value[value > 0])
    assert order_value_param(None) == {}


def _orders(days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01")
    n = 4000
    return pd.DataFrame(
        {
            c.USER_ID: [f"u{i % 300}" for i in range(n)],
            c.ORDER_TS: start + pd.to_timedelta(rng.uniform(0, days, n), unit="D"),
            "value": rng.gamma(2.0, 50.0, n),
        }
    )


def _features(ov: pd.DataFrame, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    rows = [pd.DataFrame({c.USER_ID: ov[c.USER_ID].unique(), c.AS_OF: t, "spend_180d": 1.0}) for t in cutoffs]
    return pd.concat(rows, ignore_index=True)


def test_ltv_split_ends_every_training_window_by_the_test_cutoff() -> None:
    ov = _orders(730)
    data_end = ov[c.ORDER_TS].max().normalize() + pd.Timedelta(days=1)
    cutoffs = list(pd.date_range("2023-04-01", data_end, freq="MS"))
    days = ltv_days_for(cutoffs, data_end, 180)
    assert days == 180
    data = customer_dataset(_features(ov, cutoffs), ["spend_180d"], ov, LabelConfig(ltv_days=days), data_end, days)
    test = data.split.test
    assert test + pd.Timedelta(days=180) <= data_end
    for role in ("train", "validation"):
        part = data.part(role)
        assert len(part) and (part[c.AS_OF] + pd.Timedelta(days=180) <= test).all()
    assert data.part("test")[FUTURE_SPEND].notna().all()
    churn_split = customer_dataset(_features(ov, cutoffs), ["spend_180d"], ov, LabelConfig(), data_end)
    labelled = churn_split.frame[churn_split.frame[FUTURE_SPEND].notna()]
    leaked = (labelled[c.AS_OF] != churn_split.split.test) & (
        labelled[c.AS_OF] + pd.Timedelta(days=180) > churn_split.split.test
    )
    assert not leaked.any()


def test_short_history_shrinks_the_ltv_window_or_says_what_is_missing() -> None:
    ov = _orders(375)
    data_end = ov[c.ORDER_TS].max().normalize() + pd.Timedelta(days=1)
    cutoffs = list(pd.date_range("2023-04-01", data_end, freq="MS"))
    assert ltv_days_for(cutoffs, data_end, 180) == 90
    with pytest.raises(ValueError, match="history too short"):
        ltv_days_for(cutoffs[:3], data_end, 180)


def test_array_path_equals_the_frame_path(split, model) -> None:
    """The serving path (a float64 array in fitted column order, BG/NBD columns derived on it) predicts alike."""
    _, test, cols = split
    x = test[cols].copy()
    x.iloc[::7, x.columns.get_loc("recency_days")] = np.nan  # never-ordered users take the tenure fallback
    array = x[model.feature_names_].to_numpy(dtype="float64")
    np.testing.assert_allclose(model.predict_array(array), model.predict(x), rtol=1e-12)
