"""Forecast baselines from statsforecast and the rolling-origin windows every demand model is scored on.

Baselines: seasonal naive and AutoETS (with their own prediction intervals), and for intermittent series
Croston-SBA, TSB, ADIDA and IMAPA, which give a point forecast only: their quantiles are that point (so their
WQL is twice their absolute error over total demand), which is how the published carparts figures score them.
An all-zero forecast is reported too, because it wins MASE on intermittent data.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import ADIDA, IMAPA, TSB, AutoETS, CrostonSBA, Naive, SeasonalNaive

from features import columns as c
from models.forecast_metrics import CUTOFF, quantile_column

logger = logging.getLogger(__name__)

BASELINES = ("SeasonalNaive", "AutoETS", "CrostonSBA", "TSB", "ADIDA", "IMAPA", "Zero")
INTERVAL_MODELS = ("SeasonalNaive", "AutoETS")


def rolling_cutoffs(ds: pd.Series, h: int, n_windows: int, freq: str) -> list[pd.Timestamp]:
    """Last training period of each rolling-origin window, oldest first; windows of ``h`` periods back to back."""
    last = pd.Timestamp(ds.max())
    offset = pd.tseries.frequencies.to_offset(freq)
    return [last - (n_windows - k) * h * offset for k in range(n_windows)]


def _interval_models(season: int) -> list:
    # Naive only fills SeasonalNaive where a series is shorter than one season (see _with_naive_fill)
    return [SeasonalNaive(season_length=season), AutoETS(season_length=season), Naive()]


def _with_naive_fill(fc: pd.DataFrame) -> pd.DataFrame:
    """SeasonalNaive leaves NaN where a series has no value one season back: use its last value there."""
    for column in [col for col in fc.columns if col.startswith("SeasonalNaive")]:
        fc[column] = fc[column].fillna(fc[column.replace("SeasonalNaive", "Naive", 1)])
    return fc


def _point_models() -> list:
    return [
        CrostonSBA(),
        TSB(alpha_d=0.2, alpha_p=0.2),
        ADIDA(),
        IMAPA(),
    ]


def _levels(quantiles: Sequence[float]) -> list[int]:
    """Interval levels whose bounds are the wanted quantiles (q and 1-q share a level)."""
    return sorted({round(abs(1 - 2 * q) * 100) for q in quantiles if q != 0.5})


def _to_quantiles(fc: pd.DataFrame, name: str, quantiles: Sequence[float]) -> pd.DataFrame:
    """One model's forecast as ``mean`` + quantile columns, clipped at zero (demand is never negative)."""
    out = fc[[c.UNIQUE_ID, c.DS]].copy()
    out["mean"] = fc[name].clip(lower=0.0)
    for q in quantiles:
        if name not in INTERVAL_MODELS or q == 0.5:
            col = fc[name]
        else:
            level = round(abs(1 - 2 * q) * 100)
            col = fc[f"{name}-{'lo' if q < 0.5 else 'hi'}-{level}"]
        out[quantile_column(q)] = col.clip(lower=0.0).to_numpy()
    return out


def baseline_forecasts(
    train: pd.DataFrame, h: int, freq: str, season: int, quantiles: Sequence[float], n_jobs: int = 1
) -> dict[str, pd.DataFrame]:
    """Every baseline's forecast of the next ``h`` periods after ``train`` (``unique_id, ds, y``)."""
    df = train[[c.UNIQUE_ID, c.DS, c.Y]]
    # A SKU launched days before the cutoff is too short for AutoETS ("tiny datasets"): statsforecast's own
    # fallback gives that series a naive forecast (with intervals) under the failing model's name.
    with_levels = StatsForecast(models=_interval_models(season), freq=freq, n_jobs=n_jobs, fallback_model=Naive())
    with warnings.catch_warnings():  # handled: _with_naive_fill gives those positions the last value
        warnings.filterwarnings("ignore", message="Historical data .* shorter than season_length", category=UserWarning)
        fc = _with_naive_fill(with_levels.forecast(df=df, h=h, level=_levels(quantiles)))
    points = StatsForecast(models=_point_models(), freq=freq, n_jobs=n_jobs, fallback_model=Naive())
    points = points.forecast(df=df, h=h)
    fc = fc.merge(points, on=[c.UNIQUE_ID, c.DS], how="inner")
    out = {name: _to_quantiles(fc, name, quantiles) for name in BASELINES if name != "Zero"}
    zero = fc[[c.UNIQUE_ID, c.DS]].copy()
    zero["mean"] = 0.0
    for q in quantiles:
        zero[quantile_column(q)] = 0.0
    out["Zero"] = zero
    return out


Forecaster = Callable[[pd.DataFrame, pd.Timestamp], dict[str, pd.DataFrame]]


def rolling_origin(
    history: pd.DataFrame,
    cutoffs: Sequence[pd.Timestamp],
    forecasters: Forecaster,
    actuals: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Run ``forecasters(train_up_to_cutoff, cutoff)`` at every cutoff and join the actuals.

    Args:
        history: the full frame; each call sees only rows with ``ds <= cutoff`` (no leakage by construction).
        cutoffs: last training period of each window.
        forecasters: returns model name -> forecast frame (``unique_id, ds`` + columns).
        actuals: what each window is scored against (default: ``history``'s ``y``; on the synthetic world the
            true unconstrained demand).

    Returns:
        model name -> ``unique_id, ds, cutoff, y`` + forecast columns over all windows.
    """
    truth = (actuals if actuals is not None else history)[[c.UNIQUE_ID, c.DS, c.Y]]
    out: dict[str, list[pd.DataFrame]] = {}
    for cutoff in cutoffs:
        train = history[history[c.DS] <= cutoff]
        for name, fc in forecasters(train, cutoff).items():
            joined = fc.merge(truth, on=[c.UNIQUE_ID, c.DS], how="inner").assign(**{CUTOFF: cutoff})
            out.setdefault(name, []).append(joined)
        logger.info("rolling origin: window at %s done", cutoff)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in out.items()}


def zero_share(frame: pd.DataFrame) -> float:
    """Share of zero periods: how intermittent a panel is."""
    return float(np.mean(frame[c.Y].to_numpy() == 0))
