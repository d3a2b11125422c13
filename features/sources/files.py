"""A shop's own data: a directory of CSV or Parquet files, one per contract table, named after the table.

Files are read as they are (CSV as text) so the lake, not this reader, decides what is a wrong type, and they are
read in chunks so ingest memory follows the chunk size, not the file. Each row carries its file and line (the
record number, header = 1: the editor's line unless the file has blank lines or line breaks inside quotes) so a
rejection names file, row and column. A line that does not split into the header's columns is handed on as
rejected with its text instead of aborting the file. Only regular files are read: symbolic links and special
files are refused, so a folder cannot make ingest copy a file from elsewhere on the machine into the lake.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from features import columns as c
from features.sources.base import Chunk, ChunkedTable, SourceBatch, SourceError

logger = logging.getLogger(__name__)

SUFFIXES = (".csv", ".parquet")
_HINTS = {
    ".xlsx": "Excel workbooks are not read: save each sheet as <table>.csv (UTF-8)",
    ".xls": "Excel workbooks are not read: save each sheet as <table>.csv (UTF-8)",
    ".tsv": "tab-separated files are not read: save as <table>.csv",
}
_SAMPLE_BYTES = 1 << 20
_MIN_BLOCK = 1 << 20  # a read block must hold the longest line; no line of a shop's export is near a megabyte


def dataset_name_for(directory: Path) -> str:
    """A dataset name from a folder name (``Shop A export`` -> ``shop_a_export``), so two shops get two datasets."""
    name = re.sub(r"[^a-z0-9_-]+", "_", Path(directory).resolve().name.lower()).strip("_-")
    return name[:64] or "files"


def _unsafe(path: Path) -> str | None:
    """Why ``path`` must not be read, or None for a regular file."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return "is a symbolic link; copy the file itself into the folder"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a directory, pipe or device)"
    return None


def _open_regular(path: Path) -> BinaryIO:
    """Open without following a link and without blocking on a pipe, then insist on a regular file.

    The folder scan already refused such entries; this closes the gap of a file swapped between scan and read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise SourceError(f"{path.name}: cannot be opened ({err.strerror}); symbolic links are refused") from err
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SourceError(f"{path.name}: is not a regular file")
    return os.fdopen(fd, "rb")


def _header(fh: BinaryIO, path: Path) -> tuple[list[str], float]:
    """The header's column names and the mean bytes per line of the first megabyte (to size read blocks)."""
    sample = fh.read(_SAMPLE_BYTES)
    fh.seek(0)
    if not sample.strip():
        raise SourceError(f"{path.name}: is empty (a CSV needs a header line naming the columns)")
    if len(sample) == _SAMPLE_BYTES and b"\n" in sample:
        sample = sample[: sample.rfind(b"\n") + 1]  # whole lines only, so no character is cut in two
    try:
        text = sample.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SourceError(f"{path.name}: is not UTF-8 text; save it as CSV (UTF-8)") from err
    names = next(csv.reader(io.StringIO(text, newline="")))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SourceError(f"{path.name}: column(s) {', '.join(map(repr, repeated))} appear twice in the header")
    return names, len(sample) / max(sample.count(b"\n"), 1)


def _line_numbers(start: int, n: int, bad: list[int]) -> tuple[np.ndarray, int]:
    """Record numbers of ``n`` parsed rows from ``start`` on, skipping the records the parser rejected."""
    end, skipped = start + n, 0
    while True:
        inside = [b for b in bad if start <= b < end]
        if len(inside) == skipped:
            break
        skipped = len(inside)
        end = start + n + skipped
    return np.setdiff1d(np.arange(start, end), np.asarray(inside, dtype=np.int64)), end


class CsvTable(ChunkedTable):
    """A CSV read as text in blocks with pyarrow; ragged lines become rejected rows with their file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _reader(self, fh: BinaryIO, names: list[str], block: int, on_bad: Callable) -> pa_csv.CSVStreamingReader:
        return pa_csv.open_csv(
            fh,
            read_options=pa_csv.ReadOptions(block_size=block, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_bad),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True, null_values=[""]
            ),
        )

    def _rejected(self, bad: list[tuple[int, int, str]], expected: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                c.SOURCE_FILE: self.path.name,
                c.SOURCE_ROW: [b[0] for b in bad],
                c.RAW_LINE: [b[2] for b in bad],
                c.REASON: [f"parse: line has {b[1]} field(s), the header has {expected}" for b in bad],
            }
        )

    def chunks(self, rows: int) -> Iterator[Chunk]:
        with _open_regular(self.path) as fh:
            names, line_bytes = _header(fh, self.path)
            limit = max(rows, 10_000)
            pending: list[tuple[int, int, str]] = []  # unparsable lines not yet handed on

            def on_bad(row: pa_csv.InvalidRow) -> str:
                pending.append((row.number if row.number is not None else -1, row.actual_columns, row.text))
                return "skip" if len(pending) <= limit else "error"  # bounded: a file of only bad lines stops

            block = int(min(max(rows * line_bytes * 1.1, _MIN_BLOCK), 1 << 30))
            next_line, yielded = 2, False
            try:
                for batch in self._reader(fh, names, block, on_bad):
                    numbers, next_line = _line_numbers(next_line, batch.num_rows, [b[0] for b in pending])
                    done = [b for b in pending if b[0] < next_line]
                    pending[:] = pending[len(done) :]
                    frame = batch.to_pandas().assign(**{c.SOURCE_FILE: self.path.name, c.SOURCE_ROW: numbers})
                    for start in range(0, max(len(frame), 1), rows):
                        rejected = self._rejected(done, len(names)) if done else None
                        yield Chunk(frame.iloc[start : start + rows], rejected)
                        done, yielded = [], True
            except pa.ArrowInvalid as err:
                if len(pending) > limit:
                    raise SourceError(
                        f"{self.path.name}: over {limit:,} lines in a row do not split into the header's "
                        f"{len(names)} columns; is it a comma-separated UTF-8 file with that header?"
                    ) from err
                raise SourceError(f"{self.path.name}: cannot be read as a UTF-8 CSV ({err})") from err
            if pending or not yielded:  # header only, or ragged lines at the end: still hand on the columns
                rest = self._rejected(pending, len(names)) if pending else None
                yield Chunk(pd.DataFrame(columns=[*names, c.SOURCE_FILE, c.SOURCE_ROW]), rest)


class ParquetTable(ChunkedTable):
    """A Parquet file read batch by batch; rows are numbered from 0 (Parquet has no lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def chunks(self, rows: int) -> Iterator[Chunk]:
        with _open_regular(self.path) as fh:
            try:
                pf = pq.ParquetFile(fh)
            except pa.ArrowInvalid as err:
                raise SourceError(f"{self.path.name}: is not a readable Parquet file ({err})") from err
            start = 0
            for batch in pf.iter_batches(batch_size=rows):
                frame = batch.to_pandas()
                frame[c.SOURCE_FILE] = self.path.name
                frame[c.SOURCE_ROW] = np.arange(start, start + len(frame))
                start += len(frame)
                yield Chunk(frame)
            if start == 0:
                yield Chunk(pf.schema_arrow.empty_table().to_pandas().assign(**{c.SOURCE_FILE: "", c.SOURCE_ROW: 0}))


def _scan(directory: Path) -> tuple[dict[str, ChunkedTable], dict[str, object], dict[str, str]]:
    """Tables by name, per-file lineage and ignored files with the reason; refused files raise together."""
    tables: dict[str, ChunkedTable] = {}
    lineage: dict[str, object] = {}
    ignored: dict[str, str] = {}
    refused: list[str] = []
    for entry in sorted(directory.iterdir()):
        suffix = entry.suffix.lower()
        if entry.name.startswith("."):
            ignored[entry.name] = "hidden file"
            continue
        if suffix not in SUFFIXES:
            ignored[entry.name] = _HINTS.get(suffix, "not a .csv or .parquet file")
            continue
        problem = _unsafe(entry)
        if problem is not None:
            refused.append(f"{entry.name} {problem}")
            continue
        name = entry.stem.lower()  # Users.CSV is the users table: names are matched case-insensitively
        if name in tables:
            raise SourceError(f"table {name!r} is given twice in {directory} (file names differ only in case/suffix)")
        tables[name] = CsvTable(entry) if suffix == ".csv" else ParquetTable(entry)
        lineage[entry.name] = {"table": name, "bytes": entry.stat().st_size}
    if refused:
        raise SourceError(f"refusing to read from {directory}: {'; '.join(refused)}")
    return tables, lineage, ignored


#: Tables a shop may leave out because its orders name them: table -> (table naming it, id column, other values).
DERIVABLE: dict[str, tuple[str, str, dict[str, str]]] = {
    "users": ("orders", c.USER_ID, {}),
    "products": ("order_items", c.SKU_ID, {c.CATEGORY: "unknown"}),
}
_ID_SCAN_ROWS = 250_000


def derive_missing(tables: dict[str, ChunkedTable]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Users and products a shop did not export, one row per id its orders reference (nothing else is known).

    Why: an export of orders and order lines alone is common; without these rows every customer and SKU decision
    would refuse the dataset although the ids are all there. The rows carry no invented attributes (the
    category is ``unknown``, as for Online Retail), and the ingest summary says how many were derived.
    """
    derived: dict[str, pd.DataFrame] = {}
    why: dict[str, str] = {}
    for table, (parent, column, values) in DERIVABLE.items():
        if table in tables or parent not in tables:
            continue
        ids: set[str] = set()
        for chunk in tables[parent].chunks(_ID_SCAN_ROWS):
            if column in chunk.rows:
                ids.update(chunk.rows[column].dropna().astype(str))
        if ids:
            derived[table] = pd.DataFrame({column: sorted(ids), **values})
            why[table] = f"the row was derived from the {column} values in {parent} (no {table} file given)"
    return derived, why


def load(directory: Path, opened_at: pd.Timestamp | None = None, name: str | None = None) -> SourceBatch:
    """Scan ``directory`` for ``<table>.csv`` / ``<table>.parquet`` (any case); the lake reads them in chunks.

    A file whose name is not a contract table is still handed on, so the lake quarantines its rows with an
    "unknown table" reason instead of silently skipping it; other files are listed in the lineage as ignored.

    Args:
        directory: the shop's folder.
        opened_at: when the shop opened (``--opened``); None lets the lake use the dataset's stored date or the floor.
        name: dataset name; default from the folder name.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"--path {directory} is not a directory of <table>.csv / <table>.parquet files")
    root = directory.resolve()
    tables, files, ignored = _scan(root)
    if not tables:
        raise FileNotFoundError(f"no .csv or .parquet files in {directory}")
    for file, why in ignored.items():
        logger.warning("ignored %s: %s", file, why)
    derived, derived_why = derive_missing(tables)
    return SourceBatch(
        name=name or dataset_name_for(root),
        tables={**tables, **derived},
        opened_at=opened_at,
        lineage={"directory": str(root), "files": files, "ignored": ignored, "derived": derived_why},
        origin=f"files:{root}",
        opened_from="--opened" if opened_at is not None else "source",
    )
