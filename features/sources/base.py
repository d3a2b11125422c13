"""The one shape every source hands to the lake: contract tables plus what it could not map, and why."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# Earliest history any dataset may have when it does not say when its platform opened: older timestamps are almost
# always placeholders (epoch zero, Excel's 1900), while real shops' histories reach back into the 1990s.
HISTORY_FLOOR = pd.Timestamp("1970-01-01")


class SourceError(ValueError):
    """A source cannot be read as given (a refused or unreadable file); the message names the file and the fix."""


@dataclass
class Chunk:
    """Up to ``rows`` raw rows of one table, plus source lines the reader could not even split into columns."""

    rows: pd.DataFrame
    rejected: pd.DataFrame | None = None


class ChunkedTable(ABC):
    """A table read lazily in chunks, so ingest memory follows the chunk size and not the file size."""

    @abstractmethod
    def chunks(self, rows: int) -> Iterator[Chunk]:
        """Yield the table in chunks of at most ``rows`` rows, in source order."""


def iter_chunks(table: pd.DataFrame | ChunkedTable, rows: int) -> Iterator[Chunk]:
    """Chunks of an in-memory frame (row slices) or of a lazy table, the same way for the lake."""
    if isinstance(table, ChunkedTable):
        yield from table.chunks(rows)
        return
    if len(table) == 0:
        yield Chunk(table)
        return
    for start in range(0, len(table), rows):
        yield Chunk(table.iloc[start : start + rows])


@dataclass
class SourceBatch:
    """Raw contract tables from one source, before validation.

    Attributes:
        name: dataset name; the lake writes under ``<data_dir>/<name>/``.
        tables: contract table name -> DataFrame with contract column names (dtypes may still be raw), or a
            :class:`ChunkedTable` that the lake reads chunk by chunk.
        opened_at: the platform's opening; earlier timestamps are impossible and get quarantined. ``None`` means
            the source does not know: the lake uses the date stored with the dataset by an earlier
            ``--opened``, else :data:`HISTORY_FLOOR`.
        rejected: contract table name -> source rows the adapter could not map at all, with a ``reason``
            column; the lake adds them to that table's quarantine so that rows in = accepted + quarantined.
        truth: ground-truth tables (synthetic world only) written to ``truth/``, never read by features.
        lineage: free-form provenance (source files, source row counts, parameters) saved in the manifest.
        origin: what the data came from (``files:/abs/folder``); an ingest refuses to overwrite a dataset of
            another origin unless told to replace it. Empty means the dataset name is the origin.
        opened_from: why ``opened_at`` has its value (shown in the manifest and the ingest summary).
    """

    name: str
    tables: dict[str, pd.DataFrame | ChunkedTable]
    opened_at: pd.Timestamp | None
    rejected: dict[str, pd.DataFrame] = field(default_factory=dict)
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    origin: str = ""
    opened_from: str = "source"

    @property
    def source_origin(self) -> str:
        """The origin, defaulting to the dataset name (the adapters name their dataset after themselves)."""
        return self.origin or self.name
