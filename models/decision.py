"""What every served decision model is: a pure object that turns a frame of features into typed records.

The pure model lives in ``models/`` (no MLflow, no files, no HTTP). ``training/`` wraps any such object in one
generic MLflow pyfunc adapter and ``serving/`` calls ``decide`` on it after the online feature lookup, so a decision
is written once and used the same way by batch scoring, notebooks, MLflow and the HTTP service.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

#: One decision for one entity: JSON-able values, nested lists of objects allowed (never JSON strings).
Record = dict[str, Any]
#: The online lookup's flag column (features.store.layout.KNOWN, not imported: that module loads Feast): False when
#: the store holds no row for the id.
KNOWN = "known"


class FeatureLookup(Protocol):
    """Online features of ``ids`` from one feature service: column -> one value per id in order, with a boolean
    ``known`` (the serving runtime answers arrays per column; a DataFrame answers the same way)."""

    def __call__(
        self, feature_service: str, ids: Sequence[str], columns: Sequence[str] | None = None
    ) -> Mapping[str, Any] | pd.DataFrame: ...


def looked_up_floats(values: Any) -> np.ndarray:
    """One looked-up column as float64 with NaN for missing: numpy arrays, pandas' nullable arrays and Series."""
    if isinstance(values, np.ndarray):
        return values.astype("float64")
    return values.to_numpy("float64", na_value=np.nan)


@runtime_checkable
class DecisionModel(Protocol):
    """A fitted decision.

    Attributes:
        feature_names: the feature columns ``decide`` reads, in model order (resolved once by the server).
        feature_service: the Feast feature service those columns come from (``churn_v1`` ...).
    """

    feature_names: list[str]
    feature_service: str

    def decide(self, frame: pd.DataFrame, **params: Any) -> list[Record]:
        """One record per row of ``frame`` (same order); upstream decisions' outputs arrive as extra columns."""
        ...


#: Optional on a decision model: ``prepare_serving(cache_dir)``, called once when the server plans the model, for
#: work that would otherwise land on the first request (the recommender compiles its ranker's trees there).
PREPARE_SERVING = "prepare_serving"


def run_serving_preparation(model: object, cache_dir: Path | None) -> bool:
    """Call the model's ``prepare_serving(cache_dir)`` (:data:`PREPARE_SERVING`) if it has one; whether it had.

    The one way every caller prepares a model: the server when it plans it, the demo's BentoML store step, and
    training before it scores a model (so the gate scores what the service answers with).
    """
    prepare = getattr(model, PREPARE_SERVING, None)
    if callable(prepare):
        prepare(cache_dir)
    return callable(prepare)


#: Upstream decisions' outputs for the rows of an array: field name -> one value per row (None where missing).
Upstream = Mapping[str, Sequence[Any]]


@runtime_checkable
class ArrayDecisionModel(DecisionModel, Protocol):
    """A decision that also answers from a float64 array: the serving hot path, without a frame per request.

    ``decide_array(x, upstream, **params)`` must return what ``decide`` returns for the same rows, where ``x``
    holds ``feature_names`` in order and ``upstream`` the fields :func:`join_upstream` would have added as columns.
    ``x`` is read-only: the runtime hands the models of a chain views of one block when their columns coincide.
    """

    def decide_array(self, x: np.ndarray, upstream: Upstream, **params: Any) -> list[Record]: ...


@functools.lru_cache(maxsize=256)
def positions(have: tuple[str, ...], want: tuple[str, ...]) -> np.ndarray | None:
    """Indices of ``want`` in ``have`` (None when they are the same sequence); raises naming a missing column.

    Cached, so a model resolves its column order once, not per request.
    """
    if have == want:
        return None
    index = {name: j for j, name in enumerate(have)}
    missing = [n for n in want if n not in index]
    if missing:
        raise ValueError(f"input lacks feature column(s): {', '.join(missing)}")
    return np.array([index[n] for n in want], dtype=np.intp)


def reorder(x: np.ndarray, have: Sequence[str], want: Sequence[str]) -> np.ndarray:
    """The columns ``want`` of ``x`` (whose columns are ``have``), in that order."""
    index = positions(tuple(have), tuple(want))
    return x if index is None else x[:, index]


def optional_values(values: Sequence[Any] | None, n: int) -> list[Any]:
    """Upstream values as a list of length ``n``, None where absent or NaN (see :func:`optional_column`)."""
    if values is None:
        return [None] * n
    return [None if v is None or (isinstance(v, float) and v != v) else v for v in values]  # v != v: NaN


def feature_block(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``frame``'s model columns in model order as float64 (nullable ints become NaN, which LightGBM handles).

    Raises:
        ValueError: naming every model column the frame lacks.
    """
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"input lacks feature column(s): {', '.join(missing)}")
    return frame.loc[:, list(names)].astype("float64")


def optional_column(frame: pd.DataFrame, name: str) -> list[Any]:
    """An upstream column as a list (None where absent or missing), so a decision can run without its upstream."""
    if name not in frame.columns:
        return [None] * len(frame)
    return optional_values(frame[name].tolist(), len(frame))


def join_upstream(frame: pd.DataFrame, upstream: Sequence[tuple[DecisionModel, Sequence[str]]]) -> pd.DataFrame:
    """``frame`` with each upstream model's provided record fields added as columns, in the given order.

    Order matters when one upstream reads another's output (tiering reads ``predicted_ltv``): pass them
    dependencies first. Training (on every part of a dataset) and serving (on each batch) both join this way, so a
    served decision sees exactly the columns it was fitted and evaluated with.
    """
    out = frame.copy()
    for model, fields in upstream:
        if len(out) == 0:
            for name in fields:
                out[name] = pd.Series(dtype=object)
            continue
        records = model.decide(out)
        for name in fields:
            out[name] = [record.get(name) for record in records]
    return out
