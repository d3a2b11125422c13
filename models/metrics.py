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


def top_share_captured(y: Any, pred: Any, fraction: float = 0.1) -> float:
    """Share of the total of ``y`` held by the top ``fraction`` of rows by ``pred``, in [0, 1] (1 = all of it).

    For lifetime value: how much of next period's spend the users ranked highest by the model really bring.
    """
    y_arr = np.asarray(y, dtype="float64").ravel()
    p_arr = np.asarray(pred, dtype="float64").ravel()
    total = y_arr.sum()
    if total <= 0:
        return float("nan")
    top = int(np.ceil(fraction * y_arr.size))
    return float(y_arr[np.argsort(-p_arr, kind="stable")[:top]].sum() / total)


def regression_report(y: Any, pred: Any) -> dict[str, float]:
    """RMSE, MAE, bias (mean pred - mean y), Spearman and top-decile capture of one scored set."""
    y_arr = np.asarray(y, dtype="float64").ravel()
    p_arr = np.asarray(pred, dtype="float64").ravel()
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"y has {y_arr.size} values but pred has {p_arr.size}")
    err = p_arr - y_arr
    return {
        "n": float(y_arr.size),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "bias": float(err.mean()),
        "spearman": spearman(y_arr, p_arr),
        "top_decile_capture": top_share_captured(y_arr, p_arr, 0.1),
    }


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


# --- top-k recommendation metrics (binary relevance; one truth set and one ranked list per user) ---


def _ranked_pairs(truth: Any, recs: Any) -> list[tuple[set, list]]:
    """Validated per-user (relevant set, ranked list) pairs; users without relevant items are an input error."""
    truth_list, recs_list = list(truth), list(recs)
    if len(truth_list) != len(recs_list):
        raise ValueError(f"truth has {len(truth_list)} users but recs has {len(recs_list)}")
    if not truth_list:
        raise ValueError("empty input")
    pairs = [(set(t), list(r)) for t, r in zip(truth_list, recs_list, strict=True)]
    if any(not t for t, _ in pairs):
        raise ValueError("every user needs at least one relevant item (drop users with an empty truth set)")
    return pairs


def _hits(relevant: set, ranked: list, k: int) -> np.ndarray:
    if k < 1:
        raise ValueError("k must be >= 1")
    return np.array([item in relevant for item in ranked[:k]], dtype="float64")


def ndcg_at_k(truth: Any, recs: Any, k: int = 10) -> float:
    """Mean nDCG@k over users, in [0, 1]; binary gains, ``DCG = sum_i rel_i / log2(i + 2)`` over the top k.

    The ideal DCG puts ``min(|relevant|, k)`` hits first (scikit-learn's ``ndcg_score`` with ``k`` agrees).
    """
    scores = []
    for relevant, ranked in _ranked_pairs(truth, recs):
        hits = _hits(relevant, ranked, k)
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = discounts[: min(len(relevant), k)].sum()
        scores.append(float((hits * discounts[: hits.size]).sum() / ideal))
    return float(np.mean(scores))


def recall_at_k(truth: Any, recs: Any, k: int = 20) -> float:
    """Mean recall@k over users, in [0, 1]: relevant items in the top k divided by all relevant items."""
    return float(np.mean([_hits(rel, ranked, k).sum() / len(rel) for rel, ranked in _ranked_pairs(truth, recs)]))


def map_at_k(truth: Any, recs: Any, k: int = 10) -> float:
    """Mean average precision@k, in [0, 1]: ``sum_i P@i * rel_i / min(|relevant|, k)`` averaged over users."""
    scores = []
    for relevant, ranked in _ranked_pairs(truth, recs):
        hits = _hits(relevant, ranked, k)
        precision = np.cumsum(hits) / np.arange(1, hits.size + 1) if hits.size else hits
        scores.append(float((precision * hits).sum() / min(len(relevant), k)))
    return float(np.mean(scores))


def hit_rate_at_k(truth: Any, recs: Any, k: int = 10) -> float:
    """Share of users with at least one relevant item in the top k, in [0, 1]."""
    return float(np.mean([_hits(rel, ranked, k).any() for rel, ranked in _ranked_pairs(truth, recs)]))


def catalogue_coverage(recs: Any, catalogue_size: int, k: int = 10) -> float:
    """Distinct items in anyone's top k divided by the catalogue size, in [0, 1] (low = everyone gets the same)."""
    if catalogue_size < 1:
        raise ValueError("catalogue_size must be >= 1")
    distinct = {item for ranked in recs for item in list(ranked)[:k]}
    return float(len(distinct) / catalogue_size)


def novelty_at_k(recs: Any, popularity: Any, k: int = 10) -> float:
    """Mean self-information ``-log2 p(item)`` of recommended items, in [0, inf); higher = less obvious items.

    ``popularity`` maps an item to the share of training users who interacted with it; items missing from it (or
    with share 0, never seen in training) count with the smallest positive share, i.e. as the rarest seen item.
    """
    pop = dict(popularity)
    floor = min((p for p in pop.values() if p > 0), default=1.0)
    values = [-np.log2(pop.get(item) or floor) for ranked in recs for item in list(ranked)[:k]]
    return float(np.mean(values)) if values else float("nan")


def ranking_report(truth: Any, recs: Any, catalogue_size: int, popularity: Any) -> dict[str, float]:
    """The recommendation metrics of the benchmarks and the champion gate, keyed for logging."""
    truth_list, recs_list = list(truth), list(recs)
    return {
        "users": float(len(truth_list)),
        "ndcg_at_10": ndcg_at_k(truth_list, recs_list, 10),
        "recall_at_20": recall_at_k(truth_list, recs_list, 20),
        "map_at_10": map_at_k(truth_list, recs_list, 10),
        "hit_rate_at_10": hit_rate_at_k(truth_list, recs_list, 10),
        "coverage_at_10": catalogue_coverage(recs_list, catalogue_size, 10),
        "novelty_at_10": novelty_at_k(recs_list, popularity, 10),
    }
