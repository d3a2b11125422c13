"""Store lifecycle and batch access: apply the generated repo, materialize, point-in-time training frames.

Everything goes through the Feast SDK so the offline (file/Parquet) and online (SQLite or Redis) stores stay
Feast's business; which online store is used is configuration (``SHOPSENSE_ONLINE_STORE``), not code.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow.compute as pc
from feast import FeatureStore, RepoConfig
from tqdm.auto import tqdm

from features import columns as c
from features.settings import DatasetPaths, Settings, get_settings
from features.store import bulk as bulk_writer
from features.store.config import config_dict, online_db_path, write_config
from features.store.definitions import ViewSpec, definitions, discover
from features.store.layout import ServiceLayout, typed
from features.store.services import ONLINE_LIMITS, full_feature_names

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
def _quiet() -> Iterator[None]:
    """Feast prints materialization banners and bars per view; the caller's own progress bar replaces them."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def materialize(
    paths: DatasetPaths,
    end: pd.Timestamp | None = None,
    settings: Settings | None = None,
    progress: bool = True,
    bulk: bool = True,
) -> dict[str, Any]:
    """Load the latest row per key with ``as_of <= end`` of every view into the online store.

    ``end`` defaults to the latest cutoff built plus one second, so the newest features are served. Views in
    ``ONLINE_LIMITS`` keep only each user's ``settings.online_top_n`` strongest rows online. On SQLite (``bulk``)
    each view's table is replaced by :mod:`features.store.bulk` in Feast's row format; on Redis, or with
    ``bulk=False``, Feast's SDK writes (``store.materialize``, or ``write_to_online_store`` for limited views).
    Returns a summary: project, online store type, window, and per view the keys written, the keys offline when
    a limit applied, the newest as_of among them and the seconds taken.
    """
    settings = settings or get_settings()
    store, specs = _apply(paths, settings)
    start, end = _window(specs, end)
    fast = bulk and bulk_writer.supported(store)
    views = {}
    for spec in tqdm(specs, desc="materialize", unit="view", disable=not progress, leave=False):
        started = time.perf_counter()
        views[spec.name] = _materialize_view(store, paths, spec, (start, end), settings.online_top_n, fast)
        views[spec.name]["seconds"] = round(time.perf_counter() - started, 2)
    summary = {"project": store.project, "online_store": settings.online_store, "start": str(start)}
    summary |= {"end": str(end), "writer": "bulk" if fast else "feast", "views": views}
    logger.info("materialized %s up to %s: %s", store.project, end, views)
    return summary


def _window(specs: list[ViewSpec], end: pd.Timestamp | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Feast's materialize window: from the oldest as_of built to ``end`` (default: the newest + 1 s), naive UTC."""
    with bulk_writer.quiet_duckdb() as con:
        bounds = [
            con.execute(f'SELECT min("{c.AS_OF}"), max("{c.AS_OF}") FROM read_parquet(?)', [str(s.path)]).fetchone()
            for s in specs
        ]
    start = pd.Timestamp(min(b[0] for b in bounds))
    end = pd.Timestamp(max(b[1] for b in bounds)) + pd.Timedelta(seconds=1) if end is None else pd.Timestamp(end)
    if end.tzinfo is not None:  # as_of is naive UTC
        end = end.tz_convert("UTC").tz_localize(None)
    return start, end


def _materialize_view(
    store: FeatureStore,
    paths: DatasetPaths,
    spec: ViewSpec,
    window: tuple[pd.Timestamp, pd.Timestamp],
    top_n: int,
    fast: bool,
) -> dict[str, Any]:
    start, end = (t.to_pydatetime() for t in window)
    limit = ONLINE_LIMITS.get(spec.name)
    if limit is not None and limit.by not in {f.name for f in spec.features}:
        limit = None  # a dataset without the ranking column keeps every row
    rows = bulk_writer.select_rows(spec, start, end, limit, top_n)
    info: dict[str, Any] = {"keys": rows.num_rows}
    if limit is not None and top_n > 0:
        info["offline_keys"] = bulk_writer.count_keys(spec, start, end)
    stamps = rows.column(c.AS_OF)
    info["latest_as_of"] = None if rows.num_rows == 0 else str(pd.Timestamp(pc.max(stamps).as_py()))
    if fast:
        bulk_writer.write_view(store, str(online_db_path(paths)), spec, rows)
    elif "offline_keys" in info:  # Feast's materialize would write every row: hand it the selected ones
        store.write_to_online_store(spec.name, df=rows.to_pandas())
    else:
        with _quiet():
            store.materialize(start, end, feature_views=[spec.name])
        return info  # Feast recorded the interval itself
    store.registry.apply_materialization(store.get_feature_view(spec.name), store.project, start, end)
    return info


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
