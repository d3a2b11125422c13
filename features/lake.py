"""Ingest = validate every table of a source and write Parquet; rejected rows go to quarantine with a reason.

The invariant, per table and always: rows in = rows accepted + rows quarantined. Tables are read and validated in
chunks (``SHOPSENSE_INGEST_CHUNK_ROWS``), so memory follows the chunk size, not the data. Everything is written to
a staging folder that replaces the dataset's lake only when no table rejected more than
``SHOPSENSE_INGEST_MAX_REJECTED`` of its rows; a refused ingest leaves the previous lake as it was. Re-running an
ingest rewrites the same files (no timestamps, no appends), so it is idempotent.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from features import columns as c
from features.contract import TABLE_NAMES, TABLES, Table
from features.lake_io import QuarantineWriter, TableWriter, discard, keep_failed, publish, stage, write_frame
from features.settings import DatasetPaths, get_settings
from features.sources.base import HISTORY_FLOOR, SourceBatch, iter_chunks
from features.validation import PROVENANCE_COLUMNS, REASON_SEPARATOR, KeySet, quarantine_frame, validate_table

logger = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
RESERVED_NAMES = frozenset({"mlflow", "audit", "bentoml"})  # other folders of the data dir


class DatasetMissing(FileNotFoundError):
    """A command needs a dataset that was never ingested (often a mistyped name or data dir)."""


class DatasetConflict(ValueError):
    """The dataset name is taken by data from another source."""


class IngestRejected(ValueError):
    """Too many rows of a table were rejected; the previous lake was kept. ``report`` holds the full counts."""

    def __init__(self, message: str, report: IngestReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class TableReport:
    """What happened to one table: counts and how many rows broke each rule."""

    rows_in: int
    accepted: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestReport:
    """Per-table counts of one ingest, plus where it wrote and which platform-open date it checked against."""

    dataset: str
    lake_dir: str
    quarantine_dir: str
    tables: dict[str, TableReport]
    opened_at: str = ""
    opened_from: str = ""
    history_start: str | None = None
    notices: dict[str, dict[str, int]] = field(default_factory=dict)
    ignored_files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_dataset_name(name: str) -> str:
    """Refuse names that are not a plain folder name or that would land on another store of the data dir."""
    if not DATASET_NAME.match(name) or name.lower() in RESERVED_NAMES:
        raise ValueError(
            f"dataset name {name!r} is not allowed: use letters, digits, '_' or '-' (at most 64), "
            f"and none of {', '.join(sorted(RESERVED_NAMES))}"
        )
    return name


def require_dataset(paths: DatasetPaths) -> None:
    """Fail in one sentence when a dataset was never ingested, instead of reading (or creating) empty stores."""
    if not (paths.lake / MANIFEST).exists():
        raise DatasetMissing(
            f"no dataset {paths.name!r} in {paths.root.parent} (SHOPSENSE_DATA_DIR): create it with "
            f"`shopsense data ingest --source files --path DIR --dataset {paths.name}` "
            "(or `shopsense data synth` for the synthetic world)"
        )


def _reason_counts(reasons: pd.Series, counts: Counter[str]) -> None:
    for joined in reasons:
        counts.update(joined.split(REASON_SEPARATOR))


class _TableRun:
    """Counts, key set and writers of one table while its chunks stream through."""

    def __init__(self, name: str, staged: DatasetPaths, spec: Table | None) -> None:
        self.spec = spec
        self.rows_in = self.accepted = self.quarantined = 0
        self.reasons: Counter[str] = Counter()
        self.notices: Counter[str] = Counter()
        self.first_ts: pd.Timestamp | None = None
        self.keys = KeySet()
        self.lake = TableWriter(spec, staged.lake / f"{name}.parquet") if spec is not None else None
        self.quarantine = QuarantineWriter(staged.quarantine / f"{name}.parquet")

    def reject(self, frame: pd.DataFrame, reasons: list[str] | None = None) -> None:
        """Quarantine rows that carry a ``reason`` column (``reasons`` None) or get the given reasons."""
        if len(frame) == 0:
            return
        if reasons is None:
            frame = quarantine_frame(frame.drop(columns=[c.REASON]), frame[c.REASON].tolist())
        elif reasons:
            frame = quarantine_frame(frame, reasons)
        self.rows_in += len(frame)
        self.quarantined += len(frame)
        _reason_counts(frame[c.REASON], self.reasons)
        self.quarantine.write(frame)

    def report(self) -> TableReport:
        if self.lake is not None:
            self.lake.close()
        self.quarantine.close()
        return TableReport(self.rows_in, self.accepted, self.quarantined, dict(self.reasons.most_common()))


def _validate_chunk(run: _TableRun, raw: pd.DataFrame, ctx: dict[str, Any]) -> None:
    spec = run.spec
    if spec is None or run.lake is None:
        raise TypeError("only contract tables are validated; unknown tables are quarantined whole")
    result = validate_table(spec, raw, ctx["opened_at"], ctx["now"], ctx["parent_keys"], run.keys)
    accepted = result.accepted.drop(columns=[p for p in PROVENANCE_COLUMNS if p in result.accepted])
    run.lake.write(accepted)
    run.keys.add(result.key_hashes)
    run.rows_in += len(accepted) + len(result.quarantined)
    run.accepted += len(accepted)
    run.notices.update(result.notices)
    run.quarantined += len(result.quarantined)
    _reason_counts(result.quarantined[c.REASON], run.reasons)
    run.quarantine.write(result.quarantined)
    # where history starts: only times the platform-open date bounds (a promotion may be planned before the opening)
    timed = spec.time_column is not None and spec.column(spec.time_column).in_platform_time
    first = accepted[spec.time_column].min() if timed and len(accepted) else pd.NaT
    if pd.notna(first):  # an all-null time column (no signup dates) says nothing about where history starts
        run.first_ts = first if run.first_ts is None else min(run.first_ts, first)


def _ingest_table(name: str, batch: SourceBatch, staged: DatasetPaths, ctx: dict[str, Any], bar: tqdm) -> _TableRun:
    spec = next((t for t in TABLES if t.name == name), None)
    run = _TableRun(name, staged, spec)
    pre_rejected = batch.rejected.get(name)
    if pre_rejected is not None:
        run.reject(pre_rejected)
    unknown = f"unknown table {name!r}; the contract has: {', '.join(TABLE_NAMES)}"
    if spec is None:
        logger.warning(unknown)
    empty = pd.DataFrame(columns=spec.column_names if spec else [])
    for chunk in iter_chunks(batch.tables.get(name, empty), ctx["chunk_rows"]):
        if chunk.rejected is not None:
            run.reject(chunk.rejected)
        if spec is None:
            run.reject(chunk.rows, [unknown] * len(chunk.rows))
        else:
            _validate_chunk(run, chunk.rows, ctx)
        bar.update(len(chunk.rows) + (0 if chunk.rejected is None else len(chunk.rejected)))
    if spec is not None and len(spec.primary_key) == 1:
        ctx["parent_keys"][(name, spec.primary_key[0])] = run.keys
    return run


def _previous_manifest(paths: DatasetPaths) -> dict[str, Any] | None:
    try:
        return json.loads((paths.lake / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _opening(batch: SourceBatch, previous: dict[str, Any] | None) -> tuple[pd.Timestamp, str]:
    """The source's own date, else the one an earlier ``--opened`` stored with the dataset, else the floor."""
    if batch.opened_at is not None:
        return pd.Timestamp(batch.opened_at), batch.opened_from
    same_origin = previous is not None and (previous.get("origin") or previous.get("dataset")) == batch.source_origin
    if same_origin and previous.get("opened_from") in ("--opened", "earlier --opened"):
        return pd.Timestamp(previous["opened_at"]), "earlier --opened"
    return HISTORY_FLOOR, "history floor (no --opened given)"


def _check_origin(batch: SourceBatch, previous: dict[str, Any] | None, replace: bool) -> None:
    before = None if previous is None else previous.get("origin") or previous.get("dataset")
    if before is not None and before != batch.source_origin and not replace:
        raise DatasetConflict(
            f"dataset {batch.name!r} holds data from {before}, not {batch.source_origin}: pass --replace to "
            "overwrite it, or --dataset OTHER_NAME to keep both"
        )


def _rejections(report: IngestReport, max_rejected: float) -> str | None:
    """One message naming each contract table over the threshold with its top reasons, or None."""
    over = [
        (name, r)
        for name, r in report.tables.items()
        if name in TABLE_NAMES and r.rows_in and r.quarantined / r.rows_in > max_rejected
    ]
    if not over:
        return None
    parts = []
    for name, r in over:
        top = "; ".join(f"{reason} ({n:,})" for reason, n in list(r.reasons.items())[:3])
        parts.append(
            f"table {name} rejected {r.quarantined:,} of {r.rows_in:,} rows ({r.quarantined / r.rows_in:.0%})"
            f" — top reasons: {top}"
        )
    return (
        f"ingest of dataset {report.dataset!r} refused, more than {max_rejected:.0%} of a table rejected "
        f"(SHOPSENSE_INGEST_MAX_REJECTED): {' | '.join(parts)}. The previous lake is unchanged; see the rejected "
        f"rows with `shopsense data quarantine --dataset {report.dataset}`"
    )


def ingest(
    batch: SourceBatch,
    paths: DatasetPaths,
    now: pd.Timestamp | None = None,
    progress: bool = True,
    *,
    chunk_rows: int | None = None,
    max_rejected: float | None = None,
    replace: bool = False,
) -> IngestReport:
    """Validate and write every table of ``batch`` under ``paths``; return the per-table report.

    Raises:
        DatasetConflict: the dataset holds another source's data and ``replace`` is False (nothing written).
        IngestRejected: a contract table rejected more than ``max_rejected`` of its rows; the previous lake is
            kept and this ingest's output goes to ``<dataset>/failed_ingest/``.
    """
    settings = get_settings()
    previous = _previous_manifest(paths)
    _check_origin(batch, previous, replace)
    opened_at, opened_from = _opening(batch, previous)
    ctx: dict[str, Any] = {
        "now": now if now is not None else pd.Timestamp.now(),
        "opened_at": opened_at,
        "parent_keys": {},
        "chunk_rows": chunk_rows or settings.ingest_chunk_rows,
    }
    names = [t.name for t in TABLES if t.name in batch.tables or t.name in batch.rejected]
    names += [n for n in batch.tables if n not in TABLE_NAMES]
    staged = stage(paths)
    try:
        runs: dict[str, _TableRun] = {}
        with tqdm(desc=f"ingest {batch.name}", unit=" rows", disable=not progress) as bar:
            for name in names:
                bar.set_postfix_str(name)
                runs[name] = _ingest_table(name, batch, staged, ctx, bar)
        for name, truth in batch.truth.items():
            write_frame(truth, staged.truth / f"{name}.parquet")
    except BaseException:
        discard(staged)
        raise
    report = _report(batch, paths, runs, opened_at, opened_from)
    _write_manifest(staged, batch, report)
    refusal = _rejections(report, settings.ingest_max_rejected if max_rejected is None else max_rejected)
    if refusal is not None:
        failed = keep_failed(staged, paths)
        report.lake_dir, report.quarantine_dir = str(failed / "lake"), str(failed / "quarantine")
        raise IngestRejected(refusal, report)
    publish(staged, paths)
    return report


def _report(
    batch: SourceBatch, paths: DatasetPaths, runs: dict[str, _TableRun], opened_at: pd.Timestamp, opened_from: str
) -> IngestReport:
    starts = [r.first_ts for r in runs.values() if r.first_ts is not None]
    return IngestReport(
        dataset=batch.name,
        lake_dir=str(paths.lake),
        quarantine_dir=str(paths.quarantine),
        tables={name: run.report() for name, run in runs.items()},
        opened_at=f"{opened_at:%Y-%m-%d}",
        opened_from=opened_from,
        history_start=f"{min(starts):%Y-%m-%d}" if starts else None,
        notices=_notices(batch, runs),
        ignored_files=dict(batch.lineage.get("ignored", {})),
    )


def _notices(batch: SourceBatch, runs: dict[str, _TableRun]) -> dict[str, dict[str, int]]:
    """Accepted rows worth a look (zero prices) and tables the source derived instead of reading (files)."""
    notices = {name: dict(run.notices) for name, run in runs.items() if run.notices}
    for name, why in batch.lineage.get("derived", {}).items():
        if name in runs:
            notices.setdefault(name, {})[why] = runs[name].report().accepted
    return notices


def _write_manifest(staged: DatasetPaths, batch: SourceBatch, report: IngestReport) -> None:
    manifest = {
        "dataset": batch.name,
        "origin": batch.source_origin,
        "opened_at": str(pd.Timestamp(report.opened_at)),
        "opened_from": report.opened_from,
        "history_start": report.history_start,
        "lineage": batch.lineage,
        "tables": {name: asdict(r) for name, r in report.tables.items()},
        "notices": report.notices,
    }
    (staged.lake / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str))


def read_manifest(paths: DatasetPaths) -> dict[str, Any]:
    """The manifest of the last ingest of a dataset (opened_at, origin, lineage, counts)."""
    require_dataset(paths)
    return json.loads((paths.lake / MANIFEST).read_text())


def read_table(paths: DatasetPaths, name: str) -> pd.DataFrame:
    """One accepted lake table as pandas (for small tables and tests; features read Parquet through Ibis)."""
    require_dataset(paths)
    path = paths.lake / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"table {name!r} is not in the lake at {paths.lake} (the source may not have it)")
    return pd.read_parquet(path)
