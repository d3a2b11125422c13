"""Feast objects generated from the FeatureSet declarations and the combined Parquet files that were built.

Nothing here lists a feature by hand: a view's schema is the declared features that are actually present in its
Parquet file (a dataset without reviews has no review columns, so none are declared), in declared order, with the
declared dtype and description. A feature set gets a view only once its combined Parquet exists, so the sets
other engineers add appear here without an edit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, PrimitiveFeastType, String

from features import columns as c
from features import registry
from features.build import combined_path
from features.settings import DatasetPaths
from features.spec import Feature, FeatureSet
from features.store.services import FEATURE_SERVICES, SNAPSHOT_SETS, VIEW_TTL

logger = logging.getLogger(__name__)

FEAST_DTYPES: dict[str, PrimitiveFeastType] = {"float64": Float64, "int64": Int64, "string": String}


@dataclass(frozen=True)
class ViewSpec:
    """One snapshot feature set as a Feast view: its file, join keys (with types) and present features."""

    feature_set: FeatureSet
    path: Path
    key_types: dict[str, str]  # join key -> "string" | "int64", read from the Parquet schema
    features: tuple[Feature, ...]

    @property
    def name(self) -> str:
        return self.feature_set.name

    @property
    def keys(self) -> tuple[str, ...]:
        return self.feature_set.keys


def _key_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "int64"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    raise TypeError(f"join keys must be strings or integers, not {arrow_type}")


def view_spec(paths: DatasetPaths, feature_set: FeatureSet) -> ViewSpec | None:
    """The view for ``feature_set`` if its combined Parquet exists, else None."""
    path = combined_path(paths, feature_set)
    if not path.exists():
        return None
    schema = pq.read_schema(path)
    present = set(schema.names)
    missing_keys = [k for k in (*feature_set.keys, c.AS_OF) if k not in present]
    if missing_keys:
        raise ValueError(f"{path} lacks column(s) {missing_keys} that every feature file must have")
    features = tuple(f for f in feature_set.features if f.name in present)
    if not features:
        logger.warning("%s holds none of the declared %s features; no view", path, feature_set.name)
        return None
    undeclared = present - {f.name for f in features} - {*feature_set.keys, c.AS_OF}
    if undeclared:
        logger.warning("%s: ignoring undeclared column(s) %s", path, sorted(undeclared))
    key_types = {k: _key_type(schema.field(k).type) for k in feature_set.keys}
    return ViewSpec(feature_set, path.resolve(), key_types, features)


def discover(paths: DatasetPaths) -> list[ViewSpec]:
    """Views for every snapshot feature set that has been built for this dataset."""
    specs = []
    for name in SNAPSHOT_SETS:
        try:
            feature_set = registry.get(name)
        except ImportError:  # the module defining this set is not written yet: nothing can have been built
            logger.debug("feature set %s is not defined yet", name)
            continue
        spec = view_spec(paths, feature_set)
        if spec is not None:
            specs.append(spec)
    return specs


def entity_names(spec: ViewSpec) -> dict[str, str]:
    """Join key -> Feast entity name for one view.

    Feast entities have exactly one join key. A single-key set uses its declared entity (``reviewer`` joins on
    user_id); a multi-key set (interactions: user_id, sku_id) uses one entity per key, named after the key.
    """
    if len(spec.keys) == 1:
        return {spec.keys[0]: spec.feature_set.entity}
    return {key: key.removesuffix("_id") for key in spec.keys}


def _entities(specs: list[ViewSpec]) -> dict[str, Entity]:
    join_keys: dict[str, tuple[str, str]] = {}  # entity name -> (join key, key type)
    for spec in specs:
        for key, name in entity_names(spec).items():
            seen = join_keys.setdefault(name, (key, spec.key_types[key]))
            if seen != (key, spec.key_types[key]):
                raise ValueError(f"entity {name!r} joins on {seen} in one view and {key!r} in {spec.name!r}")
    value_types = {"string": ValueType.STRING, "int64": ValueType.INT64}
    return {
        name: Entity(name=name, join_keys=[key], value_type=value_types[kind], description=f"Keyed by {key}.")
        for name, (key, kind) in join_keys.items()
    }


def _view(spec: ViewSpec, entities: dict[str, Entity]) -> tuple[FileSource, FeatureView]:
    source = FileSource(
        name=f"{spec.name}_source",
        path=str(spec.path),
        timestamp_field=c.AS_OF,
        description=f"All built cutoffs of the {spec.name} features, one row per key per as_of.",
    )
    schema = [Field(name=key, dtype=FEAST_DTYPES[spec.key_types[key]]) for key in spec.keys]
    schema += [Field(name=f.name, dtype=FEAST_DTYPES[f.dtype], description=f.description) for f in spec.features]
    view = FeatureView(
        name=spec.name,
        entities=[entities[name] for name in entity_names(spec).values()],
        schema=schema,
        source=source,
        ttl=VIEW_TTL,
        online=True,
        description=spec.feature_set.description,
        tags={"feature_set": spec.name, "keys": ",".join(spec.keys)},
    )
    return source, view


def definitions(specs: list[ViewSpec]) -> list[Any]:
    """Entities, sources, views and every feature service whose views all exist, ready for ``store.apply``."""
    entities = _entities(specs)
    views: dict[str, FeatureView] = {}
    objects: list[Any] = list(entities.values())
    for spec in specs:
        source, view = _view(spec, entities)
        views[spec.name] = view
        objects += [source, view]
    for service, names in FEATURE_SERVICES.items():
        missing = [n for n in names if n not in views]
        if missing:
            logger.info("feature service %s skipped: no %s features built", service, ", ".join(missing))
            continue
        objects.append(
            FeatureService(name=service, features=[views[n] for n in names], description=f"Views: {', '.join(names)}.")
        )
    return objects
