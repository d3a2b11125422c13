"""Helpers shared by the public-dataset adapters: contract-shaped frames, typed nulls, ids, checksums.

The adapters map very different files into the same contract; keeping the "make it look like the contract"
part here means both emit the same column order and dtypes, and the lake sees no adapter-specific quirks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features import columns as c
from features.contract import Column, pandas_dtype, table

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Checksum of a source file, so a manifest says exactly which bytes the lake was built from."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def parquet_rows(path: Path) -> int:
    """Row count from the Parquet footer (no data read)."""
    return int(pq.ParquetFile(path).metadata.num_rows)


def file_lineage(path: Path) -> dict[str, object]:
    """Path, checksum and row count of one source file."""
    return {"path": str(path.resolve()), "sha256": file_sha256(path), "rows": parquet_rows(path)}


def require_file(path: Path) -> Path:
    """Fail early with the path in the message, so a missing download is obvious (the CLI prints it)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: point SHOPSENSE_SHARED_DATA (or --path) at the folder with the public datasets"
        )
    return path


def id_strings(values: pd.Series) -> pd.Series:
    """Integer-valued ids (possibly float because of nulls) as strings like "17850"; missing stays None."""
    text = values.astype("Int64").astype("string")
    return text.astype(object).where(text.notna(), None)


def typed_null(col: Column, index: pd.Index) -> pd.Series:
    """An all-null column in the dtype the contract gives it, so an unknown value is never a fake one."""
    dtype = pandas_dtype(col)
    if dtype == "object":
        return pd.Series([None] * len(index), index=index, dtype=object)
    return pd.Series(pd.NA if dtype in ("Int64", "boolean") else None, index=index, dtype=dtype)


def _as_contract_dtype(col: Column, values: pd.Series) -> pd.Series:
    dtype = pandas_dtype(col)
    if dtype == "object":
        return values.astype(object).where(values.notna(), None)
    return values.astype(dtype)


def contract_frame(name: str, data: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """``data`` reduced to contract table ``name``: its columns in contract order, typed nulls where unknown.

    ``extra`` columns (``source_row``, ``reason``) are kept after the contract columns when present.
    """
    spec = table(name)
    out = pd.DataFrame(index=data.index)
    for col in spec.columns:
        out[col.name] = _as_contract_dtype(col, data[col.name]) if col.name in data else typed_null(col, data.index)
    for name_ in extra:
        if name_ in data:
            out[name_] = data[name_]
    return out.reset_index(drop=True)


def rejected_frame(name: str, data: pd.DataFrame, reason: str | pd.Series) -> pd.DataFrame:
    """Rows the adapter could not map, in the shape of table ``name`` plus ``source_row`` and ``reason``."""
    data = data.assign(**{c.REASON: reason})
    return contract_frame(name, data, extra=(c.SOURCE_ROW, c.REASON))


def end_of_period(next_start: pd.Series) -> pd.Series:
    """The last moment before ``next_start`` (1 µs earlier, the resolution the lake stores)."""
    return next_start - pd.Timedelta(1, "us")
