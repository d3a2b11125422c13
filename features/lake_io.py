"""Writing the lake chunk by chunk, into a staging folder that replaces the dataset's lake only on success.

Accepted rows go to one Parquet file per table through a writer with the contract's Arrow schema (so a chunk whose
column happens to be all null has the same schema as the others). Quarantined rows may differ in columns between
chunks (an adapter's unmapped rows, a reader's unparsable lines, validated rows), so each chunk is a part file and
the parts are merged at the end, streaming, under one unified schema.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract import Table
from features.settings import DatasetPaths

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "date": pa.timestamp("us"),
}
FAILED = "failed_ingest"
_STAGED = ("lake", "quarantine", "truth")


def arrow_schema(spec: Table) -> pa.Schema:
    """The Arrow schema of a contract table in the lake (timestamps in microseconds, as Parquet readers expect)."""
    return pa.schema([pa.field(col.name, _ARROW_TYPES[col.dtype], nullable=col.nullable) for col in spec.columns])


def _arrow(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    # safe=False truncates nanoseconds to microseconds, as the lake has always stored timestamps
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False, safe=False)


class TableWriter:
    """Append accepted chunks of one contract table to its Parquet file; an empty table still gets its file."""

    def __init__(self, spec: Table, path: Path) -> None:
        self.schema = arrow_schema(spec)
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if len(frame) == 0 and self._writer is not None:
            return
        table = _arrow(frame[self.schema.names], self.schema)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class QuarantineWriter:
    """Collect quarantined chunks as part files; ``close`` merges them into ``<table>.parquet`` (none if empty)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parts: list[Path] = []

    def write(self, frame: pd.DataFrame) -> None:
        if len(frame) == 0:
            return
        part = self.path.with_name(f".{self.path.stem}.part{len(self._parts):05d}.parquet")
        part.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_arrow(frame), part)
        self._parts.append(part)

    def close(self) -> None:
        if not self._parts:
            return
        if len(self._parts) == 1:
            self._parts[0].replace(self.path)
            return
        schemas = [pq.read_schema(p) for p in self._parts]
        schema = schemas[0]
        if not all(s.equals(schema, check_metadata=False) for s in schemas):
            # pandas metadata lists the first part's columns only: drop it rather than let it mislead readers
            schema = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
        with pq.ParquetWriter(self.path, schema) as writer:
            for part in self._parts:
                for batch in pq.ParquetFile(part).iter_batches():
                    writer.write_table(_conform(pa.Table.from_batches([batch]), schema))
                part.unlink()


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order; columns it lacks are nulls."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a whole small frame (ground truth) at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_arrow(frame), path)


def stage(paths: DatasetPaths) -> DatasetPaths:
    """A fresh staging folder inside the dataset's root, so the final swap is a rename on the same disk."""
    paths.root.mkdir(parents=True, exist_ok=True)
    staged = DatasetPaths(paths.name, Path(tempfile.mkdtemp(prefix=".ingest-", dir=paths.root)))
    for folder in (staged.lake, staged.quarantine, staged.truth):
        folder.mkdir()
    return staged


def publish(staged: DatasetPaths, paths: DatasetPaths) -> None:
    """Swap the staged lake, quarantine and truth in; drop features derived from the old lake and any failed try."""
    for sub in _STAGED:
        current, new = paths.root / sub, staged.root / sub
        if current.exists():
            current.rename(staged.root / f"old_{sub}")
        new.rename(current)
    for leftover in (paths.features, paths.root / FAILED, staged.root):
        shutil.rmtree(leftover, ignore_errors=True)


def keep_failed(staged: DatasetPaths, paths: DatasetPaths) -> Path:
    """Keep a refused ingest's output beside the untouched lake, so its quarantine can be inspected."""
    failed = paths.root / FAILED
    shutil.rmtree(failed, ignore_errors=True)
    staged.root.rename(failed)
    return failed


def discard(staged: DatasetPaths) -> None:
    shutil.rmtree(staged.root, ignore_errors=True)
