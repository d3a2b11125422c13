"""Metric functions agree with scikit-learn / SciPy reference implementations, ties and edge cases included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve as sk_calibration_curve

from models import metrics

pytestmark = pytest.mark.unit


@pytest.fixture(params=["continuous", "tied"])
def scored(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    p = rng.beta(2, 3, 2000)
    y = (rng.random(2000) < p).astype(int)
    if request.param == "tied":
        p = np.round(p, 1)
    return y, p


def test_ranking_metrics_match_sklearn(scored) -> None:
    y, p = scored
    assert metrics.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert metrics.pr_auc(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)


def test_probability_metrics_match_sklearn(scored) -> None:
    y, p = scored
    assert metrics.log_loss(y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-12)
    assert metrics.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), rel=1e-12)
    confident = np.where(y == 1, 0.0, 1.0)
    assert metrics.log_loss(y, confident) == pytest.approx(skm.log_loss(y, confident), rel=1e-9)


def test_calibration_matches_sklearn(scored) -> None:
    y, p = scored
    table = metrics.calibration_curve(y, p, n_bins=10)
    prob_true, prob_pred = sk_calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(table["observed_rate"], prob_true)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred)
    assert table["count"].sum() == len(y)
    ece = np.sum(table["count"] / len(y) * np.abs(prob_pred - prob_true))
    assert metrics.expected_calibration_error(y, p) == pytest.approx(ece)


def test_ece_of_a_perfectly_calibrated_bin_is_zero() -> None:
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    p = np.array([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75])
    assert metrics.expected_calibration_error(y, p) == pytest.approx(0.0)
    assert metrics.expected_calibration_error(y, 1 - p) == pytest.approx(0.5)


def test_lift_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    p = np.linspace(1, 0, 10)
    assert metrics.lift_at(y, p, 0.2) == pytest.approx(1.0 / 0.3)
    assert metrics.lift_at(y, p, 1.0) == pytest.approx(1.0)
    assert np.isnan(metrics.lift_at(np.zeros(5), np.ones(5) / 2))


def test_agreement_metrics_match_scipy_and_sklearn() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 20, 500)
    b = a + rng.normal(scale=5, size=500)
    assert metrics.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    labels_a = rng.choice(["x", "y", "z"], 500)
    labels_b = np.where(rng.random(500) < 0.7, labels_a, rng.choice(["p", "q"], 500))
    assert metrics.adjusted_rand(labels_a, labels_b) == pytest.approx(skm.adjusted_rand_score(labels_a, labels_b))
    assert metrics.adjusted_rand(labels_a, labels_a) == pytest.approx(1.0)
    assert metrics.adjusted_rand([0, 0, 0], [1, 1, 1]) == skm.adjusted_rand_score([0, 0, 0], [1, 1, 1])


def test_report_and_edge_cases(scored) -> None:
    y, p = scored
    report = metrics.classification_report(y, p)
    assert {"roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10", "base_rate"} <= set(report)
    assert np.isnan(metrics.roc_auc(np.ones(4), np.linspace(0, 1, 4)))
    with pytest.raises(ValueError, match="0 and 1"):
        metrics.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.brier([0, 1], [0.1, 1.2])
    with pytest.raises(ValueError, match="values"):
        metrics.log_loss([0, 1, 1], [0.1, 0.2])
