"""From internal arrays to contract-typed DataFrames: string ids, timestamps, nullable types.

Internally every entity is an integer and every time is integer seconds since the start of the window (-1 when
missing); strings and datetimes are made here, once, with vectorised operations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import pandas_dtype, table

MISSING = -1


ID_CHUNK = 1 << 20


def make_ids(prefix: str, n: int) -> np.ndarray:
    """``n`` zero-padded ids (``U000001`` ...) as an object array; padding keeps them sortable.

    Built in chunks so the fixed-width unicode intermediates stay small next to the Python strings.
    """
    width = max(6, len(str(n)))
    out = np.empty(n, dtype=object)
    for lo in range(0, n, ID_CHUNK):
        nums = np.arange(lo + 1, min(lo + ID_CHUNK, n) + 1).astype(f"U{width}")
        out[lo : lo + len(nums)] = np.strings.add(prefix, np.strings.zfill(nums, width))
    return out


def lookup(ids: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Ids for internal indices, ``None`` where the index is MISSING (shares the id objects, no copies)."""
    idx = np.asarray(idx)
    out = ids[np.maximum(idx, 0)]
    if (idx < 0).any():
        out = out.copy()
        out[idx < 0] = None
    return out


def rank_ids(prefix: str, keys: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Ids assigned in sort order of ``keys`` (last key primary, as in ``np.lexsort``).

    Returns:
        (ids per internal index, the sort order) so callers can emit rows in id order.
    """
    order = np.lexsort(keys)
    ids = np.empty(len(order), dtype=object)
    ids[order] = make_ids(prefix, len(order))
    return ids, order


def timestamps(start_ns: int, seconds: np.ndarray) -> np.ndarray:
    """datetime64[ns] from seconds since the start; MISSING becomes NaT."""
    seconds = np.asarray(seconds, dtype=np.int64)
    out = (start_ns + seconds * 1_000_000_000).astype("datetime64[ns]")
    out[seconds < 0] = np.datetime64("NaT")
    return out


def to_contract(
    name: str, columns: dict[str, np.ndarray], start_ns: int, order: np.ndarray | None = None
) -> pd.DataFrame:
    """A DataFrame of contract table ``name`` with exactly its columns, in order, with contract dtypes.

    Timestamp and date columns are given as seconds since the start (MISSING for null); nullable ints use
    MISSING for null; string columns are object arrays with ``None`` for null.
    """
    spec = table(name)
    data: dict[str, object] = {}
    for col in spec.columns:
        values = np.asarray(columns[col.name])
        if order is not None:
            values = values[order]
        dtype = pandas_dtype(col)
        if col.dtype in ("timestamp", "date"):
            data[col.name] = timestamps(start_ns, values)
        elif dtype == "Int64":
            data[col.name] = pd.array(np.where(values == MISSING, 0, values), dtype="Int64")
            data[col.name][values == MISSING] = pd.NA
        elif dtype == "object":
            data[col.name] = values.astype(object, copy=False)
        else:
            data[col.name] = values.astype(dtype, copy=False)
    return pd.DataFrame(data, copy=False)
