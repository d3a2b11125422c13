"""Lifetime value: spend in the next 180 days from user features, with a Tweedie LightGBM regressor.

Future spend is zero for most users and heavy-tailed for the rest; the Tweedie objective models exactly that
(a point mass at zero plus a skewed positive part) and predicts on a log link, so predictions are never negative.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from models._lgbm import as_1d, booster_params, feature_matrix, require_frame, select_features


class LtvRegressor(RegressorMixin, BaseEstimator):
    """LightGBM Tweedie regressor for future spend (e.g. the 180 days after the cutoff).

    Args:
        n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda:
            LightGBM's.
        tweedie_variance_power: in (1, 2); nearer 1 = more mass at zero (Poisson-like), nearer 2 = Gamma-like.
        n_jobs: LightGBM threads (1 by default for machine-independent reproducibility).
        random_state: the only source of randomness.
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

    def fit(self, X: pd.DataFrame, y: Any) -> LtvRegressor:
        """Fit on non-negative targets; identifier columns are never features."""
        X = require_frame(X)
        y_arr = as_1d(y, len(X))
        if (y_arr < 0).any():
            raise ValueError("future spend must be >= 0 (net refunds belong to a separate target)")
        self.feature_names_ = select_features(X)
        self.n_features_in_ = len(self.feature_names_)
        params = booster_params(self, "tweedie", tweedie_variance_power=self.tweedie_variance_power)
        data = lgb.Dataset(feature_matrix(X, self.feature_names_), y_arr, feature_name=self.feature_names_)
        self.booster_ = lgb.train(params, data, self.n_estimators)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected future spend per row, >= 0."""
        pred = self.booster_.predict(feature_matrix(X, self.feature_names_))
        return np.clip(pred, 0.0, None)
