"""Monthly intermittent demand (the carparts shape): bagged boosters and hurdle quantiles, on a seeded panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import columns as c
from models.demand import FREQS, DemandForecaster, _hurdle_quantiles, _nb_quantiles
from models.forecast_metrics import quantile_column

pytestmark = pytest.mark.model

MONTHS, H = 40, 6
QS = (0.1, 0.3, 0.5, 0.7, 0.9)


def _panel(seed: int = 0, n: int = 60) -> pd.DataFrame:
    """Half the parts sell most months (rate 3), half rarely (a sale in about one month of six)."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("1998-01-01", periods=MONTHS, freq="MS")
    rows = []
    for i in range(n):
        y = rng.poisson(3.0, MONTHS) if i % 2 == 0 else rng.poisson(1.5, MONTHS) * (rng.random(MONTHS) < 0.15)
        rows.append(pd.DataFrame({c.UNIQUE_ID: f"P{i:02d}", c.DS: ds, c.Y: y.astype("float64")}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _panel()


@pytest.fixture(scope="module")
def model(panel: pd.DataFrame) -> DemandForecaster:
    return DemandForecaster(h=H, freq="MS", min_history=0, refit=True, n_estimators=30, min_child_samples=20).fit(panel)


def test_monthly_defaults_bag_and_hurdle_daily_stays_plain() -> None:
    assert FREQS["MS"].bags > 1 and FREQS["MS"].occurrence_periods > 0
    assert FREQS["D"].bags == 1 and FREQS["D"].occurrence_periods == 0
    daily = DemandForecaster()
    assert list(daily._mlforecast().models) == ["mean"] and daily._recent(pd.DataFrame()) is None


def test_hurdle_quantiles_are_ordered_counts_with_the_sale_rate_setting_the_median() -> None:
    mu = np.array([0.0, 0.5, 0.5, 3.0, 3.0])
    alpha = np.full(5, 2.0)
    rate = np.array([0.0, 0.1, 0.9, 0.9, 1.0])
    q = _hurdle_quantiles(mu, alpha, rate, QS)
    assert (np.diff(q, axis=1) >= 0).all() and (q >= 0).all() and np.allclose(q, np.round(q))
    assert (q[0] == 0).all()  # no mean, no recent sale: nothing
    assert q[1, 2] == 0 and q[2, 2] >= 1  # same mean: the part that sold most months gets a median above zero
    assert q[4, 2] >= 1 and _nb_quantiles(mu[4:], alpha[4:], [0.5])[0, 0] <= q[4, 2]


def test_frequent_sellers_get_a_nonzero_median_rare_ones_zero(model: DemandForecaster) -> None:
    pred = model.predict(quantiles=QS)
    assert model.mlf_.models_.keys() == {"mean", *(f"mean_{i}" for i in range(1, FREQS["MS"].bags))}
    med = pred.groupby(c.UNIQUE_ID)[quantile_column(0.5)].median()
    frequent = med[[f"P{i:02d}" for i in range(0, 60, 2)]]
    rare = med[[f"P{i:02d}" for i in range(1, 60, 2)]]
    assert (frequent >= 1).mean() > 0.9 and (rare == 0).all()
    values = pred[[quantile_column(q) for q in QS]].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all()


def test_served_quantiles_equal_the_scored_ones_and_advance_moves_the_sale_rate(panel: pd.DataFrame) -> None:
    """``predict`` (served) and ``predict_after`` (the holdout gate) read the same recent months."""
    cut = panel[c.DS].max() - pd.DateOffset(months=H)
    train, later = panel[panel[c.DS] <= cut], panel[panel[c.DS] > cut]
    f = DemandForecaster(h=H, freq="MS", min_history=0, n_estimators=30, min_child_samples=20).fit(train)
    served = f.predict(quantiles=QS)
    scored = f.predict_after(train, H, None, QS)
    cols = [quantile_column(q) for q in QS]
    pd.testing.assert_frame_equal(served[cols], scored[cols])
    # a rare part that suddenly sells every month: its sale rate (and median) rises after the months are appended
    sku = "P01"
    burst = later.assign(**{c.Y: np.where(later[c.UNIQUE_ID] == sku, 4.0, later[c.Y])})
    before = f.recent_.loc[f.recent_[c.UNIQUE_ID] == sku, c.Y].gt(0).mean()
    f.advance(burst)
    after = f.recent_.loc[f.recent_[c.UNIQUE_ID] == sku, c.Y].gt(0).mean()
    assert after > before and f.recent_.groupby(c.UNIQUE_ID).size().max() == FREQS["MS"].occurrence_periods


def test_a_served_hurdle_model_answers_the_same_from_its_stored_paths(model: DemandForecaster, panel) -> None:
    """The decision's array path over stored paths gives the forecaster's frame path's numbers, hurdle included."""
    from models.demand_decision import DemandDecision, sku_snapshot

    decision = DemandDecision(model, {}, sku_snapshot(panel, pd.Series(dtype="float64"))).precompute()
    ask = {"sku_ids": ["P00", "P01", "P07", "NOPE"], "horizon": H, "levels": [10, 50, 90]}
    stored = decision.decide(pd.DataFrame(), **ask)
    decision.paths_ = None  # the recursive forecast and the quantile frame
    assert decision.decide(pd.DataFrame(), **ask) == stored
    assert [r["status"] for r in stored] == ["ok", "ok", "ok", "unknown_sku"]
    assert stored[0]["periods"][0]["quantiles"]["p50"] > 0 == stored[1]["periods"][0]["quantiles"]["p50"]
