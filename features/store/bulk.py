"""Bulk materialization: the rows to serve, selected in DuckDB and written straight into Feast's SQLite table.

Why not ``store.materialize``: Feast's SQLite writer turns every value into a proto and upserts one row per feature
per key from a Python loop (about five minutes for the default world's million keys). Here the selection (latest
row per key as of ``end``, and for views in :data:`~features.store.services.ONLINE_LIMITS` only each user's
strongest N rows) is one DuckDB query over the view's Parquet; values are encoded column by column with Feast's own
protobuf messages (numbers once per distinct value, doubles as one NumPy buffer); and each view is replaced with
one ``executemany`` in one transaction, sorted by primary key so SQLite appends to its B-trees. The table itself
is created by Feast (``store.apply``), keys follow Feast's serializer (``serialize_entity_key``, version 3), and
``tests/unit/test_feature_store.py`` checks the bytes equal what ``store.materialize`` writes, so the SDK and the
fast reader read it unchanged. Any configuration this writer does not reproduce (vector search, value_num
columns, other key versions) goes through the SDK instead (:func:`supported`).
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from feast import FeatureStore
from feast.infra.key_encoding_utils import serialize_entity_key_prefix
from feast.infra.online_stores.helpers import compute_table_id
from feast.infra.online_stores.sqlite import adapt_datetime_epoch
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.protos.feast.types.Value_pb2 import ValueType
from feast.utils import to_naive_utc

from features import columns as c
from features.store.definitions import ViewSpec
from features.store.services import OnlineLimit

_KEY_VERSION = 3  # the only entity-key encoding reproduced here
_DOUBLE_TAG = ValueProto(double_val=1.0).SerializeToString()[:-8]  # the field tag protobuf writes before 8 bytes
_COLUMNS = "entity_key, feature_name, value, value_text, event_ts, created_ts"  # Feast's insert, in its order


def supported(store: FeatureStore) -> bool:
    """Whether the online store is SQLite configured the way this writer reproduces byte for byte."""
    online = store.config.online_store
    return (
        online.type == "sqlite"
        and not getattr(online, "vector_enabled", False)
        and not getattr(online, "enable_openai_compatible_store", False)
        and store.config.entity_key_serialization_version == _KEY_VERSION
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _stamp(value: datetime) -> str:
    return f"TIMESTAMP {_text(value.isoformat(sep=' '))}"


def select_rows(spec: ViewSpec, start: datetime, end: datetime, limit: OnlineLimit | None, top_n: int) -> pa.Table:
    """The rows to put online: per key the newest ``as_of`` in ``[start, end]`` (Feast's materialize window).

    With a ``limit`` and ``top_n > 0``, only each ``limit.per`` key's ``top_n`` rows with the largest ``limit.by``
    are kept (ties broken by the other keys, so the choice is deterministic).
    """
    keys = ", ".join(_quote(k) for k in spec.keys)
    sql = (
        f"SELECT * FROM read_parquet({_text(str(spec.path))}) "
        f"WHERE {_quote(c.AS_OF)} BETWEEN {_stamp(start)} AND {_stamp(end)} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {_quote(c.AS_OF)} DESC) = 1"
    )
    if limit is not None and top_n > 0:
        rest = ", ".join(_quote(k) for k in spec.keys if k != limit.per)
        sql = (
            f"SELECT * FROM ({sql}) QUALIFY row_number() OVER "
            f"(PARTITION BY {_quote(limit.per)} ORDER BY {_quote(limit.by)} DESC NULLS LAST, {rest}) <= {int(top_n)}"
        )
    with quiet_duckdb() as con:
        return con.sql(sql).to_arrow_table()  # a relation, not a DB-API result: no extra copy


def count_keys(spec: ViewSpec, start: datetime, end: datetime) -> int:
    """How many keys have a row in ``[start, end]``: what :func:`select_rows` would return without a limit."""
    keys = ", ".join(_quote(k) for k in spec.keys)
    sql = (
        f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM read_parquet({_text(str(spec.path))}) "
        f"WHERE {_quote(c.AS_OF)} BETWEEN {_stamp(start)} AND {_stamp(end)})"
    )
    with quiet_duckdb() as con:
        return int(con.execute(sql).fetchone()[0])


def quiet_duckdb() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection without the progress bar where the process lets us switch it off.

    In some processes (seen under pytest after other DuckDB use) the option is fixed globally and ``SET`` raises;
    the query is the same either way, so that is not an error.
    """
    con = duckdb.connect()
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")
    return con


def entity_keys(spec: ViewSpec, table: pa.Table) -> list[bytes]:
    """Feast's ``serialize_entity_key`` (v3) for every row: the keys' names, then each value, in sorted key order."""
    names = sorted(spec.keys)
    prefix = serialize_entity_key_prefix(names, entity_key_serialization_version=_KEY_VERSION)
    parts = []
    for name in names:
        values = table.column(name).to_pylist()
        if spec.key_types[name] == "int64":
            parts.append([struct.pack("<IIq", ValueType.INT64, 8, v) for v in values])
        else:
            encoded = [v.encode("utf8") for v in values]
            parts.append([struct.pack("<II", ValueType.STRING, len(b)) + b for b in encoded])
    if len(parts) == 1:
        return [prefix + p for p in parts[0]]
    return [prefix + b"".join(row) for row in zip(*parts, strict=True)]


def _doubles(column: pa.ChunkedArray) -> tuple[list[bytes], list[str | None]]:
    values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    n = len(values)
    buffer = np.empty((n, 9), dtype=np.uint8)
    buffer[:, 0] = _DOUBLE_TAG[0]
    buffer[:, 1:] = values.astype("<f8").view(np.uint8).reshape(n, 8)
    raw = buffer.tobytes()
    blobs = [raw[i : i + 9] for i in range(0, 9 * n, 9)]
    texts: list[str | None] = list(map(str, values.tolist()))
    for i in np.flatnonzero(np.isnan(values)).tolist():  # Feast stores a null (or NaN) as an empty Value
        blobs[i], texts[i] = b"", None
    return blobs, texts


def _by_distinct(values: list[Any], field: str) -> tuple[list[bytes], list[str | None]]:
    """Ints and strings repeat a lot: serialize each distinct value once with Feast's own message."""
    cache: dict[Any, tuple[bytes, str | None]] = {None: (b"", None)}
    for value in set(values) - {None}:
        cache[value] = (ValueProto(**{field: value}).SerializeToString(), str(value))
    pairs = [cache[v] for v in values]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def encode(column: pa.ChunkedArray, dtype: str) -> tuple[list[bytes], list[str | None]]:
    """Stored ``value`` blobs and ``value_text`` of one feature column, as Feast's SQLite writer stores them."""
    if dtype == "float64":
        return _doubles(column)
    if dtype == "int64":
        return _by_distinct(column.to_pylist(), "int64_val")
    return _by_distinct(column.to_pylist(), "string_val")


def event_seconds(table: pa.Table) -> list[int]:
    """``event_ts`` as Feast stores it: the naive-UTC ``as_of`` through its registered SQLite datetime adapter."""
    stamps = table.column(c.AS_OF).to_pylist()
    seconds = {s: adapt_datetime_epoch(to_naive_utc(s.replace(tzinfo=UTC))) for s in set(stamps)}
    return [seconds[s] for s in stamps]


def _rows(spec: ViewSpec, table: pa.Table) -> Iterator[tuple[Any, ...]]:
    """Rows ordered by (entity_key, feature_name), the table's primary key.

    Built column by column: the table is put in key order once, each column is encoded, and the flat columns
    (one entry per key and feature) are filled by strided slice assignment and zipped, so no Python loop runs
    per SQLite row (millions of rows for the default world).
    """
    keys = entity_keys(spec, table)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    keys = [keys[i] for i in order]
    table = table.take(pa.array(order, type=pa.int64()))
    features = sorted(spec.features, key=lambda f: f.name)
    width, total = len(features), len(keys) * len(features)
    flat_keys: list[Any] = [None] * total
    flat_stamps: list[Any] = [None] * total
    flat_blobs: list[Any] = [None] * total
    flat_texts: list[Any] = [None] * total
    stamps = event_seconds(table)
    for j, feature in enumerate(features):
        flat_keys[j::width], flat_stamps[j::width] = keys, stamps
        flat_blobs[j::width], flat_texts[j::width] = encode(table.column(feature.name), feature.dtype)
    names = [f.name for f in features] * len(keys)
    return zip(flat_keys, names, flat_blobs, flat_texts, flat_stamps, itertools.repeat(None, total), strict=True)


def write_view(store: FeatureStore, db_path: str, spec: ViewSpec, table: pa.Table) -> int:
    """Replace the view's online rows with ``table``'s in one transaction; returns the keys written.

    SQLite's cost here is per row (three B-trees: the rows, the primary key, Feast's ``entity_key`` index), about
    4 µs. Feast's extra index is dropped for the load and re-created from its own stored SQL in the same
    transaction: built once from sorted keys it costs less than kept up row by row, and comes out packed.
    """
    table_id = compute_table_id(store.project, store.get_feature_view(spec.name), _versioning(store))
    name = _quote(table_id)
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # one rebuild from files that still exist: durability is not needed
        conn.execute("PRAGMA cache_size=-131072")  # 128 MiB of page cache for this connection's one big write
        with conn:
            indexes = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                [table_id],
            ).fetchall()
            conn.execute(f"DELETE FROM {name}")
            for index, _ in indexes:
                conn.execute(f"DROP INDEX {_quote(index)}")
            conn.executemany(f"INSERT INTO {name} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", _rows(spec, table))
            for _, sql in indexes:
                conn.execute(sql)
    finally:
        conn.close()
    return table.num_rows


def _versioning(store: FeatureStore) -> bool:
    return bool(getattr(store.config.registry, "enable_online_feature_view_versioning", False))


__all__ = ["count_keys", "encode", "entity_keys", "select_rows", "supported", "write_view"]
