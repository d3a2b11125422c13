"""Tiering: RFM scores, deterministic K-means tiers, names stable across retrains, value ordering, reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ltv import LtvRegressor
from models.tiering import TIERS, TieringModel, rfm_scores, tier_report, tier_stability
from tests.synthetic_users import FUTURE_SPEND, feature_columns, make_user_frame

pytestmark = pytest.mark.model


def _with_predicted_ltv(frame: pd.DataFrame, ltv: LtvRegressor) -> pd.DataFrame:
    return frame.assign(predicted_ltv=ltv.predict(frame[feature_columns(frame)]))


@pytest.fixture(scope="module")
def ltv() -> LtvRegressor:
    """Predicted value comes from the LTV model, as in the pipeline (fitted on separate users)."""
    history = make_user_frame(6000, seed=11)
    return LtvRegressor(n_estimators=200).fit(history[feature_columns(history)], history[FUTURE_SPEND])


@pytest.fixture(scope="module")
def users(ltv: LtvRegressor) -> pd.DataFrame:
    return _with_predicted_ltv(make_user_frame(8000, seed=0), ltv)


@pytest.fixture(scope="module")
def model(users: pd.DataFrame) -> TieringModel:
    return TieringModel().fit(users)


def test_fitted_attributes(model: TieringModel, users: pd.DataFrame) -> None:
    assert model.k_min <= model.k_ <= model.k_max
    assert model.silhouette_ == max(model.silhouettes_.values())
    assert set(model.centroids_["tier"]) <= set(TIERS)
    assert len(model.centroids_) == model.k_
    assert model.profile_["users"].sum() == len(users)
    assert model.transform(users.iloc[:5]).shape == (5, model.k_)
    assert model.holdout_silhouette(users) == pytest.approx(model.silhouette_, abs=0.05)


def test_deterministic_with_a_seed(model: TieringModel, users: pd.DataFrame) -> None:
    again = TieringModel().fit(users)
    assert again.k_ == model.k_
    np.testing.assert_array_equal(again.cluster_ids(users), model.cluster_ids(users))
    np.testing.assert_array_equal(again.predict(users), model.predict(users))


def test_names_stable_when_refitting_on_a_perturbed_sample(model, users, ltv) -> None:
    rng = np.random.default_rng(5)
    other = _with_predicted_ltv(make_user_frame(8000, seed=5), ltv)
    for col in ("spend_365d", "predicted_ltv"):
        other[col] = other[col] * rng.lognormal(0.0, 0.05, len(other))
    refit = TieringModel(reference_centroids=model.centroids_).fit(other)
    before, after = model.predict(users), refit.predict(users)
    assert refit.naming_ == "reference"
    assert (before == after).mean() >= 0.85
    assert tier_stability(before, after) >= 0.7


def test_high_value_tier_has_the_highest_mean_spend(model, users) -> None:
    tiers = model.predict(users)
    spend = users.groupby(tiers)["spend_365d"].mean()
    assert spend.idxmax() == "high_value"


def test_tier_report_adds_up(model, users) -> None:
    report = tier_report(model.predict(users), users[FUTURE_SPEND])
    assert list(report.index) == list(TIERS)
    assert report["users"].sum() == len(users)
    assert report["user_share"].sum() == pytest.approx(1.0)
    assert report["revenue_share"].sum() == pytest.approx(1.0)
    high = report.loc["high_value"]
    assert high["revenue_share"] > high["user_share"]


def test_reference_with_unknown_tier_is_rejected(model, users) -> None:
    bad = model.centroids_.assign(tier="whales")
    with pytest.raises(ValueError, match="whales"):
        TieringModel(reference_centroids=bad).fit(users)


def test_rfm_scores_quintiles_ties_and_never_ordered() -> None:
    frame = pd.DataFrame(
        {
            "recency_days": [1.0, 5.0, 30.0, 90.0, 400.0, np.nan, 2.0, 60.0, 200.0, 10.0],
            "orders_365d": [0, 0, 0, 0, 0, 0, 3, 5, 8, 12],
            "spend_365d": [0.0, 0.0, 0.0, 0.0, 0.0, np.nan, 50.0, 80.0, 900.0, 2000.0],
        }
    )
    scores = rfm_scores(frame)
    assert scores.isin(range(1, 6)).all().all()
    assert scores.loc[5, "r_score"] == 1
    assert scores.loc[0, "r_score"] == 5 and scores.loc[4, "r_score"] == 1
    assert scores.loc[:5, "f_score"].nunique() == 1 and scores.loc[0, "f_score"] == 1
    assert scores.loc[9, "f_score"] == 5 and scores.loc[9, "m_score"] == 5
    r = scores["r_score"][frame["recency_days"].notna()]
    assert r.iloc[np.argsort(frame["recency_days"].dropna().to_numpy())].is_monotonic_decreasing


def test_tier_stability_aligns_on_users() -> None:
    a = pd.Series(["lost", "active", "active", "new"], index=["u1", "u2", "u3", "u4"])
    b = pd.Series(["new", "active", "active", "lost", "lost"], index=["u4", "u3", "u2", "u1", "u9"])
    assert tier_stability(a, b) == pytest.approx(1.0)
    assert np.isnan(tier_stability(a, pd.Series(["lost"], index=["x"])))
