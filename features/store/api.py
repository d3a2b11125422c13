"""Store lifecycle and batch access: apply the generated repo, materialize, point-in-time training frames.

Everything goes through the Feast SDK so the offline (file/Parquet) and online (SQLite or Redis) stores stay
Feast's business; which online store is used is configuration (``SHOPSENSE_ONLINE_STORE``), not code.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd
from feast import FeatureStore, RepoConfig

from features import columns as c
from features.settings import DatasetPaths, Settings, get_settings
from features.store.config import config_dict, write_config
from features.store.definitions import ViewSpec, definitions, discover
from features.store.layout import ServiceLayout, typed
from features.store.services import full_feature_names

logger = logging.getLogger(__name__)

EVENT_TIMESTAMP = "event_timestamp"  # Feast's name for the as-of time of each training row


def open_store(paths: DatasetPaths, settings: Settings | None = None) -> FeatureStore:
    """The configured store without writing or applying anything: what a read-only server needs."""
    config = RepoConfig(**config_dict(paths, settings or get_settings()))
    config.repo_path = paths.feast.resolve()
    return FeatureStore(config=config)


def get_store(paths: DatasetPaths, settings: Settings | None = None) -> FeatureStore:
    """Write ``feature_store.yaml``, apply the views of every built feature set, drop views no longer built.

    Idempotent: applying unchanged definitions leaves the registry and the online tables as they were.
    """
    return _apply(paths, settings)[0]


def _apply(paths: DatasetPaths, settings: Settings | None) -> tuple[FeatureStore, list[ViewSpec]]:
    specs = _built_views(paths)
    write_config(paths, settings)
    store = FeatureStore(repo_path=str(paths.feast.resolve()))
    objects = definitions(specs)
    wanted = {(type(o).__name__, o.name) for o in objects}
    registered = [*store.list_feature_views(), *store.list_feature_services(), *store.list_data_sources()]
    stale: list[Any] = [o for o in registered if (type(o).__name__, o.name) not in wanted]
    store.apply(objects, objects_to_delete=stale, partial=not stale)
    logger.info("applied %s: views %s", store.project, ", ".join(s.name for s in specs))
    return store, specs


def _built_views(paths: DatasetPaths) -> list[ViewSpec]:
    specs = discover(paths)
    if not specs:
        raise FileNotFoundError(f"no snapshot features under {paths.features}: run `shopsense features build` first")
    return specs


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Feast prints materialization banners and bars; silence them when the caller asked for no progress."""
    if not enabled:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    else:
        yield


def materialize(
    paths: DatasetPaths,
    end: pd.Timestamp | None = None,
    settings: Settings | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Load the latest row per key with ``as_of <= end`` of every view into the online store.

    ``end`` defaults to the latest cutoff built plus one second, so the newest features are served. Returns a
    summary: project, online store type, window, and per view the keys written and the newest as_of among them.
    """
    settings = settings or get_settings()
    store, specs = _apply(paths, settings)
    stamps = {s.name: pd.read_parquet(s.path, columns=[*s.keys, c.AS_OF]) for s in specs}
    start = min(frame[c.AS_OF].min() for frame in stamps.values())
    if end is None:
        end = max(frame[c.AS_OF].max() for frame in stamps.values()) + pd.Timedelta(seconds=1)
    end = pd.Timestamp(end)
    if end.tzinfo is not None:  # as_of is naive UTC
        end = end.tz_convert("UTC").tz_localize(None)
    with _quiet(progress):
        store.materialize(start.to_pydatetime(), end.to_pydatetime())
    views = {}
    for spec in specs:
        upto = stamps[spec.name][stamps[spec.name][c.AS_OF] <= end]
        views[spec.name] = {
            "keys": int(upto.drop_duplicates(list(spec.keys)).shape[0]),
            "latest_as_of": None if upto.empty else str(upto[c.AS_OF].max()),
        }
    summary = {"project": store.project, "online_store": settings.online_store, "start": str(start)}
    summary |= {"end": str(end), "views": views}
    logger.info("materialized %s up to %s: %s", store.project, end, views)
    return summary


def historical_features(
    paths: DatasetPaths, entity_df: pd.DataFrame, service: str, settings: Settings | None = None
) -> pd.DataFrame:
    """Point-in-time join for training: each row gets the newest ``as_of`` row at or before its timestamp.

    ``entity_df`` holds the service's join keys and ``event_timestamp`` (plus any label columns, passed through).
    Rows come back in the input order; features follow the service's declared order with the same dtypes as
    :class:`OnlineFeatureReader` returns (int features as nullable ``Int64``), so training and serving agree.
    """
    store = get_store(paths, settings)
    layout = ServiceLayout.from_store(store, service)
    missing = [k for k in (*layout.keys, EVENT_TIMESTAMP) if k not in entity_df.columns]
    if missing:
        raise ValueError(f"entity_df for {service} needs column(s) {missing}")
    order = "__shopsense_row"
    request = entity_df.assign(**{order: range(len(entity_df))})
    job = store.get_historical_features(
        entity_df=request,
        features=store.get_feature_service(service),
        full_feature_names=full_feature_names(service),
    )
    joined = job.to_df().set_index(order)[list(layout.columns)]
    # Features are looked up by row number, so every input row comes back once, in order, even if an offline
    # store dropped rows without a match; the caller's own columns are returned untouched (Feast re-types
    # event_timestamp to tz-aware).
    result = entity_df.reset_index(drop=True).join(joined.reindex(range(len(entity_df))))
    return typed(result, layout)


def online_features(
    paths: DatasetPaths, service: str, entity_rows: list[dict[str, Any]], settings: Settings | None = None
) -> pd.DataFrame:
    """One-off online lookup (opens the store each call); long-lived callers hold an OnlineFeatureReader."""
    from features.store.reader import OnlineFeatureReader

    return OnlineFeatureReader(paths, settings).get(service, entity_rows)


__all__ = ["get_store", "historical_features", "materialize", "online_features", "open_store"]
