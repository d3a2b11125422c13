"""Pure forecast-accuracy metrics over arrays and long-format frames (Nixtla's ``unique_id, ds, y``).

Point accuracy is scaled per series by the in-sample seasonal-naive error (MASE, RMSSE), so series of different
sizes are comparable and a value below 1 beats the naive forecast in-sample. On intermittent series an all-zero
forecast wins MASE, so every report pairs it with a probabilistic metric: the weighted quantile loss (WQL, the
GluonTS / Chronos definition, where the all-zero forecast scores exactly 1.0) and interval coverage. The tests
cross-check MASE, RMSSE and the scaled quantile loss against ``utilsforecast.losses``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features import columns as c

CUTOFF = "cutoff"


def quantile_column(q: float) -> str:
    """Column name of quantile ``q`` (0.9 -> "q90", 0.995 -> "q99.5")."""
    return f"q{100 * q:g}"


def seasonal_scale(history: Any, m: int, power: int = 1) -> float:
    """Mean of ``|y_t - y_{t-m}| ** power`` over a series' history; NaN when the history is shorter than m + 1."""
    y = np.asarray(history, dtype="float64")
    if y.size <= m:
        return float("nan")
    return float(np.mean(np.abs(y[m:] - y[:-m]) ** power))


def pinball(y: Any, pred: Any, q: float) -> np.ndarray:
    """Elementwise pinball (quantile) loss ``(y - pred) * (q - 1{y < pred})``, in [0, inf)."""
    y_arr, p_arr = np.asarray(y, dtype="float64"), np.asarray(pred, dtype="float64")
    diff = y_arr - p_arr
    return np.maximum(q * diff, (q - 1.0) * diff)


def weighted_quantile_loss(y: Any, preds: Mapping[float, Any]) -> float:
    """WQL in [0, inf): mean over quantiles of ``2 * sum pinball_q / sum |y|`` (all-zero forecast: 1.0 on y >= 0).

    Summed over every series and period before dividing, so large series weigh more (GluonTS ``mean_wQuantileLoss``).
    """
    y_arr = np.asarray(y, dtype="float64")
    denom = np.abs(y_arr).sum()
    if denom == 0:
        return float("nan")
    return float(np.mean([2 * pinball(y_arr, p, q).sum() / denom for q, p in preds.items()]))


def coverage(y: Any, lower: Any, upper: Any) -> float:
    """Share of observations inside ``[lower, upper]``, in [0, 1]; a calibrated 80 % interval scores about 0.8."""
    y_arr = np.asarray(y, dtype="float64")
    return float(np.mean((y_arr >= np.asarray(lower, dtype="float64")) & (y_arr <= np.asarray(upper, dtype="float64"))))


def _per_series(fcst: pd.DataFrame, history: pd.DataFrame, point: str, m: int) -> pd.DataFrame:
    """Per series: MAE, MSE, the seasonal-naive scales from the history, and the actual units (for weights)."""
    err = fcst[point].to_numpy("float64") - fcst[c.Y].to_numpy("float64")
    frame = pd.DataFrame({c.UNIQUE_ID: fcst[c.UNIQUE_ID].to_numpy(), "abs": np.abs(err), "sq": err**2})
    out = frame.groupby(c.UNIQUE_ID, sort=True).agg(mae=("abs", "mean"), mse=("sq", "mean"))
    hist = history.sort_values([c.UNIQUE_ID, c.DS]).groupby(c.UNIQUE_ID, sort=True)[c.Y]
    out["scale1"] = hist.agg(lambda s: seasonal_scale(s.to_numpy(), m, 1)).reindex(out.index)
    out["scale2"] = hist.agg(lambda s: seasonal_scale(s.to_numpy(), m, 2)).reindex(out.index)
    return out


def score_window(
    fcst: pd.DataFrame,
    history: pd.DataFrame,
    *,
    point: str,
    quantiles: Sequence[float] = (),
    m: int = 7,
    weights: pd.Series | None = None,
    intervals: Sequence[tuple[float, float]] = (),
) -> dict[str, float]:
    """Scores of one forecast window against its actuals.

    Args:
        fcst: ``unique_id, ds, y`` (actuals) plus the ``point`` column and one ``quantile_column(q)`` per quantile.
        history: the in-sample data before the window (``unique_id, ds, y``), for the MASE / RMSSE scales.
        point: the point-forecast column (MASE, RMSSE, bias).
        quantiles: quantile levels whose columns feed the WQL.
        m: seasonal period of the naive scale (7 daily, 12 monthly).
        weights: per-series weights (e.g. revenue) for the WRMSSE; equal weights when None.
        intervals: (lower, upper) quantile pairs whose coverage is reported.

    Returns:
        ``mase`` and ``rmsse`` (mean over series with a non-zero scale), ``wrmsse``, ``bias`` (sum of forecast minus
        actual over sum of actual; 0 is unbiased, -1 forecasts nothing), ``wql``, ``coverage_<lo>_<hi>``, ``n_series``.
    """
    per = _per_series(fcst, history, point, m)
    mase_s = per["mae"] / per["scale1"].where(per["scale1"] > 0)
    rmsse_s = np.sqrt(per["mse"] / per["scale2"].where(per["scale2"] > 0))
    w = pd.Series(1.0, index=per.index) if weights is None else weights.reindex(per.index).fillna(0.0)
    keep = rmsse_s.notna() & (w > 0)
    y = fcst[c.Y].to_numpy("float64")
    out = {
        "mase": float(mase_s.mean()),
        "rmsse": float(rmsse_s.mean()),
        "wrmsse": float((rmsse_s[keep] * w[keep]).sum() / w[keep].sum()) if keep.any() else float("nan"),
        "bias": float((fcst[point].to_numpy("float64") - y).sum() / max(y.sum(), 1e-12)),
        "n_series": float(len(per)),
    }
    if quantiles:
        out["wql"] = weighted_quantile_loss(y, {q: fcst[quantile_column(q)] for q in quantiles})
    for lo, hi in intervals:
        key = f"coverage_{quantile_column(lo)}_{quantile_column(hi)}"
        out[key] = coverage(y, fcst[quantile_column(lo)], fcst[quantile_column(hi)])
    return out


def score_windows(
    cv: pd.DataFrame, history: pd.DataFrame, *, revenue: pd.Series | None = None, **kwargs: Any
) -> dict[str, float]:
    """Mean of :func:`score_window` over rolling-origin windows (``cutoff`` column), each scaled by its own past.

    ``history`` is the full series; each window sees only rows before its cutoff, so the scales never read the
    window they score.
    """
    scores = []
    for cutoff, window in cv.groupby(CUTOFF, sort=True):
        past = history[history[c.DS] <= cutoff]
        scores.append(score_window(window, past, weights=revenue, **kwargs))
    table = pd.DataFrame(scores)
    return {k: float(v) for k, v in table.mean().items()} | {"n_windows": float(len(scores))}


def revenue_weights(history: pd.DataFrame, price: str | None, last: int) -> pd.Series:
    """M5-style WRMSSE weights: each series' share of revenue (units when no price) over its last ``last`` periods."""
    recent = history.sort_values(c.DS).groupby(c.UNIQUE_ID).tail(last)
    value = recent[c.Y] * (recent[price].fillna(0.0) if price and price in recent else 1.0)
    total = value.groupby(recent[c.UNIQUE_ID]).sum()
    return total / total.sum() if total.sum() > 0 else total
