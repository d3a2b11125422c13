"""Ingest = validate every table of a source and write Parquet; rejected rows go to quarantine with a reason.

The invariant, per table and always: rows in = rows accepted + rows quarantined. Re-running an ingest rewrites
the same files (no timestamps, no appends), so it is idempotent.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from features import columns as c
from features.contract import TABLE_NAMES, TABLES
from features.settings import DatasetPaths
from features.sources.base import SourceBatch
from features.validation import PROVENANCE_COLUMNS, REASON_SEPARATOR, quarantine_frame, validate_table

logger = logging.getLogger(__name__)

MANIFEST = "_manifest.json"


@dataclass
class TableReport:
    """What happened to one table: counts and how many rows broke each rule."""

    rows_in: int
    accepted: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestReport:
    """Per-table counts of one ingest, plus where it wrote."""

    dataset: str
    lake_dir: str
    quarantine_dir: str
    tables: dict[str, TableReport]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write through a temporary file so a crash never leaves half a table behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    df.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    tmp.replace(path)


def _reason_counts(reasons: pd.Series) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for joined in reasons:
        counts.update(joined.split(REASON_SEPARATOR))
    return dict(counts.most_common())


def _unknown_table(name: str, raw: pd.DataFrame) -> pd.DataFrame:
    reason = f"unknown table {name!r}; the contract has: {', '.join(TABLE_NAMES)}"
    logger.warning(reason)
    return quarantine_frame(raw, reason)


def _prepare_dirs(paths: DatasetPaths) -> None:
    """Start from empty folders so nothing from an earlier run lingers; features derive from the lake, so go too."""
    for folder in (paths.lake, paths.quarantine, paths.truth, paths.features):
        if folder.exists():
            shutil.rmtree(folder)
    for folder in (paths.lake, paths.quarantine, paths.truth):
        folder.mkdir(parents=True)


def ingest(
    batch: SourceBatch, paths: DatasetPaths, now: pd.Timestamp | None = None, progress: bool = True
) -> IngestReport:
    """Validate and write every table of ``batch`` under ``paths``; return the per-table report."""
    now = now if now is not None else pd.Timestamp.now()
    _prepare_dirs(paths)
    parent_keys: dict[tuple[str, str], pd.Index] = {}
    reports: dict[str, TableReport] = {}
    ordered = [t for t in TABLES if t.name in batch.tables or t.name in batch.rejected]
    for spec in tqdm(ordered, desc=f"ingest {batch.name}", disable=not progress):
        raw = batch.tables.get(spec.name, pd.DataFrame(columns=spec.column_names))
        result = validate_table(spec, raw, pd.Timestamp(batch.opened_at), now, parent_keys)
        accepted = result.accepted.drop(
            columns=[p for p in PROVENANCE_COLUMNS if p in result.accepted], errors="ignore"
        )
        pre_rejected = batch.rejected.get(spec.name)
        quarantined = result.quarantined
        if pre_rejected is not None and len(pre_rejected):
            quarantined = pd.concat(
                [
                    quarantine_frame(pre_rejected.drop(columns=[c.REASON]), pre_rejected[c.REASON].tolist()),
                    quarantined,
                ],
                ignore_index=True,
            )
        _write_parquet(accepted, paths.lake / f"{spec.name}.parquet")
        if len(quarantined):
            _write_parquet(quarantined, paths.quarantine / f"{spec.name}.parquet")
        for col in spec.columns:
            if col.name in spec.primary_key and len(spec.primary_key) == 1:
                parent_keys[(spec.name, col.name)] = pd.Index(accepted[col.name].dropna().unique())
        rows_in = len(raw) + (0 if pre_rejected is None else len(pre_rejected))
        reports[spec.name] = TableReport(
            rows_in, len(accepted), len(quarantined), _reason_counts(quarantined[c.REASON])
        )
    for name, raw in batch.tables.items():
        if name not in TABLE_NAMES:
            quarantined = _unknown_table(name, raw)
            _write_parquet(quarantined, paths.quarantine / f"{name}.parquet")
            reports[name] = TableReport(len(raw), 0, len(quarantined), _reason_counts(quarantined[c.REASON]))
    for name, truth in batch.truth.items():
        _write_parquet(truth, paths.truth / f"{name}.parquet")
    report = IngestReport(batch.name, str(paths.lake), str(paths.quarantine), reports)
    _write_manifest(paths, batch, report)
    return report


def _write_manifest(paths: DatasetPaths, batch: SourceBatch, report: IngestReport) -> None:
    manifest = {
        "dataset": batch.name,
        "opened_at": str(pd.Timestamp(batch.opened_at)),
        "lineage": batch.lineage,
        "tables": {name: asdict(r) for name, r in report.tables.items()},
    }
    (paths.lake / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str))


def read_manifest(paths: DatasetPaths) -> dict[str, Any]:
    """The manifest of the last ingest of a dataset (opened_at, lineage, counts)."""
    path = paths.lake / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"no lake at {paths.lake}: run `shopsense data synth` or `shopsense data ingest` first")
    return json.loads(path.read_text())


def read_table(paths: DatasetPaths, name: str) -> pd.DataFrame:
    """One accepted lake table as pandas (for small tables and tests; features read Parquet through Ibis)."""
    path = paths.lake / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"table {name!r} is not in the lake at {paths.lake} (the source may not have it)")
    return pd.read_parquet(path)
