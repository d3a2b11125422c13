"""Tiering: RFM scores, deterministic K-means tiers, names stable across retrains, value ordering, reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ltv import LtvRegressor
from models.tiering import TIERS, RfmRuleTiering, TieringModel, rfm_scores, tier_report, tier_stability
from models.tiering_eval import evaluate_tiering
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
    """K-means itself (the fallback to the rules is tested on its own below)."""
    return TieringModel(fallback="never").fit(users)


def test_fitted_attributes(model: TieringModel, users: pd.DataFrame) -> None:
    assert model.k_min <= model.k_ <= model.k_max
    assert model.silhouette_ == max(model.silhouettes_.values())
    assert set(model.centroids_["tier"]) <= set(TIERS)
    assert len(model.centroids_) == model.k_
    assert model.profile_["users"].sum() == len(users)
    assert model.transform(users.iloc[:5]).shape == (5, model.k_)
    assert model.holdout_silhouette(users) == pytest.approx(model.silhouette_, abs=0.05)


def test_deterministic_with_a_seed(model: TieringModel, users: pd.DataFrame) -> None:
    again = TieringModel(fallback="never").fit(users)
    assert again.k_ == model.k_
    np.testing.assert_array_equal(again.cluster_ids(users), model.cluster_ids(users))
    np.testing.assert_array_equal(again.predict(users), model.predict(users))


def test_names_stable_when_refitting_on_a_perturbed_sample(model, users, ltv) -> None:
    rng = np.random.default_rng(5)
    other = _with_predicted_ltv(make_user_frame(8000, seed=5), ltv)
    for col in ("spend_365d", "predicted_ltv"):
        other[col] = other[col] * rng.lognormal(0.0, 0.05, len(other))
    refit = TieringModel(reference_centroids=model.centroids_, fallback="never").fit(other)
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


def _rfm_frame() -> pd.DataFrame:
    """Ten users; "high" is a quintile score of at least 3, so the six most recent count as recent."""
    return pd.DataFrame(
        {
            "recency_days": [2.0, 3.0, 5.0, 8.0, 150.0, 200.0, 250.0, 300.0, 320.0, 20.0],
            "orders_365d": [20, 15, 1, 1, 1, 12, 1, 1, 1, 9],
            "spend_365d": [5000.0, 4000.0, 11.0, 12.0, 10.0, 3500.0, 10.0, 11.0, 12.0, 3000.0],
            "tenure_days": [700.0, 650.0, 500.0, 600.0, 400.0, 800.0, 700.0, 650.0, 900.0, 30.0],
            "predicted_ltv": 0.0,
        }
    )


def test_rfm_rules_by_hand() -> None:
    frame = _rfm_frame()
    rules = RfmRuleTiering().fit(frame)
    tiers = list(rules.predict(frame))
    assert tiers[:2] == ["high_value", "high_value"]  # recent, frequent, big spenders
    assert tiers[5] == "at_risk"  # a big spender gone quiet
    assert tiers[6] == "lost"  # a light buyer gone quiet
    assert tiers[9] == "new"  # joined a month ago, whatever the scores
    table = {(True, True, True): "high_value", (True, True, False): "potential_high_value"}
    table |= {(True, False, True): "potential_high_value", (True, False, False): "active"}
    for i, (r, f, m) in enumerate(rules.rfm(frame).to_numpy() >= 3):
        expected = table[(True, f, m)] if r else ("at_risk" if f or m else "lost")
        assert tiers[i] == ("new" if frame["tenure_days"][i] <= 90 else expected), i


def test_fallback_follows_the_split_half_check(users) -> None:
    users = users.iloc[:3000]
    auto = TieringModel(k_max=6).fit(users)
    check = auto.fallback_check_
    assert set(check) == {"kmeans_stability", "rules_stability", "kmeans_empty_tiers", "rules_empty_tiers"}
    expected = check["kmeans_stability"] < check["rules_stability"] or (
        check["kmeans_empty_tiers"] > check["rules_empty_tiers"]
    )
    assert auto.fallback_ == expected and auto.method_ == ("rules" if expected else "kmeans")
    rules = RfmRuleTiering().fit(users)
    forced = TieringModel(fallback="always").fit(users)
    np.testing.assert_array_equal(forced.predict(users), rules.predict(users))
    with pytest.raises(ValueError, match="fallback"):
        TieringModel(fallback="sometimes").fit(users)


def test_one_time_buyer_shop_falls_back_to_the_more_stable_rules(ltv) -> None:
    """A shop of mostly one-time buyers (issue 8: K-means left `active` and `new` empty) gets the rules."""
    frame = _with_predicted_ltv(make_user_frame(3000, seed=21), ltv)
    rng = np.random.default_rng(0)
    once = rng.random(len(frame)) < 0.8
    frame.loc[once, ["orders_365d"]] = 1
    frame.loc[once, "spend_365d"] = frame.loc[once, "avg_order_value"].fillna(50.0)
    model = TieringModel(k_max=6).fit(frame)
    assert model.fallback_ and model.method_ == "rules"
    assert model.fallback_check_["kmeans_empty_tiers"] > model.fallback_check_["rules_empty_tiers"]


def test_evaluate_tiering_on_held_out_users(model, users, ltv) -> None:
    held_out = _with_predicted_ltv(make_user_frame(4000, seed=9), ltv)
    revenue = held_out[FUTURE_SPEND].to_numpy()
    same = evaluate_tiering(model, held_out, revenue, previous=model)
    assert same.summary["stability_ari"] == pytest.approx(1.0)
    assert same.table["users"].sum() == len(held_out)
    assert same.summary["empty_tiers"] == sum(same.table["users"] == 0)
    assert -1 <= same.summary["silhouette"] <= 1
    rules_before = RfmRuleTiering().fit(users)
    rules_after = RfmRuleTiering().fit(held_out)
    compared = evaluate_tiering(rules_after, held_out, revenue, previous=rules_before)
    assert 0.5 < compared.summary["stability_ari"] < 1.0
    assert compared.summary["high_value_revenue_share"] > compared.summary["high_value_user_share"]
    assert np.isnan(evaluate_tiering(model, held_out, revenue).summary["stability_ari"])


def test_array_path_equals_the_frame_path(model, users) -> None:
    """The serving path (a FEATURES-ordered array) gives the same tiers and R/F/M scores as the frame path."""
    from models.tiering import FEATURES

    frame = users.copy()
    frame.iloc[::5, frame.columns.get_loc("recency_days")] = np.nan  # never ordered: recency from tenure
    block = frame[list(FEATURES)].to_numpy(dtype="float64")
    rules = RfmRuleTiering().fit(users)
    for tiering in (model, rules):
        np.testing.assert_array_equal(tiering.predict_array(block), tiering.predict(frame))
    scores = model.rfm_array(block)
    expected = model.rfm(frame)
    for j, name in enumerate(("r_score", "f_score", "m_score")):
        np.testing.assert_array_equal(scores[:, j], expected[name].to_numpy())


def test_fixed_cut_point_scores_are_where_searchsorted_puts_the_value(model, users) -> None:
    """R/F/M against fitted cut points: one plus the binary-search position among them (a value on a cut point
    takes the lower score), 1 for a missing recency, missing counts scored as 0; values on every cut point included."""
    from models.tiering import FEATURES

    edges = model.rfm_.edges_
    on_cuts = pd.DataFrame(
        {"recency_days": -edges["r_score"], "orders_365d": edges["f_score"], "spend_365d": edges["m_score"]}
    )
    frame = pd.concat([users, on_cuts], ignore_index=True).reindex(columns=list(FEATURES))
    frame.iloc[::9, [0, 1, 2]] = np.nan
    block = frame.to_numpy(dtype="float64")
    values = {
        "r_score": -block[:, 0],
        "f_score": np.nan_to_num(block[:, 1], nan=0.0),
        "m_score": np.nan_to_num(block[:, 2], nan=0.0),
    }
    scores = model.rfm_array(block)
    for j, (name, v) in enumerate(values.items()):
        expected = np.where(np.isnan(v), 1, 1 + np.searchsorted(edges[name], v, side="left"))
        np.testing.assert_array_equal(scores[:, j], expected)
        assert set(np.unique(scores[:, j])) == {1, 2, 3, 4, 5}
