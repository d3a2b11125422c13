"""Figures logged with training runs: calibration, SHAP summary, tier profile (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.metrics import calibration_curve


def calibration_figure(y: np.ndarray, scores: dict[str, np.ndarray], n_bins: int = 10) -> Figure:
    """Reliability diagram: mean predicted vs observed churn per bin, one line per model."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect")
    for name, p in scores.items():
        curve = calibration_curve(y, p, n_bins=n_bins)
        ax.plot(curve["mean_predicted"], curve["observed_rate"], marker="o", label=name)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Calibration on the test cutoff")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def shap_summary_figure(booster, x: pd.DataFrame, max_rows: int = 2000, seed: int = 0) -> Figure:
    """SHAP beeswarm of the LightGBM booster on a seeded sample of the holdout."""
    import shap

    sample = x.sample(min(max_rows, len(x)), random_state=seed).astype("float64")
    values = shap.TreeExplainer(booster).shap_values(sample)
    if isinstance(values, list):
        values = values[-1]
    plt.figure(figsize=(8, 6))
    shap.summary_plot(values, sample, show=False, max_display=15)
    fig = plt.gcf()
    fig.tight_layout()
    return fig


def tier_profile_figure(profile: pd.DataFrame, columns: list[str]) -> Figure:
    """Per-tier medians of the tiering inputs, normalised per column so tiers compare on one scale."""
    data = profile[columns].astype(float)
    normalised = (data - data.min()) / (data.max() - data.min()).replace(0, 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(columns) + 3, 0.5 * len(profile) + 2))
    ax.imshow(normalised.to_numpy(), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(profile)), profile.index.astype(str))
    for (i, j), value in np.ndenumerate(data.to_numpy()):
        ax.text(j, i, f"{value:,.0f}", ha="center", va="center", color="white", fontsize=8)
    ax.set_title("Tier profile (cluster centroids)")
    fig.tight_layout()
    return fig
