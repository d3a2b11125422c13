"""Lifetime value: spend in the next 180 days from user features, with a Tweedie LightGBM regressor and baselines.

Future spend is zero for most users and heavy-tailed for the rest; the Tweedie objective models exactly that
(a point mass at zero plus a skewed positive part) and predicts on a log link, so predictions are never negative.
Baselines: last period's spend carried forward, and BG/NBD + Gamma-Gamma (:mod:`models.btyd`). The primary metric
is the normalised Gini (:func:`normalized_gini`): the value decisions rank users (tiers, value at risk), and RMSE on
heavy-tailed spend mostly measures a handful of whales; RMSE, MAE, bias, Spearman and top-decile capture are
reported beside it (:func:`ltv_report`).
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from models import metrics
from models._lgbm import as_1d, booster_params, feature_matrix, predict_threads, require_frame, select_features
from models.btyd import (
    BTYD_FEATURES,
    BgNbdGammaGamma,
    btyd_features,
    fit_btyd_or_none,
    upgrade_state,
    with_btyd_block,
)

SPEND_WINDOWS = (30, 90, 180, 365)


class LtvRegressor(RegressorMixin, BaseEstimator):
    """LightGBM Tweedie regressor for future spend (e.g. the 180 days after the cutoff).

    Args:
        n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda:
            LightGBM's.
        tweedie_variance_power: in (1, 2); nearer 1 = more mass at zero (Poisson-like), nearer 2 = Gamma-like.
        n_jobs: LightGBM threads (1 by default for machine-independent reproducibility).
        random_state: the only source of randomness.
        btyd_horizon_days: the label window (pass the dataset's ``ltv_days``); when set, BG/NBD + Gamma-Gamma are
            fitted on the training rows and their view of each user over this window joins the inputs
            (:func:`models.btyd.btyd_features`); None fits on the given columns only.
    """

    def __init__(
        self,
        n_estimators: int = 400,
        learning_rate: float = 0.03,
        num_leaves: int = 31,
        min_child_samples: int = 40,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        tweedie_variance_power: float = 1.3,
        n_jobs: int = 1,
        random_state: int = 42,
        btyd_horizon_days: int | None = 180,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.tweedie_variance_power = tweedie_variance_power
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.btyd_horizon_days = btyd_horizon_days

    def fit(self, X: pd.DataFrame, y: Any) -> LtvRegressor:
        """Fit on non-negative targets; identifier columns are never features."""
        X = require_frame(X)
        y_arr = as_1d(y, len(X))
        if (y_arr < 0).any():
            raise ValueError("future spend must be >= 0 (net refunds belong to a separate target)")
        self.feature_names_ = select_features(X)
        self.n_features_in_ = len(self.feature_names_)
        self.btyd_ = fit_btyd_or_none(X, self.btyd_horizon_days is not None, self.random_state)
        self.model_features_ = [*self.feature_names_, *(BTYD_FEATURES if self.btyd_ is not None else ())]
        params = booster_params(self, "tweedie", tweedie_variance_power=self.tweedie_variance_power)
        data = lgb.Dataset(self._matrix(X), y_arr, feature_name=self.model_features_)
        self.booster_ = lgb.train(params, data, self.n_estimators)
        return self

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(upgrade_state(state))

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        x = feature_matrix(X, self.feature_names_)
        return x if self.btyd_ is None else btyd_features(self.btyd_, x, self.btyd_horizon_days)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected future spend per row, >= 0."""
        matrix = self._matrix(X)
        pred = self.booster_.predict(matrix, num_threads=predict_threads(len(matrix)))
        return np.clip(pred, 0.0, None)

    def predict_array(self, x: np.ndarray) -> np.ndarray:
        """:meth:`predict` on a float64 array whose columns are ``feature_names_`` in order (the serving path)."""
        if self.btyd_ is not None:
            x = with_btyd_block(self.btyd_, x, tuple(self.feature_names_), self.btyd_horizon_days)
        # np.maximum: what np.clip(v, 0.0, None) calls, without its Python-level dispatch (one-row requests)
        return np.maximum(self.booster_.predict(x, num_threads=predict_threads(len(x))), 0.0)


class CarriedForwardLtv(RegressorMixin, BaseEstimator):
    """Baseline: the next ``horizon_days`` bring what the last ``horizon_days`` brought.

    Uses ``spend_<horizon>d`` when the feature exists, else the nearest longer window scaled down to the horizon.
    Learns nothing; ``fit`` only checks the column.
    """

    def __init__(self, horizon_days: int = 180) -> None:
        self.horizon_days = horizon_days

    def fit(self, X: pd.DataFrame, y: Any = None) -> CarriedForwardLtv:
        longer = [d for d in SPEND_WINDOWS if d >= self.horizon_days] or [max(SPEND_WINDOWS)]
        self.window_days_ = longer[0]
        self.column_ = f"spend_{self.window_days_}d"
        feature_matrix(require_frame(X), [self.column_])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        spend = feature_matrix(X, [self.column_])[self.column_].fillna(0.0).to_numpy()
        return np.clip(spend, 0.0, None) * self.horizon_days / self.window_days_


class BgNbdLtv(RegressorMixin, BaseEstimator):
    """Baseline: BG/NBD expected orders x Gamma-Gamma expected order value over ``horizon_days`` (undiscounted)."""

    def __init__(self, horizon_days: int = 180, penalizer_coef: float = 0.001, random_state: int = 42) -> None:
        self.horizon_days = horizon_days
        self.penalizer_coef = penalizer_coef
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any = None) -> BgNbdLtv:
        """Fit the purchase and value models on the users' histories (labels are not used)."""
        self.btyd_ = BgNbdGammaGamma(self.penalizer_coef, random_state=self.random_state).fit(require_frame(X))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.btyd_.expected_spend(X, self.horizon_days)


def normalized_gini(y: Any, pred: Any) -> float:
    """Normalised Gini of a ranking, in [-1, 1]: 1 = ordered exactly as the true values, 0 = random.

    Gini of the cumulative share of ``y`` collected when users are taken in descending ``pred`` order, divided by
    the Gini of the perfect order. Tied predictions share their group's mean ``y`` (as random tie-breaking would on
    average), so a constant forecast scores 0 whatever the row order. NaN when ``y`` sums to 0.
    """
    y_arr = np.asarray(y, dtype="float64").ravel()
    p_arr = np.asarray(pred, dtype="float64").ravel()
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"y has {y_arr.size} values but pred has {p_arr.size}")

    def gini(score: np.ndarray) -> float:
        frame = pd.DataFrame({"s": score, "y": y_arr})
        tied = frame.groupby("s")["y"].transform("mean").to_numpy()
        order = np.argsort(-score, kind="stable")
        cum = np.cumsum(tied[order]) / y_arr.sum()
        return float(np.mean(cum - np.arange(1, y_arr.size + 1) / y_arr.size))

    if y_arr.size == 0 or y_arr.sum() <= 0:
        return float("nan")
    return gini(p_arr) / gini(y_arr)


def ltv_report(y: Any, pred: Any) -> dict[str, float]:
    """Every lifetime-value metric of one scored set: the regression report plus the normalised Gini (primary)."""
    return {**metrics.regression_report(y, pred), "normalized_gini": normalized_gini(y, pred)}
