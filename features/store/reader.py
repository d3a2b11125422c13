"""The online hot path: a reader the BentoML service creates once and asks for features per request.

Two interchangeable backends return the same frame: the Feast SDK (``store.get_online_features``, the reference)
and, with ``fast=True``, :class:`~features.store.sqlite_fast.SqliteFastPath`, which reads the table Feast
materialized into its SQLite online store directly. Ids the store does not hold come back with null features and
``known == False``; nothing is imputed here, so the caller decides what an unknown id means.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd
from feast import FeatureService
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from pandas.arrays import IntegerArray

from features.settings import DatasetPaths, Settings, get_settings
from features.store.api import open_store
from features.store.config import REGISTRY_FILE, online_db_path
from features.store.layout import KNOWN, ServiceLayout, key_columns, known_mask
from features.store.services import full_feature_names
from features.store.sqlite_fast import SqliteFastPath

logger = logging.getLogger(__name__)

Values = dict[str, list[Any]]  # output column -> one value per requested row (None when absent)
Found = dict[str, list[bool]]  # view -> whether the store held a row for each requested row
Columns = dict[str, Any]  # column -> typed array (numpy, or pandas' IntegerArray for Int64), one value per row


class OnlineFeatureReader:
    """Online features for one dataset: the store and the service layouts are loaded once, then reused.

    Args:
        paths: the dataset whose Feast repo (``paths.feast``) was applied and materialized.
        settings: selects the online store (SQLite by default, Redis by ``SHOPSENSE_ONLINE_STORE=redis``).
        fast: read Feast's SQLite online table directly instead of through the SDK (SQLite only); same values,
            a fraction of the per-call overhead. See ``benchmarks/bench_feast_online.py``.

    Call :meth:`layout` for each service at startup so the first request does not pay the registry lookup.
    Safe to share between threads.
    """

    def __init__(self, paths: DatasetPaths, settings: Settings | None = None, fast: bool = False) -> None:
        settings = settings or get_settings()
        if not (paths.feast / REGISTRY_FILE).exists():
            raise FileNotFoundError(f"no Feast registry in {paths.feast}: run `shopsense features materialize` first")
        self.paths = paths
        self.store = open_store(paths, settings)
        self._layouts: dict[str, ServiceLayout] = {}
        self._services: dict[str, FeatureService] = {}
        self._fast: SqliteFastPath | None = None
        if fast:
            if settings.online_store != "sqlite":
                raise ValueError(f"the fast path reads Feast's SQLite table; online store is {settings.online_store}")
            self._fast = SqliteFastPath(online_db_path(paths), self.store)

    @property
    def fast(self) -> bool:
        return self._fast is not None

    @property
    def fast_path(self) -> SqliteFastPath | None:
        """The direct SQLite reader behind ``get`` (None unless ``fast``), for callers that want arrays, not frames."""
        return self._fast

    def layout(self, service: str) -> ServiceLayout:
        """Keys, columns and dtypes of ``service`` (resolved against the registry once)."""
        if service not in self._layouts:
            self._layouts[service] = ServiceLayout.from_store(self.store, service)
            self._services[service] = self.store.get_feature_service(service)
        return self._layouts[service]

    def get(self, service: str, ids: Sequence[Any], columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Features of ``service`` for ``ids``, one row per id in the order asked, plus the ``known`` flag.

        ``ids`` are plain key values when the service joins on one key (``["u001", "u002"]``), else dicts with
        every join key (``[{"review_id": "r1", "user_id": "u9"}]``). ``columns``: only these feature columns (in
        the service's order), e.g. on-hand alone from the 15-column SKU view; the fast path then reads and decodes
        only those, the SDK reads all and drops the rest. ``known`` means the same either way.
        """
        return pd.DataFrame(self.get_columns(service, ids, columns), copy=False)

    def get_columns(self, service: str, ids: Sequence[Any], columns: Sequence[str] | None = None) -> Columns:
        """:meth:`get` as typed arrays per column, without the frame (a hot path reading one column of 50 SKUs
        spent a third of its time building the DataFrame)."""
        layout = self.layout(service)
        wanted = _wanted(layout, columns)
        keys = key_columns(layout, list(ids))
        n = len(next(iter(keys.values())))
        if n == 0:
            values, found = {col: [] for col in layout.columns}, {view.name: [] for view in layout.views}
        elif self._fast is not None:
            values, found = self._fast.read(layout, keys, n, wanted)
        else:
            values, found = self._read_sdk(service, layout, keys)
        return build_columns(layout, keys, values, known_mask(layout, found, n), wanted)

    def _read_sdk(self, service: str, layout: ServiceLayout, keys: dict[str, list[Any]]) -> tuple[Values, Found]:
        response = self.store.get_online_features(
            features=self._services[service], entity_rows=keys, full_feature_names=full_feature_names(service)
        )
        values = response.to_dict()
        index = {name: i for i, name in enumerate(response.proto.metadata.feature_names.val)}
        found = {}
        for view in layout.views:
            result = response.proto.results[index[view.columns[0]]]
            # Feast's Redis store answers a missing key with empty values (NULL_VALUE, not NOT_FOUND) and a zero
            # event timestamp; every materialized row has a real one, so both say whether the row exists.
            found[view.name] = [
                s != FieldStatus.NOT_FOUND and ts.seconds > 0
                for s, ts in zip(result.statuses, result.event_timestamps, strict=True)
            ]
        return values, found


def _column(values: list[Any], dtype: str) -> Any:
    """One typed column; built directly because ``DataFrame.astype`` costs milliseconds per call."""
    if dtype == "float64":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if dtype == "Int64":
        mask = np.array([v is None for v in values], dtype=bool)
        return IntegerArray(np.array([0 if v is None else v for v in values], dtype=np.int64), mask)
    return np.array(values, dtype=object)


def _wanted(layout: ServiceLayout, columns: Sequence[str] | None) -> frozenset[str] | None:
    """The asked feature columns as a set (None: all); a column the service does not have is a KeyError."""
    if columns is None:
        return None
    unknown = sorted(set(columns) - set(layout.columns))
    if unknown:
        raise KeyError(f"feature service {layout.name!r} has no column(s) {unknown}; it has {list(layout.columns)}")
    return frozenset(columns)


def build_columns(
    layout: ServiceLayout,
    keys: dict[str, list[Any]],
    values: Values,
    known: list[bool],
    columns: Collection[str] | None = None,
) -> Columns:
    """Keys, then the service's feature columns (those in ``columns``, default all) in declared order and dtype,
    then ``known``."""
    data: dict[str, Any] = {key: np.array(column, dtype=object) for key, column in keys.items()}
    for view in layout.views:
        for column, dtype in zip(view.columns, view.dtypes, strict=True):
            if columns is None or column in columns:
                data[column] = _column(values[column], dtype)
    data[KNOWN] = np.array(known, dtype=bool)
    return data
