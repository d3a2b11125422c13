"""Behaviour of the demand forecaster and its baselines on a small seeded panel (no lake needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import columns as c
from models.demand import DemandForecaster, mark_censored
from models.demand_baselines import BASELINES, baseline_forecasts, rolling_cutoffs, rolling_origin
from models.forecast_metrics import quantile_column

pytestmark = pytest.mark.model

DAYS, H = 240, 14
START = pd.Timestamp("2025-01-01")


def _panel(seed: int = 0, n: int = 40) -> pd.DataFrame:
    """Poisson demand with a weekly cycle; promotions (random weeks) double it; one SKU is out of stock at the end."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(START, periods=DAYS, freq="D")
    rows = []
    for i in range(n):
        base = rng.uniform(1.0, 8.0)
        promo = np.zeros(DAYS)
        for week in rng.choice(DAYS // 7 - 1, 6, replace=False):
            promo[week * 7 : week * 7 + 7] = 1
        rate = base * (1 + 0.3 * (ds.dayofweek >= 5)) * (1 + promo)
        y = rng.poisson(rate)
        in_stock = np.ones(DAYS)
        if i == 0:
            in_stock[-30:] = 0
            y[-30:] = 0
        rows.append(pd.DataFrame({c.UNIQUE_ID: f"S{i:02d}", c.DS: ds, c.Y: y, "price": 10.0, "in_stock": in_stock,
                                  "promo_any": promo, c.DISCOUNT_RATE: 0.2 * promo,
                                  "day_of_week": ds.dayofweek, "is_weekend": (ds.dayofweek >= 5).astype(int)}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _panel()


@pytest.fixture(scope="module")
def model(panel: pd.DataFrame) -> DemandForecaster:
    static = pd.DataFrame({c.UNIQUE_ID: panel[c.UNIQUE_ID].unique(), c.CATEGORY: "A"})
    return DemandForecaster(h=H, n_estimators=80, min_child_samples=20, random_state=1).fit(panel, static)


def test_promotion_next_week_raises_the_forecast(model: DemandForecaster) -> None:
    ids = ["S05", "S06", "S07"]
    days = pd.date_range(model.last_ds_ + pd.Timedelta(days=1), periods=7)
    promo = pd.DataFrame([(i, d) for i in ids for d in days], columns=[c.UNIQUE_ID, c.DS])
    promo = promo.assign(promo_any=1.0, **{c.DISCOUNT_RATE: 0.2})
    plain = model.predict(ids=ids).set_index([c.UNIQUE_ID, c.DS])
    boosted = model.predict(ids=ids, exog=promo).set_index([c.UNIQUE_ID, c.DS])
    week = boosted.index.get_level_values(c.DS).isin(days)
    assert (boosted["mean"][week] > 1.2 * plain["mean"][week]).groupby(level=0).mean().min() >= 0.8
    assert (boosted[quantile_column(0.9)][week] >= plain[quantile_column(0.9)][week]).all()


def test_stockout_stretch_does_not_drag_the_forecast_to_zero(panel: pd.DataFrame, model: DemandForecaster) -> None:
    before = panel[(panel[c.UNIQUE_ID] == "S00") & (panel[c.DS] < panel[c.DS].max() - pd.Timedelta(days=30))]
    rate = before[c.Y].tail(56).mean()
    forecast = model.predict(ids=["S00"])["mean"].mean()
    assert forecast > 0.6 * rate
    marked = mark_censored(panel[panel[c.UNIQUE_ID] == "S00"])
    assert marked["weight"].tail(30).eq(0).all() and marked[c.Y].tail(30).gt(0).all()


def test_a_slow_mover_that_sells_out_whenever_it_sells_is_not_forecast_as_no_demand() -> None:
    """One unit on the shelf, restocked overnight: every day with a sale closes sold out. Those days' sales are a
    lower bound, not a gap; dropping them (as this model once did) left the zero days and a forecast near 0."""
    rng = np.random.default_rng(11)
    ds = pd.date_range(START, periods=DAYS, freq="D")
    frames = []
    for i in range(20):
        sold = np.minimum(rng.poisson(rng.uniform(0.2, 0.6), DAYS), 1)
        frames.append(pd.DataFrame({c.UNIQUE_ID: f"L{i:02d}", c.DS: ds, c.Y: sold, "price": 5.0, "in_stock": 1.0,
                                    c.ON_HAND: 1.0 - sold}))  # fmt: skip
    panel = pd.concat(frames, ignore_index=True)
    marked = mark_censored(panel)
    sale_days = marked[c.Y] > 0
    assert marked.loc[sale_days, "weight"].eq(1).all() and (marked[c.Y] >= panel[c.Y].to_numpy()).all()
    model = DemandForecaster(h=H, n_estimators=30, random_state=2).fit(panel)
    forecast = model.predict()["mean"].mean()
    assert forecast > 0.8 * panel[c.Y].mean()


def test_quantiles_are_ordered_and_any_level_can_be_asked(model: DemandForecaster) -> None:
    out = model.predict(ids=["S03"], quantiles=(0.05, 0.5, 0.73, 0.99))
    q = out[[quantile_column(v) for v in (0.05, 0.5, 0.73, 0.99)]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all() and len(out) == H and not out["cold_start"].any()


def test_forecast_at_a_cutoff_reads_nothing_at_or_after_it(panel: pd.DataFrame) -> None:
    cutoff = panel[c.DS].max() - pd.Timedelta(days=H)
    future_changed = panel.copy()
    later = future_changed[c.DS] > cutoff
    future_changed.loc[later, c.Y] = 999
    future_changed.loc[later, "promo_any"] = 1

    def forecast(frame: pd.DataFrame, cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
        return {"m": DemandForecaster(h=H, n_estimators=20, random_state=3).fit(frame).predict(ids=["S04", "S09"])}

    a = rolling_origin(panel, [cutoff], forecast)["m"]
    b = rolling_origin(future_changed, [cutoff], forecast, actuals=panel)["m"]
    pd.testing.assert_frame_equal(a, b)


def test_cold_start_sku_gets_its_peers_forecast_and_a_flag(panel: pd.DataFrame) -> None:
    young = pd.DataFrame({c.UNIQUE_ID: "NEW", c.DS: pd.date_range(panel[c.DS].max() - pd.Timedelta(days=4), periods=5),
                          c.Y: [0, 1, 0, 0, 2], "price": 10.0, "in_stock": 1.0})  # fmt: skip
    frame = pd.concat([panel, young], ignore_index=True).fillna({"promo_any": 0, c.DISCOUNT_RATE: 0})
    static = pd.DataFrame({c.UNIQUE_ID: frame[c.UNIQUE_ID].unique(), c.CATEGORY: "A"})
    model = DemandForecaster(h=7, n_estimators=20, random_state=0).fit(frame, static)
    out = model.predict(ids=["NEW", "S01", "UNKNOWN"])
    new = out[out[c.UNIQUE_ID] == "NEW"]
    assert new["cold_start"].all() and len(new) == 7 and (new["mean"] > 0.5).all()
    assert set(out[c.UNIQUE_ID]) == {"NEW", "S01"}


def test_baselines_survive_a_sku_launched_days_before_the_cutoff() -> None:
    """AutoETS refuses tiny series ("tiny datasets"); a shop always has a SKU launched last week."""
    frame = _panel(seed=5, n=3)[[c.UNIQUE_ID, c.DS, c.Y]]
    last = frame[c.DS].max()
    young = pd.DataFrame({c.UNIQUE_ID: "YOUNG", c.DS: pd.date_range(end=last, periods=3), c.Y: [1, 0, 2]})
    out = baseline_forecasts(pd.concat([frame, young], ignore_index=True), 7, "D", 7, (0.1, 0.5, 0.9))
    for name in ("AutoETS", "SeasonalNaive"):
        young_fc = out[name][out[name][c.UNIQUE_ID] == "YOUNG"]
        assert len(young_fc) == 7 and np.isfinite(young_fc[["mean", "q10", "q50", "q90"]].to_numpy()).all(), name


def test_statsforecast_baselines_on_a_seeded_panel() -> None:
    frame = _panel(seed=5, n=6)[[c.UNIQUE_ID, c.DS, c.Y]]
    cut = rolling_cutoffs(frame[c.DS], 7, 2, "D")
    assert cut[1] - cut[0] == pd.Timedelta(days=7) and cut[1] == frame[c.DS].max() - pd.Timedelta(days=7)
    train = frame[frame[c.DS] <= cut[0]]
    out = baseline_forecasts(train, 7, "D", 7, (0.1, 0.5, 0.9))
    assert set(out) == set(BASELINES)
    for name, fc in out.items():
        qs = fc[["q10", "q50", "q90"]].to_numpy()
        assert len(fc) == 6 * 7 and np.isfinite(qs).all() and (qs >= 0).all(), name
    naive = out["SeasonalNaive"].merge(
        train.assign(**{c.DS: train[c.DS] + pd.Timedelta(days=7)}), on=[c.UNIQUE_ID, c.DS]
    )
    np.testing.assert_allclose(naive["mean"], naive[c.Y])
    assert (out["AutoETS"]["q90"] >= out["AutoETS"]["q10"]).all() and (out["Zero"]["q90"] == 0).all()


def test_a_cold_sku_gets_the_typical_peer_not_the_bulk_seller() -> None:
    """One huge seller in a mixed group (fuel beside gift cards) must not set every new SKU's forecast."""
    from models.demand import COLD, MEAN

    forecaster = DemandForecaster()
    forecaster.groups_ = pd.Series({"a": "misc", "b": "misc", "c": "misc", "new": "misc"})
    day = pd.Timestamp("2026-01-01")
    pred = pd.DataFrame({c.UNIQUE_ID: ["a", "b", "c"], c.DS: [day] * 3, MEAN: [1.0, 2.0, 10_000.0]})
    out = forecaster._peer_mean(pred, ["new"])
    assert out[MEAN].tolist() == [2.0] and out[COLD].tolist() == [True]


def test_the_booster_learns_from_the_price_known_the_day_before() -> None:
    """A day's paid price shows whether it sold: training sees each SKU's previous price, as serving does."""
    from models.demand import LOG_PRICE, _price_known_before

    frame = pd.DataFrame({c.UNIQUE_ID: ["a", "a", "a", "b", "b"], LOG_PRICE: [1.0, 2.0, 3.0, 7.0, 8.0]})
    lagged = _price_known_before(frame)[LOG_PRICE].tolist()
    assert np.isnan(lagged[0]) and lagged[1:3] == [1.0, 2.0] and np.isnan(lagged[3]) and lagged[4] == 7.0


def _with_bulk_seller(panel: pd.DataFrame) -> pd.DataFrame:
    """The seeded panel plus one regular series 500 times larger than the rest (a fuel kiosk beside groceries)."""
    rng = np.random.default_rng(7)
    ds = pd.date_range(START, periods=DAYS, freq="D")
    bulk = pd.DataFrame({c.UNIQUE_ID: "BULK", c.DS: ds, c.Y: rng.poisson(2000 * (1 + 0.4 * (ds.dayofweek == 4))),
                         "price": 1.0, "in_stock": 1.0, "promo_any": 0.0, c.DISCOUNT_RATE: 0.0,
                         "day_of_week": ds.dayofweek, "is_weekend": (ds.dayofweek >= 5).astype(int)})  # fmt: skip
    return pd.concat([panel, bulk], ignore_index=True)


def test_the_biggest_series_mix_in_a_local_model_chosen_on_the_held_back_window(panel: pd.DataFrame) -> None:
    """The bulk seller's mean mixes in AutoETS with the weight chosen inside fit; it survives pickling and
    ``advance``; a planned promotion or festival day is answered by the booster alone; ``local_series=0`` turns it
    off."""
    import pickle

    from models.demand import LOCAL_GRID, MEAN

    frame = _with_bulk_seller(panel)
    frame["is_double11"] = (frame[c.DS].dt.strftime("%m-%d") == "11-11").astype("float64")  # a calendar event
    cut = frame[c.DS].max() - pd.Timedelta(days=H)
    train = frame[frame[c.DS] <= cut]
    mixed = DemandForecaster(h=H, n_estimators=80, min_child_samples=20, random_state=1, local_series=3).fit(train)
    plain = DemandForecaster(h=H, n_estimators=80, min_child_samples=20, random_state=1, local_series=0).fit(train)
    assert plain.blend_.empty and len(mixed.blend_) == 3 and "BULK" in mixed.blend_.index
    assert set(mixed.blend_) <= set(LOCAL_GRID) - {0.0}
    a, b = mixed.predict(ids=["BULK"]), plain.predict(ids=["BULK"])
    assert not np.allclose(a[MEAN], b[MEAN])
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(mixed)).predict(ids=["BULK"]), a)
    day = mixed.last_ds_ + pd.Timedelta(days=1)
    promo = pd.DataFrame({c.UNIQUE_ID: ["BULK"], c.DS: [day], "promo_any": [1.0], c.DISCOUNT_RATE: [0.2]})
    booster = plain.predict(ids=["BULK"], exog=promo)
    assert mixed.predict(ids=["BULK"], exog=promo)[MEAN].iloc[0] == pytest.approx(booster[MEAN].iloc[0])
    # a festival peak the series has not just seen is the booster's too (AutoETS knows no calendar)
    assert "is_double11" in mixed.exog_
    festival = pd.DataFrame({c.UNIQUE_ID: ["BULK"], c.DS: [day], "is_double11": [1.0]})
    on_peak, alone = mixed.predict(ids=["BULK"], exog=festival), plain.predict(ids=["BULK"], exog=festival)
    assert on_peak[MEAN].iloc[0] == pytest.approx(alone[MEAN].iloc[0])
    assert on_peak[MEAN].iloc[1] != pytest.approx(alone[MEAN].iloc[1])  # the day after mixes again
    mixed.advance(frame)
    assert mixed.local_history_[c.DS].max() == frame[c.DS].max() and len(mixed.predict(ids=["BULK"])) == H
