"""Churn: a calibrated, monotone-constrained LightGBM classifier, two baselines it must beat, reasons and risk bands.

Churn here is whatever label the caller trains on (training/datasets.py: no order in the 90 days after the cutoff).
The classifier respects known directions (a longer silence never lowers risk), calibrates on held-out rows so a
probability means a churn rate, and explains itself with TreeSHAP contributions on the log-odds.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from models._lgbm import as_1d, booster_params, feature_matrix, require_frame, select_features
from models.reasons import BIAS, FEATURE_LABELS, Reason, top_reasons
from models.risk import BANDS, RiskThresholds, choose_risk_thresholds, risk_band

__all__ = [
    "BANDS",
    "DEFAULT_MONOTONE",
    "FEATURE_LABELS",
    "ChurnClassifier",
    "Reason",
    "RecencyBaseline",
    "RfmLogisticBaseline",
    "RiskThresholds",
    "choose_risk_thresholds",
    "risk_band",
    "top_reasons",
]

RECENCY = "recency_days"
RFM_COLUMNS = (RECENCY, "orders_365d", "spend_365d")

#: Directions we are sure of, all else equal: +1 = a larger value never lowers churn risk, -1 = never raises it.
DEFAULT_MONOTONE: dict[str, int] = {
    RECENCY: 1,
    "days_since_last_event": 1,
    "orders_30d": -1,
    "orders_90d": -1,
    "orders_180d": -1,
    "orders_365d": -1,
    "tickets_unresolved": 1,
    "late_deliveries": 1,
    "mean_delivery_delay_days": 1,
}
CALIBRATIONS = ("isotonic", "sigmoid", "none")


class CentredIsotonic:
    """Isotonic calibration interpolated linearly between the centres of the pooled blocks.

    Plain isotonic regression is a step function: whole score ranges collapse onto one probability, which throws
    away the booster's ranking and makes risk bands degenerate. Interpolating between block centres (centred
    isotonic regression, Oron & Flournoy 2017) keeps the fit's calibration, is non-decreasing everywhere and
    strictly increasing between the outermost centres, so the calibrated scores rank users like the raw ones.
    """

    def fit(self, raw: np.ndarray, y: np.ndarray) -> CentredIsotonic:
        fitted = IsotonicRegression(increasing=True).fit_transform(raw, y)
        order = np.argsort(raw, kind="stable")
        blocks = pd.DataFrame({"x": raw[order], "v": fitted[order]}).groupby("v", sort=True)["x"].mean()
        self.centres_ = blocks.to_numpy()
        self.values_ = blocks.index.to_numpy(dtype="float64")
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(raw, self.centres_, self.values_)


def _labels(y: Any, n: int, what: str = "y") -> np.ndarray:
    arr = as_1d(y, n, what)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"{what} must contain only 0 (stays) and 1 (churns)")
    if arr.min() == arr.max():
        raise ValueError(f"{what} holds a single class; churn needs both stayers and churners")
    return arr.astype(int)


def _two_columns(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p, p])


class ChurnClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM churn classifier with monotone constraints and held-out probability calibration.

    Args:
        n_estimators: maximum boosting rounds (early stopping on the calibration set may use fewer).
        learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda: LightGBM's.
        monotone: feature -> +1 / -1 / 0; None uses :data:`DEFAULT_MONOTONE` for the columns present.
        calibration: "isotonic" (default: centred isotonic, see :class:`CentredIsotonic`), "sigmoid" (Platt) or
            "none"; all are non-decreasing in the raw score, so the monotone constraints survive calibration.
        early_stopping_rounds: patience on the calibration set's log-loss; None trains all rounds.
        calib_fraction: share of the last rows held out for calibration when no calibration set is given.
        n_jobs: LightGBM threads; fixed (1) by default so a seed reproduces a model on any machine.
        random_state: the only source of randomness (bagging, feature sampling).
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
        monotone: dict[str, int] | None = None,
        calibration: str = "isotonic",
        early_stopping_rounds: int | None = 50,
        calib_fraction: float = 0.2,
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
        self.monotone = monotone
        self.calibration = calibration
        self.early_stopping_rounds = early_stopping_rounds
        self.calib_fraction = calib_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any, X_calib: pd.DataFrame | None = None, y_calib: Any = None) -> ChurnClassifier:
        """Fit the booster on (X, y) and the calibrator on (X_calib, y_calib), never on training rows.

        Without a calibration set the last ``calib_fraction`` of rows is held out, so pass rows in time order (or,
        better, a later cutoff as ``X_calib``). Identifier columns (``user_id``...) are never features.
        """
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        X = require_frame(X)
        y_arr = as_1d(y, len(X))
        if X_calib is None:
            if y_calib is not None:
                raise ValueError("y_calib given without X_calib")
            cut = round(len(X) * (1.0 - self.calib_fraction))
            X, X_calib, y_arr, y_calib = X.iloc[:cut], X.iloc[cut:], y_arr[:cut], y_arr[cut:]
        y_fit = _labels(y_arr, len(X))
        y_cal = _labels(y_calib, len(require_frame(X_calib, "X_calib")), "y_calib")
        self.feature_names_ = select_features(X)
        self.n_features_in_ = len(self.feature_names_)
        self.monotone_ = self._monotone_map()
        self.classes_ = np.array([0, 1])
        x_fit, x_cal = feature_matrix(X, self.feature_names_), feature_matrix(X_calib, self.feature_names_)
        self.booster_ = self._train(x_fit, y_fit, x_cal, y_cal)
        self._fit_calibrator(self.booster_.predict(x_cal, raw_score=True), y_cal)
        return self

    def _monotone_map(self) -> dict[str, int]:
        """The constraints that apply to the fitted columns; explicit unknown names are typos and fail."""
        if self.monotone is None:
            return {k: v for k, v in DEFAULT_MONOTONE.items() if k in self.feature_names_}
        unknown = sorted(set(self.monotone) - set(self.feature_names_))
        if unknown:
            raise ValueError(f"monotone names column(s) not in X: {', '.join(unknown)}")
        bad = {k: v for k, v in self.monotone.items() if v not in (-1, 0, 1)}
        if bad:
            raise ValueError(f"monotone directions must be -1, 0 or 1: {bad}")
        return dict(self.monotone)

    def _train(self, x_fit: pd.DataFrame, y_fit: np.ndarray, x_cal: pd.DataFrame, y_cal: np.ndarray) -> lgb.Booster:
        """Boost with early stopping on the calibration set; keep only the trees up to the best round."""
        constraints = [self.monotone_.get(n, 0) for n in self.feature_names_]
        params = booster_params(
            self, "binary", monotone_constraints=constraints, monotone_constraints_method="intermediate"
        )
        train = lgb.Dataset(x_fit, y_fit, feature_name=self.feature_names_, params={"verbosity": -1})
        valid = lgb.Dataset(x_cal, y_cal, reference=train)
        callbacks = []
        if self.early_stopping_rounds:
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        booster = lgb.train(params, train, self.n_estimators, valid_sets=[valid], callbacks=callbacks)
        self.best_iteration_ = booster.best_iteration or booster.current_iteration()
        return lgb.Booster(model_str=booster.model_to_string(num_iteration=self.best_iteration_))

    def _fit_calibrator(self, raw: np.ndarray, y_cal: np.ndarray) -> None:
        """Map raw log-odds to probabilities; clipped to [1/(n+2), 1 - 1/(n+2)] so no user is ever "certain"."""
        self.prob_floor_ = 1.0 / (len(y_cal) + 2)
        if self.calibration == "isotonic":
            self.calibrator_: Any = CentredIsotonic().fit(raw, y_cal)
        elif self.calibration == "sigmoid":
            self.calibrator_ = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y_cal)
            if self.calibrator_.coef_[0, 0] <= 0:
                raise ValueError("Platt slope <= 0: the booster ranks the calibration set no better than chance")
        else:
            self.calibrator_ = None

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibration == "isotonic":
            p = self.calibrator_.predict(raw)
        elif self.calibration == "sigmoid":
            p = self.calibrator_.predict_proba(raw.reshape(-1, 1))[:, 1]
        else:
            p = expit(raw)
        return np.clip(p, self.prob_floor_, 1.0 - self.prob_floor_)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw log-odds of the booster (before calibration); what the contributions sum to."""
        return self.booster_.predict(feature_matrix(X, self.feature_names_), raw_score=True)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2): column 1 is P(churn). Monotone in the constrained features."""
        return _two_columns(self._calibrate(self.decision_function(X)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where P(churn) >= 0.5. Operations should use :func:`risk_band` instead of this cut."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """TreeSHAP contributions per feature on the raw log-odds plus a ``bias`` column; rows sum to the log-odds.

        About a thousand times the cost of ``predict``: call it for the rows you explain, not for batch scoring.
        """
        x = feature_matrix(X, self.feature_names_)
        phi = self.booster_.predict(x, pred_contrib=True)
        return pd.DataFrame(phi, columns=[*self.feature_names_, BIAS], index=X.index)


def _log1p_nonneg(x: np.ndarray) -> np.ndarray:
    """log1p of values clipped at 0 (counts, money and days are non-negative; NaN stays NaN)."""
    return np.log1p(np.clip(x, 0.0, None))


class RecencyBaseline(ClassifierMixin, BaseEstimator):
    """Churn probability from days since last order alone (isotonic, non-decreasing): the operator's rule of thumb.

    Users who never ordered (NaN recency) count as silent for longer than anyone seen in training.
    """

    def fit(self, X: pd.DataFrame, y: Any) -> RecencyBaseline:
        """Fit the isotonic map recency -> churn rate on the training rows."""
        r = feature_matrix(require_frame(X), [RECENCY])[RECENCY].to_numpy()
        y_arr = _labels(y, len(r))
        self.fill_value_ = float(np.nanmax(r) + 1.0) if np.isfinite(r).any() else 0.0
        self.isotonic_ = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
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
