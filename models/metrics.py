"""Pure metric functions over arrays: ranking, probability quality, calibration, agreement.

Each function takes plain array-likes and returns numbers or a DataFrame, so training, benchmarks and reports score
models the same way. The tests cross-check every one against scikit-learn or SciPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def _binary(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated labels in {0, 1} and probabilities in [0, 1] of equal length, without NaN."""
    y_arr = np.asarray(y, dtype="float64").ravel()
    p_arr = np.asarray(p, dtype="float64").ravel()
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"y has {y_arr.size} values but p has {p_arr.size}")
    if y_arr.size == 0:
        raise ValueError("empty input")
    if np.isnan(y_arr).any() or np.isnan(p_arr).any():
        raise ValueError("NaN in y or p")
    if not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("y must contain only 0 and 1")
    if (p_arr < 0).any() or (p_arr > 1).any():
        raise ValueError("p must lie in [0, 1]")
    return y_arr, p_arr


def roc_auc(y: Any, p: Any) -> float:
    """Area under the ROC curve, in [0, 1] (0.5 = random ranking).

    The probability that a random positive scores above a random negative, ties counting one half
    (Mann-Whitney U / (n_pos * n_neg)). NaN when only one class is present.
    """
    y_arr, p_arr = _binary(y, p)
    n_pos = y_arr.sum()
    n_neg = y_arr.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p_arr)
    u = ranks[y_arr == 1].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def pr_auc(y: Any, p: Any) -> float:
    """Average precision, in [0, 1] (a random ranking scores about the base rate).

    ``sum_n (R_n - R_{n-1}) * P_n`` over the distinct score thresholds from high to low, where P_n and R_n are the
    precision and recall of "score >= threshold n" (scikit-learn's definition, no interpolation). NaN without
    positives.
    """
    y_arr, p_arr = _binary(y, p)
    n_pos = y_arr.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-p_arr, kind="stable")
    scores, labels = p_arr[order], y_arr[order]
    last_of_tie = np.r_[np.diff(scores) != 0, True]
    tp = np.cumsum(labels)[last_of_tie]
    seen = (np.arange(1, labels.size + 1))[last_of_tie]
    precision = tp / seen
    recall_gain = np.diff(np.r_[0.0, tp]) / n_pos
    return float(np.sum(recall_gain * precision))


def log_loss(y: Any, p: Any) -> float:
    """Mean negative log-likelihood (natural log), in [0, inf); 0 is perfect, ln 2 ≈ 0.693 is a coin flip.

    Probabilities are clipped to [eps, 1 - eps] with float64 machine epsilon so a confident miss is large but
    finite.
    """
    y_arr, p_arr = _binary(y, p)
    eps = np.finfo(np.float64).eps
    q = np.clip(p_arr, eps, 1 - eps)
    return float(-np.mean(y_arr * np.log(q) + (1 - y_arr) * np.log1p(-q)))


def brier(y: Any, p: Any) -> float:
    """Brier score: mean squared error of the probabilities, in [0, 1]; lower is better."""
    y_arr, p_arr = _binary(y, p)
    return float(np.mean((p_arr - y_arr) ** 2))


def _bin_ids(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bins on [0, 1], right-closed except the first (as scikit-learn's calibration_curve)."""
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], p)


def calibration_curve(y: Any, p: Any, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table over equal-width probability bins; empty bins are left out.

    Columns: ``bin`` (0-based), ``lower``/``upper`` (bin edges), ``count``, ``mean_predicted`` and
    ``observed_rate`` (share of positives), each rate in [0, 1]. A calibrated model has
    ``mean_predicted ≈ observed_rate`` in every bin.
    """
    y_arr, p_arr = _binary(y, p)
    ids = _bin_ids(p_arr, n_bins)
    frame = pd.DataFrame({"bin": ids, "p": p_arr, "y": y_arr})
    table = frame.groupby("bin").agg(count=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    table = table.reset_index()
    table.insert(1, "lower", table["bin"] / n_bins)
    table.insert(2, "upper", (table["bin"] + 1) / n_bins)
    return table


def expected_calibration_error(y: Any, p: Any, n_bins: int = 10) -> float:
    """Expected calibration error, in [0, 1]: ``sum_b (n_b / n) * |mean p_b - mean y_b|`` over equal-width bins.

    0 means every bin's average prediction equals its observed rate. Bins as in :func:`calibration_curve`.
    """
    table = calibration_curve(y, p, n_bins)
    weights = table["count"] / table["count"].sum()
    return float(np.sum(weights * (table["mean_predicted"] - table["observed_rate"]).abs()))


def lift_at(y: Any, p: Any, fraction: float = 0.1) -> float:
    """Lift in the top ``fraction`` by score, in [0, 1 / base rate]; 1 = no better than random.

    Positive rate among the ``ceil(fraction * n)`` highest-scored rows (ties broken by input order) divided by
    the overall positive rate. NaN without positives.
    """
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    y_arr, p_arr = _binary(y, p)
    base = y_arr.mean()
    if base == 0:
        return float("nan")
    top = int(np.ceil(fraction * y_arr.size))
    order = np.argsort(-p_arr, kind="stable")[:top]
    return float(y_arr[order].mean() / base)


def spearman(a: Any, b: Any) -> float:
    """Spearman rank correlation, in [-1, 1]: Pearson correlation of average ranks (ties share a rank).

    NaN when either input is constant.
    """
    a_arr = np.asarray(a, dtype="float64").ravel()
    b_arr = np.asarray(b, dtype="float64").ravel()
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"a has {a_arr.size} values but b has {b_arr.size}")
    if np.isnan(a_arr).any() or np.isnan(b_arr).any():
        raise ValueError("NaN in a or b")
    ra, rb = rankdata(a_arr) - (a_arr.size + 1) / 2, rankdata(b_arr) - (b_arr.size + 1) / 2
    denom = np.sqrt(np.sum(ra**2) * np.sum(rb**2))
    if denom == 0:
        return float("nan")
    return float(np.sum(ra * rb) / denom)


def _pairs(counts: np.ndarray) -> float:
    return float(np.sum(counts * (counts - 1) / 2))


def adjusted_rand(a: Any, b: Any) -> float:
    """Adjusted Rand index of two labelings of the same items, in [-0.5, 1]; 1 = identical partitions.

    Pair-counting agreement corrected for chance (Hubert & Arabie), so random labelings score about 0 whatever
    the number of clusters. Label values need not match between ``a`` and ``b``, only the grouping.
    """
    a_arr, b_arr = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"a has {a_arr.size} labels but b has {b_arr.size}")
    n = a_arr.size
    if n < 2:
        return 1.0
    _, ia = np.unique(a_arr, return_inverse=True)
    _, ib = np.unique(b_arr, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1)
    index = _pairs(table)
    rows, cols = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2)
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0
    return float((index - expected) / (maximum - expected))


def classification_report(y: Any, p: Any) -> dict[str, float]:
    """Every probability metric above for one scored set, keyed for logging (e.g. as MLflow metrics)."""
    y_arr, p_arr = _binary(y, p)
    return {
        "n": float(y_arr.size),
        "base_rate": float(y_arr.mean()),
        "mean_predicted": float(p_arr.mean()),
        "roc_auc": roc_auc(y_arr, p_arr),
        "pr_auc": pr_auc(y_arr, p_arr),
        "log_loss": log_loss(y_arr, p_arr),
        "brier": brier(y_arr, p_arr),
        "ece": expected_calibration_error(y_arr, p_arr),
        "lift_at_10": lift_at(y_arr, p_arr, 0.1),
    }
