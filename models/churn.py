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
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models._lgbm import as_1d, booster_params, feature_matrix, predict_threads, require_frame, select_features
from models.btyd import BTYD_FEATURES, btyd_features, fit_btyd_or_none, upgrade_state, with_btyd_block
from models.churn_baselines import (
    RECENCY,
    BgNbdChurnBaseline,
    RecencyBaseline,
    RfmLogisticBaseline,
    _labels,
    _two_columns,
)
from models.reasons import BIAS, FEATURE_LABELS, Reason, top_reasons, top_reasons_array
from models.risk import BANDS, RiskThresholds, choose_risk_thresholds, risk_band

__all__ = [
    "BANDS",
    "DEFAULT_MONOTONE",
    "FEATURE_LABELS",
    "BgNbdChurnBaseline",
    "ChurnClassifier",
    "Reason",
    "RecencyBaseline",
    "RfmLogisticBaseline",
    "RiskThresholds",
    "choose_risk_thresholds",
    "risk_band",
    "top_reasons",
]


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
#: Columns the classifier derives from the inputs (BG/NBD fitted on the training rows), with their directions.
DERIVED_MONOTONE: dict[str, int] = {
    "btyd_p_no_order": 1,
    "btyd_p_alive": -1,
    "overdue_ratio": 1,
    "btyd_expected_spend": -1,
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
        btyd_horizon_days: when set (and the frequency / recency / age columns exist), a BG/NBD model is fitted on
            the training rows and its view of each user joins the booster's inputs (:func:`models.btyd.btyd_features`:
            P(no order in this many days), P(still active), the overdue ratio, expected spend). "Silent for longer
            than usual for this user" is a ratio trees cannot build from single-column splits; it is what the
            smooth baselines read better on small shops.
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
        btyd_horizon_days: int | None = 90,
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
        self.btyd_horizon_days = btyd_horizon_days

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
        self.btyd_ = fit_btyd_or_none(X, self.btyd_horizon_days is not None, self.random_state)
        self.model_features_ = [*self.feature_names_, *(BTYD_FEATURES if self.btyd_ is not None else ())]
        self.monotone_ = self._monotone_map()
        self.classes_ = np.array([0, 1])
        x_fit, x_cal = self._matrix(X), self._matrix(X_calib)
        self.booster_ = self._train(x_fit, y_fit, x_cal, y_cal)
        self._fit_calibrator(self.booster_.predict(x_cal, raw_score=True), y_cal)
        return self

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(upgrade_state(state))

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        """The booster's input: the fitted columns plus the BG/NBD-derived ones (see ``btyd_horizon_days``)."""
        x = feature_matrix(X, self.feature_names_)
        return x if self.btyd_ is None else btyd_features(self.btyd_, x, self.btyd_horizon_days)

    def _monotone_map(self) -> dict[str, int]:
        """The constraints that apply to the fitted columns; explicit unknown names are typos and fail."""
        derived = {k: v for k, v in DERIVED_MONOTONE.items() if k in self.model_features_}
        if self.monotone is None:
            return {k: v for k, v in DEFAULT_MONOTONE.items() if k in self.feature_names_} | derived
        unknown = sorted(set(self.monotone) - set(self.model_features_))
        if unknown:
            raise ValueError(f"monotone names column(s) not in X: {', '.join(unknown)}")
        bad = {k: v for k, v in self.monotone.items() if v not in (-1, 0, 1)}
        if bad:
            raise ValueError(f"monotone directions must be -1, 0 or 1: {bad}")
        return derived | dict(self.monotone)

    def _train(self, x_fit: pd.DataFrame, y_fit: np.ndarray, x_cal: pd.DataFrame, y_cal: np.ndarray) -> lgb.Booster:
        """Boost with early stopping on the calibration set; keep only the trees up to the best round."""
        constraints = [self.monotone_.get(n, 0) for n in self.model_features_]
        params = booster_params(
            self, "binary", monotone_constraints=constraints, monotone_constraints_method="intermediate"
        )
        train = lgb.Dataset(x_fit, y_fit, feature_name=self.model_features_, params={"verbosity": -1})
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
        # np.clip's result (the bounds are never zero, so ties cannot differ in sign), without its Python dispatch
        return np.minimum(np.maximum(p, self.prob_floor_), 1.0 - self.prob_floor_)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw log-odds of the booster (before calibration); what the contributions sum to."""
        matrix = self._matrix(X)
        return self.booster_.predict(matrix, raw_score=True, num_threads=predict_threads(len(matrix)))

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
        matrix = self._matrix(X)
        phi = self.booster_.predict(matrix, pred_contrib=True, num_threads=predict_threads(len(matrix)))
        return pd.DataFrame(phi, columns=[*self.model_features_, BIAS], index=X.index)

    def model_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """What the booster sees: the input features plus the derived BG/NBD columns (if any), float64."""
        return self._matrix(X)

    def reasons(self, X: pd.DataFrame, top_k: int = 3) -> list[list[Reason]]:
        """The ``top_k`` readable reasons per row (TreeSHAP), derived columns included with their values."""
        return top_reasons(self.contributions(X), self.model_frame(X), top_k=top_k)

    # -- the same on arrays (the serving hot path: no frame per request) ------------------------------------------

    def model_array(self, x: np.ndarray) -> np.ndarray:
        """What the booster sees, from a float64 array whose columns are ``feature_names_`` in order."""
        if self.btyd_ is None:
            return x
        return with_btyd_block(self.btyd_, x, tuple(self.feature_names_), self.btyd_horizon_days)

    def churn_probability(self, matrix: np.ndarray) -> np.ndarray:
        """Calibrated P(churn) per row of a :meth:`model_array` matrix (column 1 of :meth:`predict_proba`)."""
        return self._calibrate(self.booster_.predict(matrix, raw_score=True, num_threads=predict_threads(len(matrix))))

    def reasons_array(self, matrix: np.ndarray, top_k: int = 3) -> list[list[Reason]]:
        """:meth:`reasons` for the rows of a :meth:`model_array` matrix (TreeSHAP: opt-in, ~1000x a predict)."""
        phi = self.booster_.predict(matrix, pred_contrib=True, num_threads=predict_threads(len(matrix)))[:, :-1]
        return top_reasons_array(phi, matrix, list(self.model_features_), top_k)
