"""Declared features: every feature set names its entity, keys, as-of rule and a typed, described schema.

The declarations are the single source for the builder's output check, the Feast feature views and the docs,
so a feature cannot exist in one place and not the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import ibis.expr.types as ir
import pandas as pd

from features.engine import LakeTables

FeatureDType = Literal["float64", "int64", "string"]


@dataclass(frozen=True)
class Feature:
    """One feature: name, dtype, a one-line description, and the lake tables it needs beyond the set's own."""

    name: str
    dtype: FeatureDType
    description: str
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureSet:
    """A group of features computed together for one entity "as of" a cutoff.

    ``compute(lake, as_of)`` returns an Ibis table with ``keys`` and the available features, computed only from
    rows strictly before ``as_of``. Features whose ``needs`` a dataset lacks are left out, not faked.
    ``snapshot`` sets hold one row per entity per cutoff (an online lookup); a history set (``snapshot=False``,
    e.g. SKU x day) holds every day before the cutoff, so only its latest build is current.
    """

    name: str
    entity: str
    keys: tuple[str, ...]
    description: str
    requires: tuple[str, ...]
    features: tuple[Feature, ...]
    compute: Callable[[LakeTables, pd.Timestamp], ir.Table]
    snapshot: bool = True

    def available(self, lake: LakeTables) -> list[Feature]:
        """The features this dataset can support (all required and needed tables present)."""
        return [f for f in self.features if all(lake.has(t) for t in f.needs)]

    def project(self, table: ir.Table, lake: LakeTables, keys: dict[str, ir.Value] | None = None) -> ir.Table:
        """Exactly the keys and the available declared features, in declared order and dtype.

        Integer features are counts, so a missing value (no matching rows) is 0, not null. ``keys`` maps the key
        names to expressions when they are not plain columns of ``table``.
        """
        out: dict[str, ir.Value] = dict(keys) if keys is not None else {key: table[key] for key in self.keys}
        for feat in self.available(lake):
            value = table[feat.name]
            if feat.dtype == "int64":
                value = value.fill_null(0)
            out[feat.name] = value.cast(feat.dtype)
        return table.select(**out)

    def feature(self, name: str) -> Feature:
        for feat in self.features:
            if feat.name == name:
                return feat
        raise KeyError(f"feature set {self.name!r} has no feature {name!r}")

    def markdown(self) -> str:
        rows = [f"| {f.name} | {f.dtype} | {f.description} | {', '.join(f.needs)} |" for f in self.features]
        head = f"**{self.name}** (entity `{self.entity}`, keys {', '.join(self.keys)}): {self.description}\n\n"
        return head + "| feature | dtype | description | also needs |\n|---|---|---|---|\n" + "\n".join(rows)
