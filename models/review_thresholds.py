"""Label thresholds for review authenticity, chosen on validation for a stated precision of "fake".

"fake" hides a review, so its threshold is the lowest probability at which the validation precision reaches the
target (default 95 %); "suspicious" sends a review to a moderator's queue, so its threshold is the lowest probability
at which at least ``suspicious_precision`` (default one in two) of the reviews held in the band below "fake" are
fakes: a queue mostly of genuine reviews would train moderators to wave everything through. Never above the fake
threshold; equal to it when no such band exists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LabelThresholds:
    """Probability bounds of "suspicious" and "fake" and what they achieved on validation (``inf``: unreachable)."""

    suspicious: float
    fake: float
    target_precision: float
    fake_precision: float
    fake_recall: float
    suspicious_recall: float
    suspicious_precision: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def labels(self, p: np.ndarray) -> np.ndarray:
        """genuine / suspicious / fake per probability."""
        return np.where(p >= self.fake, "fake", np.where(p >= self.suspicious, "suspicious", "genuine")).astype(object)


def _curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct thresholds (high to low) with precision and count flagged of ``p >= threshold``."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[np.diff(ps) != 0, True]
    tp = np.cumsum(ys)[last]
    flagged = np.arange(1, len(ys) + 1)[last]
    return ps[last], tp / flagged, flagged


def choose_thresholds(
    y: np.ndarray,
    p: np.ndarray,
    target_precision: float = 0.95,
    suspicious_precision: float = 0.5,
    min_flagged: int = 5,
) -> LabelThresholds:
    """Thresholds from validation labels ``y`` (1 = fake) and calibrated probabilities ``p``.

    The fake threshold is the lowest one whose precision reaches ``target_precision`` with at least
    ``min_flagged`` reviews flagged (a precision read off two reviews means nothing); ``inf`` when no threshold
    does, so nothing is hidden automatically and every doubt goes to a moderator.
    """
    y = np.asarray(y, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.sum() == 0:
        raise ValueError("validation holds no fake reviews: thresholds cannot be chosen")
    thresholds, precision, flagged = _curve(y, p)
    enough = flagged >= min_flagged
    ok = np.flatnonzero((precision >= target_precision) & enough)
    fake = float(thresholds[ok[-1]]) if len(ok) else float("inf")
    above = p >= fake  # the band [suspicious, fake) must itself be precise, not ride on the sure fakes above it
    tp_band = precision * flagged - y[above].sum()
    n_band = flagged - above.sum()
    band_ok = (thresholds < fake) & (n_band >= min_flagged) & (tp_band >= suspicious_precision * np.maximum(n_band, 1))
    held = np.flatnonzero(band_ok)
    suspicious = min(float(thresholds[held[-1]]) if len(held) else fake, fake)
    hit, hold = p >= fake, p >= suspicious
    return LabelThresholds(
        suspicious=suspicious,
        fake=fake,
        target_precision=target_precision,
        fake_precision=float(y[hit].mean()) if hit.any() else float("nan"),
        fake_recall=float(y[hit].sum() / y.sum()),
        suspicious_recall=float(y[hold].sum() / y.sum()),
        suspicious_precision=float(y[hold & ~hit].mean()) if (hold & ~hit).any() else float("nan"),
    )
