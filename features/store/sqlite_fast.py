"""Fast path: read the rows Feast materialized into its SQLite online store, without the SDK's per-call work.

Why: ``store.get_online_features`` re-resolves the service, converts entity values to protos and builds a
response proto on every call; for one id that overhead exceeds the SQLite lookup itself. This module reads the
same table (``compute_table_id(project, view)``) with the same entity-key encoding (Feast's
``serialize_entity_key``) and decodes the same ``ValueProto`` blobs, falling back to Feast's own converter for
anything but plain scalars, so it returns what the SDK returns. It only reads; Feast still owns the schema and
writes (materialization). SQLite only: with Redis the reader uses the SDK.

Decoded values of named columns (the recommender's on-hand of its candidate SKUs) are kept between calls until the
database changes: SQLite's ``PRAGMA data_version`` moves whenever another connection (a materialization, in this or
another process) commits, and the kept values are then dropped, so a read never answers an older value than the
store holds.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from feast import FeatureStore
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import feast_value_type_to_python_type

from features.store.layout import ServiceLayout, ViewLayout

logger = logging.getLogger(__name__)

_SCALARS = frozenset({"double_val", "float_val", "int64_val", "int32_val", "string_val", "bool_val"})
_CHUNK = 500  # keys per query, well under SQLite's bound-parameter limit
_KEY_CACHE = 200_000  # encoded entity keys kept per process (~100 bytes each: ~20 MB at most)
_ABSENT: dict[str, Any] = {}  # the features of a key the store does not hold: all null
_VALUE_CACHE = 500_000  # decoded (view, key, feature) values of named columns kept (~150 bytes each), then dropped
_NO_ROW = object()  # cached: the store holds no row for this (key, feature)


def decode(blob: bytes) -> Any:
    """A stored ``ValueProto`` as the Python value the SDK returns (None when unset)."""
    value = ValueProto()
    value.ParseFromString(blob)
    kind = value.WhichOneof("val")
    if kind in _SCALARS:
        return getattr(value, kind)
    return feast_value_type_to_python_type(value)


def _key_value(kind: str, value: Any) -> ValueProto:
    return ValueProto(int64_val=value) if kind == "int64" else ValueProto(string_val=value)


class SqliteFastPath:
    """Read-only connection to Feast's SQLite online store, shared by the threads of one server process."""

    def __init__(self, db_path: Path, store: FeatureStore) -> None:
        if not db_path.exists():
            raise FileNotFoundError(f"no online store at {db_path}: run `shopsense features materialize` first")
        self._conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._store = store
        self._key_version = store.config.entity_key_serialization_version
        self._tables: dict[str, str] = {}
        self._values: dict[tuple[str, bytes, str], Any] = {}  # (view, key, feature) -> decoded value or _NO_ROW
        self._version: int | None = None  # PRAGMA data_version when ``_values`` was filled

    def _table(self, view: str) -> str:
        if view not in self._tables:
            versioning = self._store.config.registry.enable_online_feature_view_versioning
            table = compute_table_id(self._store.project, self._store.get_feature_view(view), versioning)
            self._tables[view] = '"' + table.replace('"', '""') + '"'
        return self._tables[view]

    def entity_key(self, view: ViewLayout, keys: dict[str, list[Any]], row: int) -> bytes:
        """The bytes Feast stored this row under (its own serializer, so the encodings cannot drift)."""
        values = tuple(keys[k][row] for k in view.join_keys)
        return self._encoded(tuple(view.join_keys), tuple(view.key_kinds), values)

    @functools.lru_cache(maxsize=_KEY_CACHE)  # noqa: B019 - one fast path per server process, kept for its life
    def _encoded(self, join_keys: tuple[str, ...], kinds: tuple[str, ...], values: tuple[Any, ...]) -> bytes:
        """Feast's serialization of one key, cached: building the proto and bytes cost ~10 us a key, 0.5 ms for
        the 50 candidate SKUs whose stock a recommendation reads, and the same keys come back request after request."""
        protos = [_key_value(kind, value) for kind, value in zip(kinds, values, strict=True)]
        proto = EntityKeyProto(join_keys=list(join_keys), entity_values=protos)
        return serialize_entity_key(proto, entity_key_serialization_version=self._key_version)

    def _fetch(
        self, view: str, blobs: list[bytes], features: Sequence[str] | None = None
    ) -> dict[bytes, dict[str, bytes]]:
        """Stored blobs per key and feature; ``features`` restricts the rows read (the table's primary key is
        (entity_key, feature_name), so SQLite reads only those rows). The caller holds the lock."""
        rows: dict[bytes, dict[str, bytes]] = {}
        table = self._table(view)
        only = f" AND feature_name IN ({','.join('?' * len(features))})" if features is not None else ""
        extra = list(features) if features is not None else []
        for start in range(0, len(blobs), _CHUNK):
            chunk = blobs[start : start + _CHUNK]
            sql = f"SELECT entity_key, feature_name, value FROM {table} WHERE entity_key IN ({','.join('?' * len(chunk))}){only}"
            for key, feature, value in self._conn.execute(sql, [*chunk, *extra]):
                rows.setdefault(key, {})[feature] = value
        return rows

    def _decoded(
        self, view: ViewLayout, blobs: list[bytes], wanted: Sequence[str] | None
    ) -> dict[bytes, dict[str, Any]]:
        """Decoded values per stored key (keys the store lacks left out) of ``wanted`` (None: the whole rows)."""
        unique = list(dict.fromkeys(blobs))
        if wanted is not None:
            return self._kept(view.name, unique, list(wanted))
        with self._lock:  # whole rows (an entity's feature vector, one per request): read each time
            fetched = self._fetch(view.name, unique, None)
        return {key: {f: decode(v) for f, v in row.items()} for key, row in fetched.items()}

    def _kept(self, view: str, keys: list[bytes], features: list[str]) -> dict[bytes, dict[str, Any]]:
        """:meth:`_decoded` of named columns, kept between calls until the database changes.

        Why: a recommendation reads the on-hand of its ~50 candidate SKUs on every request, the same SKUs request
        after request; the query and the protobuf decoding cost more than the ranking's other steps. Whole-row
        reads are not kept: one entity's row per request, over millions of users, would fill memory for few hits.
        """
        values = self._values
        with self._lock:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version or len(values) > _VALUE_CACHE:  # the store changed (or the cache is full)
                values.clear()
                self._version = version
            unread = [k for k in keys if any((view, k, f) not in values for f in features)]
            if unread:
                fetched = self._fetch(view, unread, features)
                for key in unread:
                    row = fetched.get(key, _ABSENT)
                    for f in features:
                        values[(view, key, f)] = decode(row[f]) if f in row else _NO_ROW
            out = {}
            for key in keys:
                row = {f: v for f in features if (v := values[(view, key, f)]) is not _NO_ROW}
                if row:
                    out[key] = row
        return out

    def read(
        self, layout: ServiceLayout, keys: dict[str, list[Any]], n: int, columns: Collection[str] | None = None
    ) -> tuple[dict[str, list[Any]], dict[str, list[bool]]]:
        """Values per output column and, per view, whether each row's key was found.

        ``columns``: only these output columns are read and decoded (a caller wanting one value of a wide view,
        e.g. on-hand of the SKU view, skips decoding the rest); None reads every column. Materialization writes a
        row for every feature of a key, so one feature's row says whether the key is stored: a view none of whose
        columns is asked is read for its first feature alone, to fill ``found``.
        """
        values: dict[str, list[Any]] = {}
        found: dict[str, list[bool]] = {}
        for view in layout.views:
            pairs = [
                (f, col)
                for f, col in zip(view.features, view.columns, strict=True)
                if columns is None or col in columns
            ]
            wanted = None if columns is None else [f for f, _ in pairs] or list(view.features[:1])
            blobs = [self.entity_key(view, keys, i) for i in range(n)]
            stored = self._decoded(view, blobs, wanted)
            found[view.name] = [blob in stored for blob in blobs]
            per_row = [stored.get(blob, _ABSENT) for blob in blobs]
            for feature, column in pairs:
                values[column] = [row.get(feature) for row in per_row]
        return values, found

    def close(self) -> None:
        self._conn.close()
