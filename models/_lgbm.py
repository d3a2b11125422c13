"""Shared plumbing for the LightGBM-based estimators: feature selection, column checks, booster parameters.

Kept in one place so the churn classifier and the LTV regressor choose columns, reject bad input and seed
LightGBM the same way (no copy-paste twins).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features import columns as c

#: Rows below which a booster predicts on one thread: OpenMP's start-up and barrier waits cost more than they
#: save on small batches, and on a busy 2-core server they turn a 0.03 ms one-row predict into 15 ms.
PARALLEL_ROWS = 10_000


def predict_threads(rows: int) -> int:
    """LightGBM ``num_threads`` for predicting ``rows`` rows (0: OpenMP's default, every core).

    A booster predicts with the threads of the call, not those it was trained with (``n_jobs``), so serving paths
    pass this on every call.
    """
    return 1 if rows < PARALLEL_ROWS else 0


#: Identifier columns that may ride along with features but must never be learned from.
ID_COLUMNS: tuple[str, ...] = (c.USER_ID, c.SKU_ID, c.AS_OF)


def require_frame(X: Any, what: str = "X") -> pd.DataFrame:
    """Models are fitted on named columns; a bare array would silently lose the feature names."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame with named feature columns, got {type(X).__name__}")
    return X


def select_features(X: pd.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    """Numeric/boolean columns of ``X`` minus identifiers and ``exclude``, in frame order.

    Raises:
        ValueError: a non-identifier column is not numeric (encode it upstream), or nothing is left.
    """
    skip = set(ID_COLUMNS) | set(exclude)
    names: list[str] = []
    bad: list[str] = []
    for name in X.columns:
        if name in skip:
            continue
        if pd.api.types.is_numeric_dtype(X[name]) or pd.api.types.is_bool_dtype(X[name]):
            names.append(str(name))
        else:
            bad.append(f"{name} ({X[name].dtype})")
    if bad:
        raise ValueError(f"non-numeric feature column(s): {', '.join(bad)}; encode them or pass them in exclude")
    if not names:
        raise ValueError("X has no feature columns")
    return names


def feature_matrix(X: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``X`` restricted to the fitted columns in fitted order, as float64 (nullable ints become NaN).

    Raises:
        ValueError: naming every fitted column that ``X`` lacks.
    """
    X = require_frame(X)
    missing = [n for n in names if n not in X.columns]
    if missing:
        raise ValueError(f"X lacks fitted feature column(s): {', '.join(missing)}")
    return X.loc[:, list(names)].astype("float64")


def booster_params(est: Any, objective: str, **extra: Any) -> dict[str, Any]:
    """LightGBM parameters from the sklearn-style hyper-parameters of ``est``, deterministic by ``random_state``."""
    params: dict[str, Any] = {
        "objective": objective,
        "learning_rate": est.learning_rate,
        "num_leaves": est.num_leaves,
        "min_data_in_leaf": est.min_child_samples,
        "bagging_fraction": est.subsample,
        "bagging_freq": 1 if est.subsample < 1.0 else 0,
        "feature_fraction": est.colsample_bytree,
        "lambda_l2": est.reg_lambda,
        "seed": est.random_state,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": est.n_jobs,
        "verbosity": -1,
    }
    params.update(extra)
    return params


def as_1d(y: Any, n: int, what: str = "y") -> np.ndarray:
    """A 1-D float array of length ``n`` without NaN."""
    arr = np.asarray(y, dtype="float64").ravel()
    if arr.shape[0] != n:
        raise ValueError(f"{what} has {arr.shape[0]} values for {n} rows")
    if np.isnan(arr).any():
        raise ValueError(f"{what} contains NaN")
    return arr
