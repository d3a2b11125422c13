"""A shop's own data: a directory of CSV or Parquet files, one per contract table, named after the table.

Files are read as they are (CSV as text) so the lake, not this reader, decides what is a wrong type; each row
carries its file and line so a rejection names file, row and column.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features import columns as c
from features.sources.base import SourceBatch

logger = logging.getLogger(__name__)

DEFAULT_OPENED_AT = pd.Timestamp("2000-01-01")
SUFFIXES = (".csv", ".parquet")


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        first_line = 2  # line 1 is the header, so data line numbers match what an editor shows
    else:
        frame = pd.read_parquet(path)
        first_line = 0
    frame[c.SOURCE_FILE] = path.name
    frame[c.SOURCE_ROW] = range(first_line, first_line + len(frame))
    return frame


def load(directory: Path, opened_at: pd.Timestamp | None = None) -> SourceBatch:
    """Read every ``<table>.csv`` / ``<table>.parquet`` in ``directory``.

    A file whose name is not a contract table is still read and handed on, so the lake quarantines its rows with
    an "unknown table" reason instead of silently skipping it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"--path {directory} is not a directory of <table>.csv / <table>.parquet files")
    files = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no .csv or .parquet files in {directory}")
    tables: dict[str, pd.DataFrame] = {}
    for path in files:
        if path.stem in tables:
            raise ValueError(f"table {path.stem!r} is given twice in {directory} (both .csv and .parquet)")
        tables[path.stem] = _read(path)
        logger.info("read %s: %d rows", path.name, len(tables[path.stem]))
    return SourceBatch(
        name="files",
        tables=tables,
        opened_at=opened_at if opened_at is not None else DEFAULT_OPENED_AT,
        lineage={
            "directory": str(directory.resolve()),
            "files": {p.name: len(tables[p.stem]) for p in files},
        },
    )
