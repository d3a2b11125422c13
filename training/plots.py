"""Figures logged with training runs: calibration, SHAP importance, tier profile.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot state, no backend switch at import time), so
importing this module changes nothing for a notebook or a server in the same process.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.metrics import calibration_curve


def calibration_figure(y: np.ndarray, scores: dict[str, np.ndarray], n_bins: int = 10) -> Figure:
    """Reliability diagram: mean predicted vs observed rate per bin, one line per model."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect")
    for name, p in scores.items():
        curve = calibration_curve(y, p, n_bins=n_bins)
        ax.plot(curve["mean_predicted"], curve["observed_rate"], marker="o", label=name)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration on the holdout")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def shap_importance(contributions: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """Mean |TreeSHAP| per feature and the direction of its effect, from per-row contributions.

    ``contributions`` holds one column per model feature (plus ``bias``, ignored), e.g. LightGBM's
    ``pred_contrib`` (TreeSHAP, exact for trees); ``values`` the same rows' feature values. ``direction`` is the sign
    of the correlation between a feature's value and its contribution: +1 = larger values push the score up.
    """
    rows = []
    for name in [c for c in contributions.columns if c != "bias"]:
        contrib = contributions[name].to_numpy(dtype="float64")
        value = values[name].to_numpy(dtype="float64") if name in values.columns else np.full(len(contrib), np.nan)
        ok = np.isfinite(value)
        corr = np.corrcoef(value[ok], contrib[ok])[0, 1] if ok.sum() > 2 and value[ok].std() > 0 else 0.0
        sign = float(np.sign(np.nan_to_num(corr)))
        rows.append({"feature": name, "mean_abs_shap": float(np.abs(contrib).mean()), "direction": sign})
    return pd.DataFrame(rows).sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def shap_importance_figure(importance: pd.DataFrame, top: int = 15) -> Figure:
    """Horizontal bars of mean |SHAP|, red where larger values raise the score and blue where they lower it."""
    shown = importance.head(top).iloc[::-1]
    fig = Figure(figsize=(7, 0.35 * len(shown) + 1.5))
    ax = fig.subplots()
    colours = ["#c0392b" if d > 0 else "#2471a3" for d in shown["direction"]]
    ax.barh(shown["feature"], shown["mean_abs_shap"], color=colours)
    ax.set_xlabel("mean |SHAP| (red: larger value raises the score; blue: lowers it)")
    ax.set_title("What drives the model (TreeSHAP on the holdout)")
    fig.tight_layout()
    return fig


def tier_profile_figure(profile: pd.DataFrame, columns: list[str]) -> Figure:
    """Per-tier medians of the tiering inputs, normalised per column so tiers compare on one scale."""
    data = profile[columns].astype(float)
    normalised = (data - data.min()) / (data.max() - data.min()).replace(0, 1)
    fig = Figure(figsize=(1.2 * len(columns) + 3, 0.5 * len(profile) + 2))
    ax = fig.subplots()
    ax.imshow(normalised.to_numpy(), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(profile)), profile.index.astype(str))
    for (i, j), value in np.ndenumerate(data.to_numpy()):
        ax.text(j, i, f"{value:,.0f}", ha="center", va="center", color="white", fontsize=8)
    ax.set_title("Tier profile (cluster centroids)")
    fig.tight_layout()
    return fig
