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

import functools
import logging
import math
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
    if FIRST_ORDER not in X.columns and TENURE not in X.columns:
        missing.append(f"{FIRST_ORDER} or {TENURE}")
    if missing:
        raise ValueError(f"BG/NBD needs column(s): {', '.join(missing)}")
    columns = {n: X[n].astype("float64").to_numpy() for n in INPUT_COLUMNS if n in X.columns}
    return pd.DataFrame(btyd_arrays(columns), index=X.index)


#: The feature columns BG/NBD reads (``first_order_days`` or, without it, ``tenure_days`` gives the age).
INPUT_COLUMNS: tuple[str, ...] = (ORDERS, RECENCY, FIRST_ORDER, TENURE, AOV)


def btyd_arrays(columns: dict[str, Any]) -> dict[str, Any]:
    """:func:`btyd_inputs` on float64 columns by name (the array form the serving hot path uses), or on one row's
    float64 scalars (:func:`with_btyd_block`)."""
    orders = _where(_isnan(columns[ORDERS]), 0.0, columns[ORDERS])
    recency = columns[RECENCY]
    unseen = _isnan(recency)
    age = columns[FIRST_ORDER] if FIRST_ORDER in columns else columns[TENURE]
    age = _where(_isnan(age), columns.get(TENURE, recency), age)
    age = _maximum(np.rint(_where(_isnan(age), 1.0, age)), 1.0)  # np.rint: what np.round does at 0 decimals
    last = _where(unseen, 0.0, _clip(np.rint(age - _where(unseen, 0.0, recency)), 0.0, age))
    x = _maximum(orders - 1.0, 0.0)
    last = _where(x > 0, last, 0.0)
    return {"x": x, "t_x": last, "T": age, "m": columns[AOV]}


# The formulas below take arrays or one row's scalars alike. On one row, numpy's per-call cost on 1-element arrays
# was most of a request's BG/NBD time: these helpers apply numpy's own rule in Python on scalars (NaN, signed zeros
# included; tests/model/test_btyd_rows.py checks each against numpy); every other operation is the same ufunc
# (np.power, never ``**``, which on scalars is the C library's pow: other last bits) or plain IEEE arithmetic, so a
# row's values equal the array's to the last bit.


def _where(cond: Any, a: Any, b: Any) -> Any:
    """``np.where`` on arrays; on a scalar condition, the chosen operand itself."""
    if isinstance(cond, np.ndarray):
        return np.where(cond, a, b)
    return a if cond else b


def _isnan(v: Any) -> Any:
    """``np.isnan`` on arrays; on scalars ``v != v`` (true only for NaN)."""
    return np.isnan(v) if isinstance(v, np.ndarray) else v != v


def _all_finite(v: Any) -> bool:
    """``np.isfinite(v).all()``; on a scalar ``math.isfinite`` (numpy's reduction costs a microsecond there)."""
    return bool(np.isfinite(v).all()) if isinstance(v, np.ndarray) else math.isfinite(v)


def _maximum(a: Any, b: float) -> Any:
    """``np.maximum(a, b)``: ``a`` if it is larger or NaN, else ``b`` (so ``b`` on equal zeros of either sign)."""
    if isinstance(a, np.ndarray):
        return np.maximum(a, b)
    return a if (a > b or a != a) else b


def _clip(v: Any, lo: float, hi: Any) -> Any:
    """``np.clip(v, lo, hi)``: ``v`` raised to ``lo`` then lowered to ``hi``, kept on ties and when NaN."""
    if isinstance(v, np.ndarray):
        return np.clip(v, lo, hi)
    v = v if (v >= lo or v != v) else lo
    return v if (v <= hi or v != v) else hi


def _arrays(d: pd.DataFrame | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return d if isinstance(d, dict) else {k: d[k].to_numpy() for k in ("x", "t_x", "T", "m")}


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
        self.order_value_source_ = f"each user's mean ({len(repeat)} repeat buyers, Gamma-Gamma needs 20)"
        if len(repeat) >= 20:
            gg = GammaGammaFitter(penalizer_coef=self.penalizer_coef)
            gg.fit(repeat["x"], repeat["m"].round(2), q_constraint=True)
            params = {k: float(v) for k, v in gg.params_.items()}
            # q <= 1 means an infinite population mean order value: the fit is degenerate (heavy-tailed orders).
            if params["q"] > 1.0 + 1e-6:
                self.gamma_gamma_params_ = params
                self.order_value_source_ = "Gamma-Gamma"
            else:
                # a handled case, common on shops with a few very large orders (the default synthetic world): the
                # training runs record it (:func:`order_value_param`) instead of a warning on every fit
                self.order_value_source_ = f"each user's mean (Gamma-Gamma degenerate, q={params['q']:.3g})"
                logger.info("Gamma-Gamma: %s", self.order_value_source_)
        mean_value = data["m"][data["m"] > 0]
        self.mean_order_value_ = float(mean_value.mean()) if len(mean_value) else 0.0
        return self

    def _params(self) -> tuple[np.float64, ...]:
        """r, alpha, a, b as numpy scalars: on one row's scalars a degenerate fit (a or b of exactly 1) then divides
        by zero as arrays do (inf), instead of raising."""
        p = self.bgnbd_params_
        return np.float64(p["r"]), np.float64(p["alpha"]), np.float64(p["a"]), np.float64(p["b"])

    def p_alive(self, X: pd.DataFrame) -> np.ndarray:
        """P(still active at the cutoff | history), in (0, 1]; 1 for customers without repeat orders (BG/NBD)."""
        return self._p_alive(_arrays(btyd_inputs(X)))

    def _p_alive(self, d: dict[str, np.ndarray]) -> np.ndarray:
        r, alpha, a, b = self._params()
        x, t_x, T = d["x"], d["t_x"], d["T"]
        log_div = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / (b + _maximum(x, 1.0) - 1.0))
        return _where(x == 0, 1.0, expit(-log_div))

    def p_no_purchase(self, X: pd.DataFrame, horizon_days: float) -> np.ndarray:
        """P(no order in the next ``horizon_days`` | history), in [0, 1]: the BG/NBD churn probability.

        Dropout happens only right after a purchase, so an active customer makes no purchase in h days with
        probability E[exp(-lambda h)], lambda ~ Gamma(r + x, alpha + T) given the history and being active:
        P = 1 - P(alive) * (1 - ((alpha + T) / (alpha + T + h)) ** (r + x)).
        """
        return self._p_no_purchase(_arrays(btyd_inputs(X)), horizon_days)

    def _p_no_purchase(
        self, d: dict[str, np.ndarray], horizon_days: float, p_alive: np.ndarray | None = None
    ) -> np.ndarray:
        r, alpha, _, _ = self._params()
        x, T = d["x"], d["T"]
        silent_if_alive = np.power((alpha + T) / (alpha + T + horizon_days), r + x)
        return 1.0 - (self._p_alive(d) if p_alive is None else p_alive) * (1.0 - silent_if_alive)

    def expected_orders(self, X: pd.DataFrame, horizon_days: float) -> np.ndarray:
        """Expected orders in the next ``horizon_days`` given the history (Fader, Hardie & Lee 2005, eq. 10)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._expected_orders(_arrays(btyd_inputs(X)), horizon_days)

    def _expected_orders(self, d: dict[str, np.ndarray], horizon_days: float) -> np.ndarray:
        """Callers silence numpy's divide and invalid warnings (one ``np.errstate`` per block, not per formula): the
        series may overflow to inf, and is then replaced by Euler's transformation."""
        r, alpha, a, b = self._params()
        x, t_x, T, t = d["x"], d["t_x"], d["T"], float(horizon_days)
        z = t / (alpha + T + t)
        ca, cb, cc = r + x, b + x, a + b + x - 1.0
        log_hyp = np.log(hyp2f1(ca, cb, cc, z))
        if not _all_finite(log_hyp):  # the series overflowed (long histories): Euler's transformation on those rows
            alt = np.log(hyp2f1(cc - ca, cc - cb, cc, z)) + (cc - ca - cb) * np.log1p(-z)
            log_hyp = _where(np.isfinite(log_hyp), log_hyp, alt)
        first = (a + b + x - 1.0) / (a - 1.0)
        second = 1.0 - np.exp(log_hyp + (r + x) * np.log((alpha + T) / (alpha + t + T)))
        denom = 1.0 + (x > 0) * (a / (b + x - 1.0)) * np.power((alpha + T) / (alpha + t_x), r + x)
        orders = first * second / denom
        return _maximum(_where(_isnan(orders), 0.0, orders), 0.0)  # np.clip(v, 0.0, None) calls np.maximum

    def expected_order_value(self, X: pd.DataFrame) -> np.ndarray:
        """Gamma-Gamma conditional mean order value (shrinks a customer's own mean to the population's)."""
        return self._expected_order_value(_arrays(btyd_inputs(X)))

    def _expected_order_value(self, d: dict[str, np.ndarray]) -> np.ndarray:
        if self.gamma_gamma_params_ is None:
            return _where(d["m"] > 0, d["m"], self.mean_order_value_)
        p, q, v = (self.gamma_gamma_params_[k] for k in ("p", "q", "v"))
        population = v * p / (q - 1.0)
        x = d["x"]
        m = _where(_isnan(d["m"]), population, d["m"])
        weight = p * x / (p * x + q - 1.0)
        return (1.0 - weight) * population + weight * m

    def expected_spend(self, X: pd.DataFrame, horizon_days: float) -> np.ndarray:
        """Expected spend in the next ``horizon_days``: expected orders x expected order value (undiscounted)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._expected_spend(_arrays(btyd_inputs(X)), horizon_days)

    def _expected_spend(self, d: dict[str, np.ndarray], horizon_days: float) -> np.ndarray:
        return self._expected_orders(d, horizon_days) * self._expected_order_value(d)


#: Columns :func:`btyd_features` adds to a user-feature frame.
BTYD_FEATURES: tuple[str, ...] = ("btyd_p_no_order", "btyd_p_alive", "overdue_ratio", "btyd_expected_spend")


def btyd_features(model: BgNbdGammaGamma, X: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
    """``X`` plus the BG/NBD view of each user, for the LightGBM models to split on.

    Columns: P(no order in ``horizon_days``), P(still active), the overdue ratio (days since the last order / the
    user's mean gap between orders; NaN without a repeat order) and the expected spend over the horizon. Trees split
    one column at a time, so "silent for longer than usual for this user" is a ratio they cannot build themselves.
    """
    derived = btyd_block(model, _arrays(btyd_inputs(X)), horizon_days)
    return X.assign(**{name: derived[:, j] for j, name in enumerate(BTYD_FEATURES)})


def btyd_block(model: BgNbdGammaGamma, d: dict[str, np.ndarray], horizon_days: float) -> np.ndarray:
    """The :data:`BTYD_FEATURES` columns, shape (n, 4), from :func:`btyd_arrays` inputs (no frame built)."""
    out = np.empty((len(d["x"]), len(BTYD_FEATURES)), dtype=np.float64)
    for j, column in enumerate(_btyd_columns(model, d, horizon_days)):
        out[:, j] = column
    return out


def _btyd_columns(model: BgNbdGammaGamma, d: dict[str, Any], horizon_days: float) -> tuple[Any, ...]:
    """The :data:`BTYD_FEATURES` values in order, as arrays or (one row) scalars, like ``d``."""
    x, t_x, T = d["x"], d["t_x"], d["T"]
    with np.errstate(divide="ignore", invalid="ignore"):  # see BgNbdGammaGamma._expected_orders
        gap = _maximum(_where(x > 0, t_x / _where(x > 0, x, 1.0), np.nan), 1.0)
        p_alive = model._p_alive(d)
        no_order = model._p_no_purchase(d, horizon_days, p_alive)
        spend = model._expected_spend(d, horizon_days)
    return no_order, p_alive, (T - t_x) / gap, spend


@functools.lru_cache(maxsize=64)
def _positions(names: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    return tuple((n, names.index(n)) for n in INPUT_COLUMNS if n in names)


def with_btyd_block(model: BgNbdGammaGamma, x: np.ndarray, names: tuple[str, ...], horizon_days: float) -> np.ndarray:
    """``x`` (float64 columns ``names``) with the :data:`BTYD_FEATURES` columns appended: what
    :func:`btyd_features` adds to a frame, for a model that predicts on arrays (positions resolved once per names).

    One row (a one-user request) goes through the same formulas on numpy scalars: a fifth of the time, same values.
    """
    if len(x) != 1:
        d = btyd_arrays({n: x[:, j] for n, j in _positions(names)})
        return np.hstack([x, btyd_block(model, d, horizon_days)])
    row = x[0]
    out = np.empty((1, x.shape[1] + len(BTYD_FEATURES)), dtype=np.float64)
    out[0, : x.shape[1]] = row
    out[0, x.shape[1] :] = _btyd_columns(model, btyd_arrays({n: row[j] for n, j in _positions(names)}), horizon_days)
    return out


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


def order_value_param(model: BgNbdGammaGamma | None) -> dict[str, str]:
    """Where the BG/NBD block's order values came from, as a training-run param (none without the block)."""
    if model is None:
        return {}
    fallback = "Gamma-Gamma" if model.gamma_gamma_params_ is not None else "each user's mean"
    return {"btyd_order_value": getattr(model, "order_value_source_", fallback)}  # models pickled before it: inferred


def upgrade_state(state: dict[str, Any]) -> dict[str, Any]:
    """Pickled state of a LightGBM model from before the BG/NBD inputs existed, completed so it loads and predicts
    as it did (no derived columns). Used by the churn and lifetime-value estimators' ``__setstate__``."""
    state.setdefault("btyd_horizon_days", None)
    if "feature_names_" in state:
        state.setdefault("btyd_", None)
        state.setdefault("model_features_", list(state["feature_names_"]))
    return state
