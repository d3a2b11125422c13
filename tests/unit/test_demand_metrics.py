"""Forecast metrics: definitions on hand-made numbers and cross-checks against utilsforecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from utilsforecast import losses as ufl

from models.forecast_metrics import (
    coverage,
    pinball,
    quantile_column,
    score_window,
    score_windows,
    seasonal_scale,
    weighted_quantile_loss,
)

pytestmark = pytest.mark.unit


def _panel(seed: int = 0, n: int = 6, t: int = 40, h: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=t + h, freq="D")
    rows = []
    for i in range(n):
        y = rng.poisson(2 + i, t + h).astype(float)
        rows.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    full = pd.concat(rows, ignore_index=True)
    train = full[full.ds < ds[t]]
    test = full[full.ds >= ds[t]].copy()
    test["model"] = test["y"] + rng.normal(0, 1.5, len(test))
    for q in (0.1, 0.5, 0.9):
        test[quantile_column(q)] = test["model"] + (q - 0.5) * 4
    return train, test


def test_quantile_column_names() -> None:
    assert quantile_column(0.9) == "q90" and quantile_column(0.995) == "q99.5" and quantile_column(0.05) == "q5"


def test_all_zero_forecast_scores_wql_one() -> None:
    y = np.array([0, 3, 0, 1, 7.0])
    zero = {q: np.zeros(5) for q in np.round(np.arange(0.1, 1.0, 0.1), 1)}
    assert weighted_quantile_loss(y, zero) == pytest.approx(1.0)


def test_pinball_and_coverage_by_hand() -> None:
    assert pinball([10.0], [8.0], 0.9)[0] == pytest.approx(1.8)
    assert pinball([10.0], [12.0], 0.9)[0] == pytest.approx(0.2)
    assert coverage([1, 2, 3, 4], [0, 2.5, 0, 5], [2, 3, 3, 6]) == pytest.approx(0.5)
    assert seasonal_scale([1, 2, 4, 7], 1) == pytest.approx(2.0)
    assert np.isnan(seasonal_scale([1.0], 7))


def test_mase_and_rmsse_match_utilsforecast() -> None:
    train, test = _panel()
    ours = score_window(test, train, point="model", m=7)
    ref_mase = ufl.mase(test, ["model"], 7, train)["model"].mean()
    ref_rmsse = ufl.rmsse(test, ["model"], 7, train)["model"].mean()
    assert ours["mase"] == pytest.approx(ref_mase, rel=1e-9)
    assert ours["rmsse"] == pytest.approx(ref_rmsse, rel=1e-9)


def test_pinball_matches_utilsforecast_quantile_loss() -> None:
    _, test = _panel(seed=1)
    ref = ufl.quantile_loss(test, {"model": "q90"}, q=0.9)["model"]
    ours = pd.Series(pinball(test["y"], test["q90"], 0.9)).groupby(test["unique_id"].to_numpy()).mean()
    np.testing.assert_allclose(ours.sort_index().to_numpy(), ref.to_numpy(), rtol=1e-9)


def test_score_windows_scales_each_window_by_its_own_past() -> None:
    train, test = _panel(seed=2)
    history = pd.concat([train, test[["unique_id", "ds", "y"]]])
    cutoff = train.ds.max()
    cv = test.assign(cutoff=cutoff)
    out = score_windows(cv, history, point="model", quantiles=(0.1, 0.5, 0.9), m=7, intervals=[(0.1, 0.9)])
    direct = score_window(test, train, point="model", quantiles=(0.1, 0.5, 0.9), m=7, intervals=[(0.1, 0.9)])
    assert out["mase"] == pytest.approx(direct["mase"]) and out["n_windows"] == 1
    assert 0 <= out["coverage_q10_q90"] <= 1 and out["wql"] > 0
