"""The one shape every source hands to the lake: contract tables plus what it could not map, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class SourceBatch:
    """Raw contract tables from one source, before validation.

    Attributes:
        name: dataset name; the lake writes under ``<data_dir>/<name>/``.
        tables: contract table name -> DataFrame with contract column names (dtypes may still be raw).
        rejected: contract table name -> source rows the adapter could not map at all, with a ``reason``
            column; the lake adds them to that table's quarantine so that rows in = accepted + quarantined.
        opened_at: the platform's opening; earlier timestamps are impossible and get quarantined.
        truth: ground-truth tables (synthetic world only) written to ``truth/``, never read by features.
        lineage: free-form provenance (source files, source row counts, parameters) saved in the manifest.
    """

    name: str
    tables: dict[str, pd.DataFrame]
    opened_at: pd.Timestamp
    rejected: dict[str, pd.DataFrame] = field(default_factory=dict)
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
