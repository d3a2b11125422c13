"""Churn risk bands (low / medium / high / critical) with thresholds chosen on validation data.

Bands turn a calibrated probability into an operational priority; the recall rules (:mod:`models.recall`) map
tier x band to an action. Re-exported by :mod:`models.churn`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

BANDS: tuple[str, ...] = ("low", "medium", "high", "critical")

#: Churn rate each band itself must reach on validation (medium, high, critical).
DEFAULT_MIN_CHURN_RATE: tuple[float, float, float] = (0.3, 0.6, 0.85)
#: Largest share of users each band-or-higher may hold, so "critical" stays a short list operators can work.
DEFAULT_MAX_SHARE: tuple[float, float, float] = (0.5, 0.25, 0.1)


@dataclass(frozen=True)
class RiskThresholds:
    """Lower probability bounds of the medium, high and critical bands (``inf`` = band unreachable)."""

    medium: float
    high: float
    critical: float

    def __post_init__(self) -> None:
        if not self.medium <= self.high <= self.critical:
            raise ValueError(f"thresholds must satisfy medium <= high <= critical, got {self}")


@dataclass(frozen=True)
class _Ladder:
    """Validation users sorted by descending score, at each distinct score: users and churners at or above it."""

    scores: np.ndarray
    seen: np.ndarray
    churned: np.ndarray

    def lowest_cut(self, upper: int, rate: float, share: float, min_users: int) -> int:
        """Index of the lowest cut below ``upper`` whose band (between the cut and ``upper``) meets the targets.

        ``upper`` is the index of the next stricter band's cut (-1: none); returns ``upper`` when no cut qualifies.
        """
        seen_above = self.seen[upper] if upper >= 0 else 0
        churned_above = self.churned[upper] if upper >= 0 else 0
        in_band = self.seen - seen_above
        with np.errstate(divide="ignore", invalid="ignore"):
            band_rate = (self.churned - churned_above) / in_band
        ok = (band_rate >= rate) & (self.seen / self.seen[-1] <= share) & (in_band >= min_users)
        ok[: upper + 1] = False
        return int(np.flatnonzero(ok)[-1]) if ok.any() else upper

    def threshold(self, index: int) -> float:
        return float(self.scores[index]) if index >= 0 else float("inf")


def _ladder(p_val: Any, y_val: Any) -> _Ladder:
    p = np.asarray(p_val, dtype="float64").ravel()
    y = np.asarray(y_val, dtype="float64").ravel()
    if p.shape != y.shape or p.size == 0:
        raise ValueError("p_val and y_val must be non-empty and of equal length")
    if np.isnan(p).any() or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("p_val must be free of NaN and y_val binary")
    order = np.argsort(-p, kind="stable")
    scores, labels = p[order], y[order]
    last_of_tie = np.r_[np.diff(scores) != 0, True]
    seen = np.arange(1, p.size + 1)[last_of_tie]
    return _Ladder(scores[last_of_tie], seen, np.cumsum(labels)[last_of_tie])


def choose_risk_thresholds(
    p_val: Any,
    y_val: Any,
    min_churn_rate: tuple[float, float, float] = DEFAULT_MIN_CHURN_RATE,
    max_share: tuple[float, float, float] = DEFAULT_MAX_SHARE,
    min_users: int = 30,
) -> RiskThresholds:
    """Band cuts from validation predictions: per-band churn-rate targets, capped by capacity.

    Rule, from the top band down (critical, then high, then medium): the band's cut is the lowest predicted
    probability t below the stricter band's cut such that, on validation, (1) the users between t and the stricter
    cut churned at a rate of at least ``min_churn_rate[b]`` (so "high" means "at least 60% of these users left",
    whatever the base rate), (2) users at or above t are at most ``max_share[b]`` of all users (the higher bands
    stay short enough to act on when churn is common) and (3) the band holds at least ``min_users`` users (a
    rate measured on a handful proves nothing). A band no cut satisfies is empty: its cut equals the stricter
    band's, or ``inf`` at the top, rather than a made-up threshold.
    """
    ladder = _ladder(p_val, y_val)
    upper, cuts = -1, []
    for rate, share in zip(reversed(min_churn_rate), reversed(max_share), strict=True):
        upper = ladder.lowest_cut(upper, rate, share, min_users)
        cuts.append(ladder.threshold(upper))
    critical, high, medium = cuts
    return RiskThresholds(medium, high, critical)


def risk_band(p: Any, thresholds: RiskThresholds) -> np.ndarray:
    """Band name per probability: "critical" if ``p >= critical``, else "high" if ``p >= high``, and so on."""
    arr = np.asarray(p, dtype="float64").ravel()
    if np.isnan(arr).any():
        raise ValueError("NaN probability has no risk band")
    conditions = [arr >= thresholds.critical, arr >= thresholds.high, arr >= thresholds.medium]
    return np.select(conditions, list(BANDS[:0:-1]), default=BANDS[0])
