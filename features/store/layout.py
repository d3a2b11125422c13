"""The shape of a feature service's output, read from the Feast registry: keys, columns, dtypes.

Built from the registry rather than the Parquet files so a serving process needs only the registry and the online
store. Training frames and online frames are both cast through :func:`typed`, so a model sees the same columns
with the same dtypes in both places.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.store.services import full_feature_names, service_views

if TYPE_CHECKING:  # Feast is imported where a store is opened: importing the service (BentoML's arbiter) skips it
    from feast import FeatureStore

KNOWN = "known"  # output column: False when the store holds no row for one of the row's keys


def _pandas_dtypes() -> dict[Any, str]:
    """Declared dtypes as pandas dtypes that can hold a null: an unknown id has no value, and ints must stay ints."""
    from feast.types import Float64, Int64, String

    return {Float64: "float64", Int64: "Int64", String: "object"}


@dataclass(frozen=True)
class ViewLayout:
    """One view of a service: its join keys with their Feast types, and its features in declared order."""

    name: str
    join_keys: tuple[str, ...]
    key_kinds: tuple[str, ...]  # "string" | "int64" per join key
    features: tuple[str, ...]
    columns: tuple[str, ...]  # output names: the features, prefixed ``<view>__`` when the service spans views
    dtypes: tuple[str, ...]  # pandas dtype per feature


@dataclass(frozen=True)
class ServiceLayout:
    """What ``get(service, ids)`` returns: join keys, then every view's columns, then :data:`KNOWN`."""

    name: str
    views: tuple[ViewLayout, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for v in self.views for k in v.join_keys))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(col for v in self.views for col in v.columns)

    @property
    def dtypes(self) -> dict[str, str]:
        return {col: dtype for v in self.views for col, dtype in zip(v.columns, v.dtypes, strict=True)}

    @classmethod
    def from_store(cls, store: FeatureStore, service: str) -> ServiceLayout:
        """Resolve ``service`` against the registry; a KeyError names the service and what is registered."""
        names = service_views(service)
        registered = {s.name for s in store.list_feature_services()}
        if service not in registered:
            raise KeyError(
                f"feature service {service!r} is not registered in {store.project} (needs views {names}; "
                f"registered services: {sorted(registered)}): build those features and run materialize"
            )
        prefix = full_feature_names(service)
        return cls(service, tuple(_view_layout(store, name, prefix) for name in names))


def _view_layout(store: FeatureStore, name: str, prefix: bool) -> ViewLayout:
    from feast.types import Int64

    view = store.get_feature_view(name)
    keys = tuple(f.name for f in view.entity_columns)
    kinds = tuple("int64" if f.dtype == Int64 else "string" for f in view.entity_columns)
    features = tuple(f.name for f in view.features)
    columns = tuple(f"{name}__{f}" if prefix else f for f in features)
    pandas_dtypes = _pandas_dtypes()
    dtypes = tuple(pandas_dtypes.get(f.dtype, "object") for f in view.features)
    return ViewLayout(name, keys, kinds, features, columns, dtypes)


def typed(frame: pd.DataFrame, layout: ServiceLayout) -> pd.DataFrame:
    """Cast the feature columns to the layout's dtypes (float64, nullable Int64, object for strings)."""
    return frame.astype({col: dtype for col, dtype in layout.dtypes.items() if col in frame.columns})


def key_columns(layout: ServiceLayout, ids: list[Any]) -> dict[str, list[Any]]:
    """Ids as columns: plain values when the service has one join key, else mappings holding every key."""
    keys = layout.keys
    if ids and not isinstance(ids[0], Mapping):
        if len(keys) != 1:
            raise ValueError(f"{layout.name} joins on {list(keys)}: pass one dict per row with those keys")
        return {keys[0]: list(ids)}
    missing = [k for k in keys if any(k not in row for row in ids)]
    if missing:
        raise ValueError(f"{layout.name} needs key(s) {missing} in every row")
    return {k: [row[k] for row in ids] for k in keys}


def known_mask(layout: ServiceLayout, found: dict[str, list[bool]], n: int) -> list[bool]:
    """A row is known when each of its keys was found in at least one view of the service that joins on it.

    So ``recommend_v1`` marks a pair known when the user and the SKU exist, even if they never interacted (no
    interactions row: those features stay null, they are not guessed); ``churn_v1`` marks an unknown user.
    """
    known = [True] * n
    for key in layout.keys:
        views = [v.name for v in layout.views if key in v.join_keys]
        for i in range(n):
            if known[i] and not any(found[v][i] for v in views):
                known[i] = False
    return known
