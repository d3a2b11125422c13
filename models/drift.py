"""Population stability index (PSI): how far a feature's or a score's distribution moved between two samples.

Written by hand on purpose: Evidently (which computes PSI among many drift tests) is not in the lock file and its
HTML inlines ~3.5 MB of JavaScript, and PSI itself is ten lines of NumPy. Conventions follow the credit-scoring
use of PSI that Evidently and ``popmon`` also follow: bins are quantiles of the *reference* sample, empty bins get
a small floor so the logarithm stays finite, and missing values are a bin of their own (a feature that starts
arriving empty is drift too).

Reading a PSI (the usual rule of thumb): < 0.1 no meaningful shift, 0.1-0.25 moderate shift, >= 0.25 major shift.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

MODERATE = 0.1
MAJOR = 0.25
_FLOOR = 1e-4  # share given to an empty bin (Evidently uses the same order of magnitude)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI = sum over bins of (cur% - ref%) * ln(cur% / ref%), with bins from the reference's quantiles.

    Range: 0 (identical binned distributions) to +inf; symmetric in the two shares. Ties collapse quantile edges,
    so a discrete feature (counts, flags) gets one bin per distinct reference value band rather than ``bins``.
    NaNs form their own bin. Returns NaN when either sample is empty.

    Args:
        reference: the sample the model was trained on (training window).
        current: the sample to compare (latest data, or the served predictions).
        bins: number of quantile bins of the reference.
    """
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    ref_ok, cur_ok = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    inner = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.quantile(ref_ok, inner)) if ref_ok.size else np.array([])
    ref_share = _shares(ref_ok, edges, ref.size)
    cur_share = _shares(cur_ok, edges, cur.size)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def _shares(finite: np.ndarray, edges: np.ndarray, total: int) -> np.ndarray:
    """Share of ``total`` per bin (``searchsorted`` on the inner edges), plus the missing-value bin, floored."""
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1).astype("float64")
    counts = np.append(counts, total - finite.size)
    return np.maximum(counts / total, _FLOOR)


def psi_table(reference: pd.DataFrame, current: pd.DataFrame, columns: Iterable[str], bins: int = 10) -> pd.DataFrame:
    """PSI per column, largest first, with the level (``stable`` / ``moderate`` / ``major``) and both medians."""
    rows = []
    for name in columns:
        ref = pd.to_numeric(reference[name], errors="coerce").to_numpy(dtype="float64")
        cur = pd.to_numeric(current[name], errors="coerce").to_numpy(dtype="float64")
        value = psi(ref, cur, bins)
        rows.append(
            {
                "feature": name,
                "psi": value,
                "level": level(value),
                "reference_median": float(np.nanmedian(ref)) if np.isfinite(ref).any() else np.nan,
                "current_median": float(np.nanmedian(cur)) if np.isfinite(cur).any() else np.nan,
            }
        )
    table = pd.DataFrame(rows, columns=["feature", "psi", "level", "reference_median", "current_median"])
    return table.sort_values("psi", ascending=False, ignore_index=True, na_position="last")


def level(value: float) -> str:
    """``stable`` (< 0.1), ``moderate`` (< 0.25) or ``major``; ``unknown`` for NaN."""
    if not np.isfinite(value):
        return "unknown"
    return "stable" if value < MODERATE else "moderate" if value < MAJOR else "major"
