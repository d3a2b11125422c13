"""Churn risk bands (low / medium / high / critical) relative to the shop's own churn rate, chosen on validation.

Absolute cut points ("high" = at least 60% churn) break on shops whose base rate is far from the one they were
set for: where 70% of active customers do not come back, almost everyone looked "low" with no action. Bands here
are read against the shop's churn rate on the validation cutoff, in odds so they work at any base rate (a ratio
of probabilities cannot exceed 1 / base rate): medium from half the shop's churn odds, high from 1.5 times them,
and critical for the riskiest ``critical_share`` of validation users above high (a short list operators can
work). Re-exported by :mod:`models.churn`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

BANDS: tuple[str, ...] = ("low", "medium", "high", "critical")
_BAND_NAMES = np.array(BANDS)  # by code: 0 low .. 3 critical (:func:`risk_band`)

#: Churn odds, relative to the shop's, from which a user is medium and high risk.
DEFAULT_ODDS_RATIOS: tuple[float, float] = (0.5, 1.5)
#: Largest share of validation users in the critical band.
DEFAULT_CRITICAL_SHARE = 0.1


@dataclass(frozen=True)
class RiskThresholds:
    """Lower probability bounds of the medium, high and critical bands (``inf`` = band unreachable).

    ``base_rate`` is the validation churn rate the bounds were read against (NaN when set by hand) and
    ``critical_share`` the share of validation users the critical band was sized for, ``odds_ratios`` the medium and
    high cuts as multiples of the shop's churn odds.
    """

    medium: float
    high: float
    critical: float
    base_rate: float = float("nan")
    critical_share: float = float("nan")
    odds_ratios: tuple[float, float] = DEFAULT_ODDS_RATIOS

    def __post_init__(self) -> None:
        if not self.medium <= self.high <= self.critical:
            raise ValueError(f"thresholds must satisfy medium <= high <= critical, got {self}")

    def rule(self) -> str:
        """The band rule in one line, with the numbers this model uses."""
        crit = "never" if not np.isfinite(self.critical) else f"P >= {self.critical:.2f}"
        if np.isnan(self.base_rate):
            return f"critical: {crit}; high: P >= {self.high:.2f}; medium: P >= {self.medium:.2f}; low: below"
        return (
            f"vs this shop's churn rate {self.base_rate:.2f}: critical = riskiest {self.critical_share:.0%} "
            f"({crit}); high = churn odds >= {self.odds_ratios[1]:g}x the shop's (P >= {self.high:.2f}); "
            f"medium >= {self.odds_ratios[0]:g}x (P >= {self.medium:.2f}); low below"
        )


def _validated(p_val: Any, y_val: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p_val, dtype="float64").ravel()
    y = np.asarray(y_val, dtype="float64").ravel()
    if p.shape != y.shape or p.size == 0:
        raise ValueError("p_val and y_val must be non-empty and of equal length")
    if np.isnan(p).any() or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("p_val must be free of NaN and y_val binary")
    return p, y


def odds_threshold(base_rate: float, ratio: float) -> float:
    """The probability whose odds are ``ratio`` times the odds of ``base_rate``, in [0, 1]."""
    if base_rate <= 0:
        return 0.0
    if base_rate >= 1:
        return 1.0
    odds = ratio * base_rate / (1.0 - base_rate)
    return float(odds / (1.0 + odds))


def _top_share_cut(p: np.ndarray, share: float, floor: float, min_users: int) -> float:
    """Lowest score t >= ``floor`` with at most ``share`` of users at or above it and at least ``min_users``.

    Ties are never split, so a model that scores everyone alike has no critical band (``inf``).
    """
    scores = np.sort(p)[::-1]
    last_of_tie = np.r_[np.diff(scores) != 0, True]
    distinct, seen = scores[last_of_tie], np.arange(1, p.size + 1)[last_of_tie]
    ok = (seen <= share * p.size) & (seen >= min_users) & (distinct >= floor)
    return float(distinct[np.flatnonzero(ok)[-1]]) if ok.any() else float("inf")


def choose_risk_thresholds(
    p_val: Any,
    y_val: Any,
    odds_ratios: tuple[float, float] = DEFAULT_ODDS_RATIOS,
    critical_share: float = DEFAULT_CRITICAL_SHARE,
    min_users: int = 30,
) -> RiskThresholds:
    """Band cuts from validation predictions and labels (see the module docstring for the rule).

    The base rate is the validation churn rate; medium and high start where a user's churn odds reach
    ``odds_ratios`` times the shop's; critical is the riskiest ``critical_share`` of validation users, if they
    number at least ``min_users`` and are above the high cut (otherwise the band is empty: ``inf``).
    """
    p, y = _validated(p_val, y_val)
    if not 0 < odds_ratios[0] <= odds_ratios[1]:
        raise ValueError(f"odds_ratios must satisfy 0 < medium <= high, got {odds_ratios}")
    base = float(y.mean())
    medium, high = (odds_threshold(base, r) for r in odds_ratios)
    critical = max(_top_share_cut(p, critical_share, high, min_users), high)
    return RiskThresholds(medium, high, critical, base, critical_share, tuple(odds_ratios))


def band_reason(p: float, band: str, thresholds: RiskThresholds) -> str:
    """Why one probability falls in its band, in a phrase (used by the per-user ``rule`` line)."""
    t, base = thresholds, thresholds.base_rate
    if band == "critical":
        return f"P(churn) {p:.2f} >= {t.critical:.2f}, the riskiest {t.critical_share:.0%} of users"
    shop = "" if np.isnan(base) else f" (this shop's churn rate {base:.2f})"
    medium_x, high_x = t.odds_ratios
    if band == "high":
        return f"P(churn) {p:.2f} >= {t.high:.2f}: churn odds >= {high_x:g}x the shop's{shop}"
    if band == "medium":
        return f"P(churn) {p:.2f} >= {t.medium:.2f}: churn odds >= {medium_x:g}x the shop's{shop}"
    if band == "low":
        return f"P(churn) {p:.2f} < {t.medium:.2f}: churn odds under {medium_x:g}x the shop's{shop}"
    raise KeyError(band)


def risk_band(p: Any, thresholds: RiskThresholds) -> np.ndarray:
    """Band name per probability: "critical" if ``p >= critical``, else "high" if ``p >= high``, and so on."""
    arr = np.asarray(p, dtype="float64").ravel()
    if np.isnan(arr).any():
        raise ValueError("NaN probability has no risk band")
    # The code is how many of the (ordered) bounds p reaches: one binary search, names taken once at the end.
    code = np.array((thresholds.medium, thresholds.high, thresholds.critical)).searchsorted(arr, side="right")
    return _BAND_NAMES[code]
