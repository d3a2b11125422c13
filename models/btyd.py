"""Buy-till-you-die baselines: BG/NBD for "will this customer buy again" and Gamma-Gamma for "how much per order".

One wrapper (:class:`BgNbdGammaGamma`) serves both customer decisions: churn reads P(no order within the horizon)
from it, lifetime value reads expected orders x expected order value. The parameters are fitted by ``lifetimes``
(Fader, Hardie & Lee's maximum likelihood, the reference implementation); the closed-form predictions are evaluated
here from the four (+ three) fitted numbers, because ``lifetimes`` keeps lambdas and the training data on its
fitted objects (large, not picklable by the standard library) and has no "no purchase in the next h days" formula.

Inputs come from the point-in-time user features: frequency x = ``orders_total`` - 1 (repeat orders), age
T = ``first_order_days`` (days since the first order; ``tenure_days`` when that column is absent), recency
t_x = T - ``recency_days`` (the age at the last order), monetary m = ``avg_order_value``. Orders on the same day
count separately, unlike ``lifetimes``' period-aggregated summaries: a documented approximation.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, hyp2f1
from sklearn.base import BaseEstimator

logger = logging.getLogger(__name__)

ORDERS, RECENCY, FIRST_ORDER, TENURE, AOV = (
    "orders_total",
    "recency_days",
    "first_order_days",
    "tenure_days",
    "avg_order_value",
)


def btyd_inputs(X: pd.DataFrame) -> pd.DataFrame:
    """Frequency x, recency t_x and age T (whole days, T >= 1) and monetary m per row, from user features.

    Users who never ordered get x = 0, t_x = 0 and T = their tenure (BG/NBD's prior for a new customer).
    """
    missing = [n for n in (ORDERS, RECENCY, AOV) if n not in X.columns]
    age_col = FIRST_ORDER if FIRST_ORDER in X.columns else TENURE
    if age_col not in X.columns:
        missing.append(f"{FIRST_ORDER} or {TENURE}")
    if missing:
        raise ValueError(f"BG/NBD needs column(s): {', '.join(missing)}")
    orders = X[ORDERS].astype("float64").fillna(0.0).to_numpy()
    recency = X[RECENCY].astype("float64").to_numpy()
    age = X[age_col].astype("float64").to_numpy()
    fallback = X[TENURE].astype("float64").to_numpy() if TENURE in X.columns else recency
    age = np.where(np.isnan(age), fallback, age)
    age = np.maximum(np.round(np.nan_to_num(age, nan=1.0)), 1.0)
    last = np.where(np.isnan(recency), 0.0, np.clip(np.round(age - np.nan_to_num(recency)), 0.0, age))
    x = np.maximum(orders - 1.0, 0.0)
    last = np.where(x > 0, last, 0.0)
    m = X[AOV].astype("float64").to_numpy()
    return pd.DataFrame({"x": x, "t_x": last, "T": age, "m": m}, index=X.index)


def _condensed(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Unique input patterns with their counts, so the likelihood is summed once per pattern (Fader & Hardie)."""
    return frame.groupby(keys, sort=True).size().rename("w").reset_index()


class BgNbdGammaGamma(BaseEstimator):
    """BG/NBD purchase process plus Gamma-Gamma order value, fitted by ``lifetimes`` (see module docstring).

    Args:
        penalizer_coef: ``lifetimes``' L2 penalty on the parameters; a little keeps the fit finite on shops of
            one-time buyers, where the unpenalised likelihood can run off to a degenerate corner.
        max_rows: rows used for fitting (a seeded sample above it); the likelihood is over patterns, so this
            bounds time, not quality.
        random_state: seeds that sample.
    """

    def __init__(self, penalizer_coef: float = 0.001, max_rows: int = 200_000, random_state: int = 42) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any = None) -> BgNbdGammaGamma:
        """Fit BG/NBD on (x, t_x, T) of every row and Gamma-Gamma on repeat buyers' (x, m)."""
        from lifetimes import BetaGeoFitter, GammaGammaFitter  # slow import, only where fitting happens

        data = btyd_inputs(X)
        if len(data) > self.max_rows:
            data = data.sample(self.max_rows, random_state=self.random_state)
        bg_rows = _condensed(data, ["x", "t_x", "T"])
        bg = BetaGeoFitter(penalizer_coef=self.penalizer_coef)
        bg.fit(bg_rows["x"], bg_rows["t_x"], bg_rows["T"], weights=bg_rows["w"])
        self.bgnbd_params_ = {k: float(v) for k, v in bg.params_.items()}
        repeat = data[(data["x"] > 0) & (data["m"] > 0)]
        self.gamma_gamma_params_: dict[str, float] | None = None
        if len(repeat) >= 20:
            gg = GammaGammaFitter(penalizer_coef=self.penalizer_coef)
            gg.fit(repeat["x"], repeat["m"].round(2), q_constraint=True)
            params = {k: float(v) for k, v in gg.params_.items()}
            # q <= 1 means an infinite population mean order value: the fit is degenerate (heavy-tailed orders).
            if params["q"] > 1.0 + 1e-6:
                self.gamma_gamma_params_ = params
            else:
                logger.warning(
                    "Gamma-Gamma fit degenerate (q=%.3g); order value falls back to each user's mean", params["q"]
                )
        mean_value = data["m"][data["m"] > 0]
        self.mean_order_value_ = float(mean_value.mean()) if len(mean_value) else 0.0
        return self

    def _params(self) -> tuple[float, float, float, float]:
        p = self.bgnbd_params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def p_alive(self, X: pd.DataFrame) -> np.ndarray:
        """P(still active at the cutoff | history), in (0, 1]; 1 for customers without repeat orders (BG/NBD)."""
        d = btyd_inputs(X)
        r, alpha, a, b = self._params()
        x, t_x, T = d["x"].to_numpy(), d["t_x"].to_numpy(), d["T"].to_numpy()
        log_div = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1.0) - 1.0))
        return np.where(x == 0, 1.0, expit(-log_div))

    def p_no_purchase(self, X: pd.DataFrame, horizon_days: float) -> np.ndarray:
        """P(no order in the next ``horizon_days`` | history), in [0, 1]: the BG/NBD churn probability.

        Dropout happens only right after a purchase, so an active customer makes no purchase in h days with
        probability E[exp(-lambda h)], lambda ~ Gamma(r + x, alpha + T) given the history and being active:
        P = 1 - P(alive) * (1 - ((alpha + T) / (alpha + T + h)) ** (r + x)).
        """
        d = btyd_inputs(X)
        r, alpha, _, _ = self._params()
        x, T = d["x"].to_numpy(), d["T"].to_numpy()
        silent_if_alive = ((alpha + T) / (alpha + T + horizon_days)) ** (r + x)
        return 1.0 - self.p_alive(X) * (1.0 - silent_if_alive)

    def expected_orders(self, X: pd.DataFrame, horizon_days: float) -> np.ndarray:
        """Expected orders in the next ``horizon_days`` given the history (Fader, Hardie & Lee 2005, eq. 10)."""
        d = btyd_inputs(X)
        r, alpha, a, b = self._params()
        x, t_x, T, t = d["x"].to_numpy(), d["t_x"].to_numpy(), d["T"].to_numpy(), float(horizon_days)
        z = t / (alpha + T + t)
        ca, cb, cc = r + x, b + x, a + b + x - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            log_hyp = np.log(hyp2f1(ca, cb, cc, z))
            alt = np.log(hyp2f1(cc - ca, cc - cb, cc, z)) + (cc - ca - cb) * np.log1p(-z)
        log_hyp = np.where(np.isfinite(log_hyp), log_hyp, alt)
        first = (a + b + x - 1.0) / (a - 1.0)
        second = 1.0 - np.exp(log_hyp + (r + x) * np.log((alpha + T) / (alpha + t + T)))
        denom = 1.0 + (x > 0) * (a / (b + x - 1.0)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        return np.clip(np.nan_to_num(first * second / denom, nan=0.0), 0.0, None)

    def expected_order_value(self, X: pd.DataFrame) -> np.ndarray:
        """Gamma-Gamma conditional mean order value (shrinks a customer's own mean to the population's)."""
        d = btyd_inputs(X)
        if self.gamma_gamma_params_ is None:
            return np.where(d["m"] > 0, d["m"], self.mean_order_value_).astype("float64")
        p, q, v = (self.gamma_gamma_params_[k] for k in ("p", "q", "v"))
        population = v * p / (q - 1.0)
        x = d["x"].to_numpy()
        m = np.nan_to_num(d["m"].to_numpy(), nan=population)
        weight = p * x / (p * x + q - 1.0)
        return (1.0 - weight) * population + weight * m

    def expected_spend(self, X: pd.DataFrame, horizon_days: float) -> np.ndarray:
        """Expected spend in the next ``horizon_days``: expected orders x expected order value (undiscounted)."""
        return self.expected_orders(X, horizon_days) * self.expected_order_value(X)


#: Columns :func:`btyd_features` adds to a user-feature frame.
BTYD_FEATURES: tuple[str, ...] = ("btyd_p_no_order", "btyd_p_alive", "overdue_ratio", "btyd_expected_spend")


def btyd_features(model: BgNbdGammaGamma, X: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
    """``X`` plus the BG/NBD view of each user, for the LightGBM models to split on.

    Columns: P(no order in ``horizon_days``), P(still active), the overdue ratio (days since the last order / the
    user's mean gap between orders; NaN without a repeat order) and the expected spend over the horizon. Trees split
    one column at a time, so "silent for longer than usual for this user" is a ratio they cannot build themselves.
    """
    d = btyd_inputs(X)
    gap = np.maximum(d["t_x"] / d["x"].where(d["x"] > 0), 1.0)
    return X.assign(
        btyd_p_no_order=model.p_no_purchase(X, horizon_days),
        btyd_p_alive=model.p_alive(X),
        overdue_ratio=(d["T"] - d["t_x"]) / gap,
        btyd_expected_spend=model.expected_spend(X, horizon_days),
    )


def fit_btyd_or_none(X: pd.DataFrame, enabled: bool, random_state: int) -> BgNbdGammaGamma | None:
    """A fitted BG/NBD + Gamma-Gamma when ``enabled`` and ``X`` has its input columns, else None (models go on)."""
    if not enabled:
        return None
    try:
        btyd_inputs(X)
    except ValueError:
        logger.info("no BG/NBD inputs in the frame; fitting without the derived columns")
        return None
    return BgNbdGammaGamma(random_state=random_state).fit(X)


def upgrade_state(state: dict[str, Any]) -> dict[str, Any]:
    """Pickled state of a LightGBM model from before the BG/NBD inputs existed, completed so it loads and predicts
    as it did (no derived columns). Used by the churn and lifetime-value estimators' ``__setstate__``."""
    state.setdefault("btyd_horizon_days", None)
    if "feature_names_" in state:
        state.setdefault("btyd_", None)
        state.setdefault("model_features_", list(state["feature_names_"]))
    return state
