"""Append-only column store for the day loop: per-day arrays in lists, concatenated once at the end."""

from __future__ import annotations

from collections import defaultdict

import numpy as np


class Ledger:
    """Collects column arrays per record kind (orders, lines, events ...) without per-row Python work."""

    def __init__(self) -> None:
        self._parts: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, table: str, /, **columns: np.ndarray) -> None:
        """Append equally long column arrays to ``table``."""
        lengths = {len(col) for col in columns.values()}
        if len(lengths) != 1:
            raise ValueError(f"{table}: columns of unequal length {lengths}")
        n = lengths.pop()
        if n == 0:
            return
        for name, col in columns.items():
            self._parts[table][name].append(_compact(np.asarray(col)))
        self._counts[table] += n

    def next_ids(self, table: str, n: int) -> np.ndarray:
        """Internal running ids for ``n`` records about to be added to ``table``."""
        return np.arange(self._counts[table], self._counts[table] + n, dtype=np.int64)

    def count(self, table: str) -> int:
        return self._counts[table]

    def columns(self, table: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """The columns of ``table`` as single arrays (concatenated once, then kept in that form).

        Args:
            names: columns to return as empty arrays when nothing was ever added to ``table``.
        """
        parts = self._parts.get(table)
        if not parts:
            return {name: np.empty(0, dtype=np.int64) for name in names or []}
        for name, chunks in parts.items():
            if len(chunks) > 1:
                parts[name] = [np.concatenate(chunks)]
        return {name: chunks[0] for name, chunks in parts.items()}

    def drop(self, table: str) -> None:
        """Free a table's arrays once they have been turned into a DataFrame."""
        self._parts.pop(table, None)


def _compact(col: np.ndarray) -> np.ndarray:
    """Store 64-bit integers as 32-bit: ids, counts and seconds since the start all fit, at half the memory."""
    if col.dtype == np.int64:
        return col.astype(np.int32)
    return col
