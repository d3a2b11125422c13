"""Reading and exporting quarantined rows: what a refused or finished ingest rejected, and why.

An export is opened by people in spreadsheets, and quarantined values are by definition untrusted input, so cells
that a spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``, tab or carriage return) are
prefixed with an apostrophe, as OWASP advises for CSV injection; plain numbers such as ``-3`` are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.lake import MANIFEST, require_dataset
from features.lake_io import FAILED
from features.settings import DatasetPaths

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def quarantine_folder(paths: DatasetPaths) -> tuple[Path, bool]:
    """The quarantine to show: a refused ingest's (newer than the lake it left alone) or the lake's own.

    Returns the folder and whether it belongs to a refused ingest.
    """
    failed = paths.root / FAILED
    if (failed / "lake" / MANIFEST).exists():
        return failed / "quarantine", True
    require_dataset(paths)
    return paths.quarantine, False


def quarantine_tables(folder: Path) -> list[Path]:
    """Quarantine files by table, skipping merge leftovers (hidden part files)."""
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")) if folder.exists() else []


def neutralise(value: object) -> object:
    """A cell a spreadsheet will show, never run: formula-like strings get a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def preview(path: Path, limit: int) -> tuple[int, pd.DataFrame]:
    """How many rows a quarantine table has and its first ``limit`` rows, without loading the whole file."""
    pf = pq.ParquetFile(path)
    first = next(pf.iter_batches(batch_size=max(limit, 1)), None)
    frame = first.to_pandas().head(limit) if first is not None else pf.schema_arrow.empty_table().to_pandas()
    return pf.metadata.num_rows, frame


def _batches(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        yield batch.to_pandas()


def export_csv(path: Path, out: Path, rows: int = 50_000) -> int:
    """Write one quarantine table to CSV in batches with formula-like cells neutralised; return the row count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with out.open("w", encoding="utf-8", newline="") as fh:
        for frame in _batches(path, rows):
            safe = frame.astype(object).map(neutralise)
            safe.columns = [neutralise(str(name)) for name in safe.columns]
            safe.to_csv(fh, index=False, header=written == 0)
            written += len(frame)
    return written
