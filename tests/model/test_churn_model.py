"""Behavioural and quality tests of the churn classifier on the seeded synthetic user frame."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from features import columns as c
from models import metrics
from models.btyd import BTYD_FEATURES
from models.churn import (
    DEFAULT_MONOTONE,
    BgNbdChurnBaseline,
    ChurnClassifier,
    RecencyBaseline,
    RfmLogisticBaseline,
    choose_risk_thresholds,
    risk_band,
    top_reasons,
)
from tests.synthetic_users import CHURNED, feature_columns, make_user_frame

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    """Train / calibration / test parts of one synthetic population (i.i.d. users, so order is arbitrary)."""
    frame = make_user_frame(16000, seed=0)
    return {"train": frame.iloc[:8000], "calib": frame.iloc[8000:11000], "test": frame.iloc[11000:]}


@pytest.fixture(scope="module")
def cols(frames: dict[str, pd.DataFrame]) -> list[str]:
    return feature_columns(frames["train"])


@pytest.fixture(scope="module")
def model(frames: dict[str, pd.DataFrame], cols: list[str]) -> ChurnClassifier:
    train, calib = frames["train"], frames["calib"]
    return ChurnClassifier().fit(train[cols], train[CHURNED], calib[cols], calib[CHURNED])


def _p(model: ChurnClassifier, x: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(x)[:, 1]


@pytest.mark.parametrize("feature", sorted(DEFAULT_MONOTONE))
def test_monotone_directions_hold_over_a_grid(model, frames, cols, feature) -> None:
    """Raising a constrained feature for every user moves churn risk only in its known direction."""
    sample = frames["test"][cols].sample(300, random_state=1)
    grid = np.unique(np.quantile(frames["train"][feature].dropna(), np.linspace(0, 1, 15)))
    grid = np.r_[grid, grid[-1] * 2 + 1]
    probs = np.column_stack([_p(model, sample.assign(**{feature: v})) for v in grid])
    raws = np.column_stack([model.decision_function(sample.assign(**{feature: v})) for v in grid])
    sign = DEFAULT_MONOTONE[feature]
    assert (np.diff(probs * sign, axis=1) >= -1e-12).all()
    assert (np.diff(raws * sign, axis=1) >= -1e-9).all()


def test_user_id_is_not_a_feature(frames, cols) -> None:
    train, calib, test = frames["train"], frames["calib"], frames["test"]
    with_id = ChurnClassifier(n_estimators=60, btyd_horizon_days=None).fit(
        train[[c.USER_ID, *cols]], train[CHURNED], calib, calib[CHURNED]
    )
    without = ChurnClassifier(n_estimators=60, btyd_horizon_days=None).fit(
        train[cols], train[CHURNED], calib[cols], calib[CHURNED]
    )
    assert c.USER_ID not in with_id.feature_names_
    relabelled = test.assign(**{c.USER_ID: test[c.USER_ID].sample(frac=1.0, random_state=3).to_numpy()})
    np.testing.assert_array_equal(_p(with_id, test), _p(without, relabelled))


def test_shuffling_rows_permutes_predictions(model, frames, cols) -> None:
    test = frames["test"][cols]
    shuffled = test.sample(frac=1.0, random_state=7)
    pd.testing.assert_series_equal(
        pd.Series(_p(model, shuffled), index=shuffled.index).sort_index(), pd.Series(_p(model, test), index=test.index)
    )


def _typical(frames, cols) -> pd.DataFrame:
    return frames["train"][cols].median().to_frame().T


def test_weekly_buyer_until_yesterday_is_low_risk(model, frames, cols) -> None:
    weekly = _typical(frames, cols).assign(
        recency_days=1.0, tenure_days=700.0, orders_total=100, orders_30d=4, orders_90d=13, orders_180d=26,
        orders_365d=52, spend_30d=600.0, spend_90d=1950.0, spend_180d=3900.0, spend_365d=7800.0,
        spend_total=15000.0, avg_order_value=150.0, order_trend_90d=0.0, views_7d=10, views_30d=40, carts_7d=2,
        carts_30d=8, days_since_last_event=0.0, tickets_unresolved=0, late_deliveries=1, mean_delivery_delay_days=0.05,
    )  # fmt: skip
    thresholds = choose_risk_thresholds(_p(model, frames["calib"][cols]), frames["calib"][CHURNED])
    p = _p(model, weekly)[0]
    assert p < 0.2
    assert risk_band([p], thresholds)[0] == "low"


def test_user_silent_for_300_days_is_high_risk(model, frames, cols) -> None:
    silent = _typical(frames, cols).assign(
        recency_days=300.0, tenure_days=700.0, orders_total=3, orders_30d=0, orders_90d=0, orders_180d=0,
        orders_365d=1, spend_30d=0.0, spend_90d=0.0, spend_180d=0.0, spend_365d=150.0, spend_total=450.0,
        order_trend_90d=np.nan, views_7d=0, views_30d=0, carts_7d=0, carts_30d=0, days_since_last_event=290.0,
    )  # fmt: skip
    thresholds = choose_risk_thresholds(_p(model, frames["calib"][cols]), frames["calib"][CHURNED])
    p = _p(model, silent)[0]
    assert p > 0.9
    assert risk_band([p], thresholds)[0] in ("high", "critical")


def test_calibrated_on_held_out_users(model, frames, cols) -> None:
    test = frames["test"]
    p = _p(model, test[cols])
    assert metrics.expected_calibration_error(test[CHURNED], p) <= 0.05
    assert abs(p.mean() - test[CHURNED].mean()) < 0.02


def test_beats_every_baseline(model, frames, cols) -> None:
    train, test = frames["train"], frames["test"]
    ours = metrics.classification_report(test[CHURNED], _p(model, test[cols]))
    for baseline in (RecencyBaseline(), RfmLogisticBaseline(), BgNbdChurnBaseline()):
        p = baseline.fit(train[cols], train[CHURNED]).predict_proba(test[cols])[:, 1]
        theirs = metrics.classification_report(test[CHURNED], p)
        assert ours["roc_auc"] > theirs["roc_auc"] + 0.03, type(baseline).__name__
        assert ours["log_loss"] < theirs["log_loss"], type(baseline).__name__
        assert ours["pr_auc"] > theirs["pr_auc"], type(baseline).__name__


def test_bgnbd_baseline_ranks_silence_and_is_calibrated_on_training_rows(frames, cols) -> None:
    train, test = frames["train"], frames["test"]
    baseline = BgNbdChurnBaseline().fit(train[cols], train[CHURNED])
    p = baseline.predict_proba(test[cols])[:, 1]
    assert metrics.roc_auc(test[CHURNED], p) > 0.75
    assert abs(p.mean() - test[CHURNED].mean()) < 0.03
    user = test[cols].iloc[[0]].assign(orders_total=10, first_order_days=400.0, tenure_days=400.0)
    risks = [baseline.btyd_.p_no_purchase(user.assign(recency_days=r), 90)[0] for r in (5.0, 60.0, 200.0)]
    assert risks[0] < risks[1] < risks[2]


def test_derived_bgnbd_columns_feed_the_booster(model, frames, cols) -> None:
    assert model.model_features_[-len(BTYD_FEATURES) :] == list(BTYD_FEATURES)
    assert model.feature_names_ == cols
    plain = ChurnClassifier(n_estimators=60, btyd_horizon_days=None)
    plain.fit(frames["train"][cols], frames["train"][CHURNED], frames["calib"][cols], frames["calib"][CHURNED])
    assert plain.model_features_ == cols and plain.btyd_ is None


def test_reasons_add_up_to_the_log_odds(model, frames, cols) -> None:
    x = frames["test"][cols].iloc[:200]
    phi = model.contributions(x)
    raw = model.decision_function(x)
    np.testing.assert_allclose(phi.sum(axis=1), raw, rtol=1e-6, atol=1e-6)
    every = top_reasons(phi, x, top_k=len(model.model_features_))
    totals = np.array([sum(r.contribution for r in row) for row in every]) + phi["bias"].to_numpy()
    np.testing.assert_allclose(totals, raw, rtol=1e-6, atol=1e-6)
    top3, seen = model.reasons(x, top_k=3), model.model_frame(x)
    for i, row in enumerate(top3):
        assert [r.feature for r in row] == [r.feature for r in every[i][:3]]
        strongest = phi.drop(columns="bias").iloc[i].abs().max()
        assert (
            row[0].contribution == pytest.approx(phi.iloc[i][row[0].feature]) and abs(row[0].contribution) == strongest
        )
        for reason in row:
            assert (reason.direction == "raises") == (reason.contribution > 0)
            assert reason.label_zh and reason.label_en
            assert (reason.value is None) == np.isnan(seen.iloc[i][reason.feature])


def test_risk_bands_order_churn_rates(model, frames, cols) -> None:
    calib, test = frames["calib"], frames["test"]
    thresholds = choose_risk_thresholds(_p(model, calib[cols]), calib[CHURNED])
    bands = pd.Series(risk_band(_p(model, test[cols]), thresholds))
    rates = test[CHURNED].groupby(bands.to_numpy()).mean().reindex(["low", "medium", "high", "critical"]).dropna()
    assert rates.is_monotonic_increasing
    assert (bands != "low").any()


def test_missing_columns_are_named(model, frames, cols) -> None:
    with pytest.raises(ValueError, match=r"recency_days, tenure_days"):
        model.predict_proba(frames["test"][cols].drop(columns=["recency_days", "tenure_days"]))


def test_missing_values_are_scored(model, cols) -> None:
    blank = pd.DataFrame(np.nan, index=[0], columns=cols)
    p = _p(model, blank)
    assert 0 < p[0] < 1


def test_same_seed_same_model_and_default_calibration_split(frames, cols) -> None:
    train = frames["train"]
    a = ChurnClassifier(n_estimators=80, btyd_horizon_days=None).fit(train[cols], train[CHURNED])
    b = ChurnClassifier(n_estimators=80, btyd_horizon_days=None).fit(train[cols], train[CHURNED])
    test = frames["test"][cols]
    np.testing.assert_array_equal(_p(a, test), _p(b, test))
    assert metrics.roc_auc(frames["test"][CHURNED], _p(a, test)) > 0.8


def test_sigmoid_calibration_is_monotone_too(frames, cols) -> None:
    train, calib = frames["train"], frames["calib"]
    model = ChurnClassifier(n_estimators=80, calibration="sigmoid", btyd_horizon_days=None).fit(
        train[cols], train[CHURNED], calib[cols], calib[CHURNED]
    )
    sample = frames["test"][cols].iloc[:100]
    probs = np.column_stack([_p(model, sample.assign(recency_days=v)) for v in (0, 10, 50, 100, 200, 400)])
    assert (np.diff(probs, axis=1) >= -1e-12).all()


def test_rejects_bad_input(frames, cols) -> None:
    train = frames["train"]
    with pytest.raises(TypeError):
        ChurnClassifier().fit(train[cols].to_numpy(), train[CHURNED])
    with pytest.raises(ValueError, match="single class"):
        ChurnClassifier().fit(train[cols], np.zeros(len(train)))
    with pytest.raises(ValueError, match="not_a_column"):
        ChurnClassifier(monotone={"not_a_column": 1}).fit(train[cols], train[CHURNED])


def test_pickles_and_clones(model, frames, cols) -> None:
    """MLflow stores the fitted estimator by pickle; sklearn tooling clones unfitted ones."""
    restored = pickle.loads(pickle.dumps(model))
    test = frames["test"][cols].iloc[:200]
    np.testing.assert_array_equal(_p(restored, test), _p(model, test))
    pd.testing.assert_frame_equal(restored.contributions(test), model.contributions(test))
    params = clone(ChurnClassifier(monotone={"recency_days": 1}, calibration="sigmoid")).get_params()
    assert params["monotone"] == {"recency_days": 1} and params["calibration"] == "sigmoid"


def test_array_path_equals_the_frame_path(model, frames, cols) -> None:
    """The serving path (a float64 array in fitted column order) scores and explains exactly like a frame."""
    x = frames["test"][cols].iloc[:500]
    matrix = model.model_array(x[model.feature_names_].to_numpy(dtype="float64"))
    np.testing.assert_allclose(matrix, model.model_frame(x).to_numpy(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(model.churn_probability(matrix), _p(model, x), rtol=1e-12)
    assert model.reasons_array(matrix, top_k=3) == model.reasons(x, top_k=3)
