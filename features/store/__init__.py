"""The Feast repository of ShopSense, generated from the declared feature sets (see DESIGN.md §1, §5).

Public API (imported lazily, so ``import features.store`` does not load Feast):

- ``get_store(paths, settings=None)``: write ``feature_store.yaml``, apply entities/views/services; idempotent.
- ``materialize(paths, end=None)``: latest rows up to ``end`` into the online store (SQLite: bulk writer in Feast's
  row format, see ``bulk.py``; Redis: Feast's SDK); returns a summary dict with keys and seconds per view.
- ``historical_features(paths, entity_df, service)``: point-in-time training frame.
- ``online_features(paths, service, entity_rows)``: one-off online lookup.
- ``OnlineFeatureReader(paths, fast=False)``: the serving hot path, created once per process.
- ``FEATURE_SERVICES``: service name -> feature views; models name the service they were trained on.
"""

from __future__ import annotations

import os
from typing import Any

# Feast reads its telemetry switch from the environment when it is imported; set it before any submodule can.
# (Feast 0.67 ships no usage telemetry; the switch is kept so an upgrade that brings it back stays silent.)
os.environ.setdefault("FEAST_USAGE", "False")

from features.store.services import FEATURE_SERVICES, SNAPSHOT_SETS, VIEW_TTL

_LAZY = {
    "get_store": "features.store.api",
    "open_store": "features.store.api",
    "materialize": "features.store.api",
    "historical_features": "features.store.api",
    "online_features": "features.store.api",
    "OnlineFeatureReader": "features.store.reader",
}

__all__ = ["FEATURE_SERVICES", "SNAPSHOT_SETS", "VIEW_TTL", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
