"""Churn baselines the classifier must beat: the recency rule, RFM logistic regression and BG/NBD.

Each is a scikit-learn classifier on the same user-feature frame (``fit(X, y)``, ``predict_proba(X)``), so the
benchmark and the champion gate score them exactly like the model. Re-exported by :mod:`models.churn`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from models._lgbm import as_1d, feature_matrix, require_frame
from models.btyd import BgNbdGammaGamma

RECENCY = "recency_days"
RFM_COLUMNS = (RECENCY, "orders_365d", "spend_365d")


def _labels(y: Any, n: int, what: str = "y") -> np.ndarray:
    arr = as_1d(y, n, what)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"{what} must contain only 0 (stays) and 1 (churns)")
    if arr.min() == arr.max():
        raise ValueError(f"{what} holds a single class; churn needs both stayers and churners")
    return arr.astype(int)


def _two_columns(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p, p])


def _log1p_nonneg(x: np.ndarray) -> np.ndarray:
    """log1p of values clipped at 0 (counts, money and days are non-negative; NaN stays NaN)."""
    return np.log1p(np.clip(x, 0.0, None))


class RecencyBaseline(ClassifierMixin, BaseEstimator):
    """Churn probability from days since last order alone (isotonic, non-decreasing): the operator's rule of thumb.

    Users who never ordered (NaN recency) count as silent for longer than anyone seen in training. Probabilities
    stay within [1/(n+2), 1 - 1/(n+2)] like the classifier's, so one surprise does not cost an infinite log loss.
    """

    def fit(self, X: pd.DataFrame, y: Any) -> RecencyBaseline:
        """Fit the isotonic map recency -> churn rate on the training rows."""
        r = feature_matrix(require_frame(X), [RECENCY])[RECENCY].to_numpy()
        y_arr = _labels(y, len(r))
        self.fill_value_ = float(np.nanmax(r) + 1.0) if np.isfinite(r).any() else 0.0
        floor = 1.0 / (len(y_arr) + 2)
        self.isotonic_ = IsotonicRegression(y_min=floor, y_max=1.0 - floor, increasing=True, out_of_bounds="clip")
        self.isotonic_.fit(np.nan_to_num(r, nan=self.fill_value_), y_arr)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities, shape (n, 2)."""
        r = feature_matrix(X, [RECENCY])[RECENCY].to_numpy()
        return _two_columns(self.isotonic_.predict(np.nan_to_num(r, nan=self.fill_value_)))


class RfmLogisticBaseline(ClassifierMixin, BaseEstimator):
    """Logistic regression on log1p recency, 365-day orders and 365-day spend: the classic RFM churn model.

    Missing recency (never ordered) is median-imputed with a missing-indicator column, then standardised.
    """

    def __init__(self, C: float = 1.0, random_state: int = 42) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any) -> RfmLogisticBaseline:
        """Fit the imputation, scaling and logistic regression on the training rows."""
        x = feature_matrix(require_frame(X), RFM_COLUMNS)
        y_arr = _labels(y, len(x))
        self.pipeline_ = Pipeline(
            [
                ("log1p", FunctionTransformer(_log1p_nonneg)),
                ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("logit", LogisticRegression(C=self.C, max_iter=1000, random_state=self.random_state)),
            ]
        )
        self.pipeline_.fit(x.to_numpy(), y_arr)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities, shape (n, 2)."""
        return self.pipeline_.predict_proba(feature_matrix(X, RFM_COLUMNS).to_numpy())


class BgNbdChurnBaseline(ClassifierMixin, BaseEstimator):
    """BG/NBD (buy-till-you-die) churn: P(no order in the next ``horizon_days``) from frequency, recency and age.

    The purchase model is fitted on the training users' histories (no labels); ``calibrate`` then maps its
    probability onto the training labels with isotonic regression (order-preserving, so ROC-AUC is BG/NBD's own),
    because BG/NBD's stationarity assumption misses seasonal base rates. See :mod:`models.btyd`.
    """

    def __init__(self, horizon_days: int = 90, calibrate: bool = True, penalizer_coef: float = 0.001) -> None:
        self.horizon_days = horizon_days
        self.calibrate = calibrate
        self.penalizer_coef = penalizer_coef

    def fit(self, X: pd.DataFrame, y: Any) -> BgNbdChurnBaseline:
        """Fit BG/NBD on the histories in ``X``, then (``calibrate``) the isotonic map on ``y``."""
        X = require_frame(X)
        y_arr = _labels(y, len(X))
        self.btyd_ = BgNbdGammaGamma(self.penalizer_coef).fit(X)
        self.isotonic_ = None
        if self.calibrate:
            raw = self.btyd_.p_no_purchase(X, self.horizon_days)
            floor = 1.0 / (len(y_arr) + 2)  # as the classifier: no user is ever "certain"
            self.isotonic_ = IsotonicRegression(y_min=floor, y_max=1.0 - floor, out_of_bounds="clip").fit(raw, y_arr)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities, shape (n, 2): column 1 is P(no order within the horizon)."""
        p = self.btyd_.p_no_purchase(X, self.horizon_days)
        return _two_columns(self.isotonic_.predict(p) if self.isotonic_ is not None else p)
