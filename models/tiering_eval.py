"""Evaluate any tiering on held-out users: tier and revenue shares, stability across retrains, empty tiers, silhouette.

One function for the K-means model, the RFM-rules baseline and any future tiering, so they are compared on the same
rows with the same numbers (the champion gate and the benchmark call it alike). A tiering is anything with
``predict(frame) -> tier names``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_score

from models.metrics import adjusted_rand
from models.rfm import TIERS, tier_report
from models.tiering import _log_features


class Tiering(Protocol):
    def predict(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass
class TieringEvaluation:
    """Summary figures (keyed for logging) and the per-tier table of one tiering on one set of users."""

    summary: dict[str, float]
    table: pd.DataFrame


def tier_silhouette(frame: pd.DataFrame, tiers: Any, sample: int = 4000, random_state: int = 42) -> float:
    """Silhouette, in [-1, 1], of tier labels in the standardised log-RFM + tenure + value space of ``frame``.

    The space is standardised on ``frame`` itself, so two tierings of the same users are scored in the same space
    whatever they were fitted on. NaN with fewer than two tiers in the sample.
    """
    logs = _log_features(frame)
    scale = np.where(logs.std(axis=0) > 0, logs.std(axis=0), 1.0)
    z = (logs - logs.mean(axis=0)) / scale
    labels = np.asarray(tiers).astype(str)
    idx = np.random.default_rng(random_state).choice(len(z), size=min(len(z), sample), replace=False)
    if len(np.unique(labels[idx])) < 2:
        return float("nan")
    return float(silhouette_score(z[idx], labels[idx]))


def evaluate_tiering(
    model: Tiering,
    frame: pd.DataFrame,
    revenue: Any,
    previous: Tiering | None = None,
    random_state: int = 42,
) -> TieringEvaluation:
    """Score ``model`` on users it was not fitted on (e.g. the test cutoff's).

    Args:
        model: the tiering to judge.
        frame: held-out users with the tiering columns (``recency_days``, ``orders_365d``, ``spend_365d``,
            ``tenure_days``, ``predicted_ltv``).
        revenue: per user, aligned with ``frame`` (e.g. spend in the window after the cutoff).
        previous: the same method fitted one retrain earlier; stability is the adjusted Rand index of the two
            on these users (1 = same grouping; NaN without ``previous``).
        random_state: seeds the silhouette sample.

    Returns:
        summary: ``stability_ari``, ``empty_tiers`` (count of the six tiers nobody lands in), ``silhouette``,
        ``high_value_user_share``, ``high_value_revenue_share``, ``largest_tier_share``; table: users, user share,
        revenue and revenue share per tier (:func:`models.rfm.tier_report`).
    """
    tiers = np.asarray(model.predict(frame)).astype(str)
    rev = np.nan_to_num(np.asarray(revenue, dtype="float64").ravel())
    table = tier_report(tiers, rev)
    stability = adjusted_rand(previous.predict(frame), tiers) if previous is not None else float("nan")
    summary = {
        "stability_ari": float(stability),
        "empty_tiers": float(sum(t not in set(tiers) for t in TIERS)),
        "silhouette": tier_silhouette(frame, tiers, random_state=random_state),
        "high_value_user_share": float(table.loc["high_value", "user_share"]),
        "high_value_revenue_share": float(table.loc["high_value", "revenue_share"]),
        "largest_tier_share": float(table["user_share"].max()),
    }
    return TieringEvaluation(summary, table)
