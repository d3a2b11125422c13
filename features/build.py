"""Build declared feature sets as of one or many cutoffs and write them as Parquet for training and Feast.

Layout: ``<dataset>/features/<set>/as_of=<YYYY-MM-DD>.parquet`` (one file per cutoff, rewritten on rebuild, so a
build is idempotent) plus ``<dataset>/features/<set>.parquet`` with all cutoffs, the Feast offline source.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import ibis
import pandas as pd
from tqdm.auto import tqdm

from features import columns as c
from features.engine import LakeTables
from features.settings import DatasetPaths
from features.spec import FeatureSet

logger = logging.getLogger(__name__)


def compute_frame(feature_set: FeatureSet, lake: LakeTables, as_of: pd.Timestamp) -> pd.DataFrame:
    """Evaluate one feature set at one cutoff and check the result against its declaration."""
    missing = [t for t in feature_set.requires if not lake.has(t)]
    if missing:
        raise FileNotFoundError(f"feature set {feature_set.name!r} needs lake table(s) {missing} in {lake.paths.lake}")
    frame = lake.con.to_pandas(feature_set.compute(lake, pd.Timestamp(as_of)))
    expected = list(feature_set.keys) + [f.name for f in feature_set.available(lake)]
    if list(frame.columns) != expected:
        raise AssertionError(f"{feature_set.name}: computed columns {list(frame.columns)} != declared {expected}")
    frame = frame.sort_values(list(feature_set.keys), kind="stable").reset_index(drop=True)
    for feat in feature_set.available(lake):
        frame[feat.name] = frame[feat.name].astype("float64" if feat.dtype == "float64" else feat.dtype)
    frame.insert(len(feature_set.keys), c.AS_OF, pd.Timestamp(as_of))
    frame[c.AS_OF] = frame[c.AS_OF].astype("datetime64[us]")
    return frame


def partition_path(paths: DatasetPaths, feature_set: FeatureSet, as_of: pd.Timestamp) -> Path:
    return paths.features / feature_set.name / f"as_of={pd.Timestamp(as_of):%Y-%m-%d}.parquet"


def combined_path(paths: DatasetPaths, feature_set: FeatureSet) -> Path:
    return paths.features / f"{feature_set.name}.parquet"


def build(
    feature_set: FeatureSet,
    con: ibis.BaseBackend,
    paths: DatasetPaths,
    cutoffs: Iterable[pd.Timestamp],
    progress: bool = True,
) -> pd.DataFrame:
    """Compute ``feature_set`` at every cutoff, write one partition per cutoff, refresh the combined file."""
    lake = LakeTables(con, paths)
    frames = []
    for as_of in tqdm(list(cutoffs), desc=f"features {feature_set.name}", disable=not progress):
        frame = compute_frame(feature_set, lake, as_of)
        target = partition_path(paths, feature_set, as_of)
        _write(frame, target)
        frames.append(frame)
    _refresh_combined(paths, feature_set)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _refresh_combined(paths: DatasetPaths, feature_set: FeatureSet) -> None:
    parts = sorted((paths.features / feature_set.name).glob("as_of=*.parquet"))
    if not feature_set.snapshot:
        parts = parts[-1:]
    combined = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    _write(combined, combined_path(paths, feature_set))
    logger.info("%s: %d rows over %d cutoffs", feature_set.name, len(combined), len(parts))


def _write(frame: pd.DataFrame, target: Path) -> None:
    """Write beside ``target`` and rename over it: a process reading it meanwhile (the demo builds today's features
    while decisions train on the same partitions) sees the old file or the new one, never half of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.writing")
    frame.to_parquet(partial, index=False)
    os.replace(partial, target)


def load(paths: DatasetPaths, feature_set: FeatureSet) -> pd.DataFrame:
    """All built cutoffs of a feature set (for training sets)."""
    path = combined_path(paths, feature_set)
    if not path.exists():
        raise FileNotFoundError(f"no {feature_set.name} features at {path}: run `shopsense features build` first")
    return pd.read_parquet(path)


def monthly_cutoffs(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Month starts from ``first`` to ``last`` inclusive: the cutoffs training sets are built on."""
    return list(pd.date_range(pd.Timestamp(first).to_period("M").to_timestamp(), last, freq="MS"))


def supported_sets(paths: DatasetPaths, names: Iterable[str]) -> list[FeatureSet]:
    """The named feature sets whose required lake tables this dataset has (others are skipped, not faked)."""
    from features import registry

    lake_has = {p.stem for p in paths.lake.glob("*.parquet")}
    sets = [registry.get(name) for name in names]
    return [fs for fs in sets if set(fs.requires) <= lake_has]


def default_cutoff(con: ibis.BaseBackend, paths: DatasetPaths) -> pd.Timestamp:
    """The day after the last order in the lake: the natural "now" of a historical dataset."""
    orders = LakeTables(con, paths)["orders"]
    last = pd.Timestamp(con.to_pandas(orders[c.ORDER_TS].max()))
    return last.normalize() + pd.Timedelta(days=1)
