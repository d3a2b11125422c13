"""Erasure (issue 13, item 11): after `shopsense privacy erase --user ID`, nothing of that user remains in the lake,
quarantine, truth, features, online store or prediction log, and the record of the erasure does not name them."""

from __future__ import annotations

import re
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast.infra.key_encoding_utils import deserialize_entity_key

from features import columns as c
from features.store.config import online_db_path
from training import cli_privacy

pytestmark = pytest.mark.serving
TEXT = (".jsonl", ".csv", ".json", ".html", ".md", ".txt")


def _mentions(root, user_id: str) -> list[str]:
    """Every place under ``root`` that still holds the id: Parquet cells, text lines, online entity keys."""
    token = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(user_id)}(?![A-Za-z0-9_])")
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for name in table.column_names:
                strings = table[name].to_pylist() if pa.types.is_string(table.schema.field(name).type) else []
                if any(v is not None and token.search(v) for v in strings):
                    found.append(f"{path}:{name}")
        elif path.suffix in TEXT and token.search(path.read_text(errors="replace")):
            found.append(str(path))
    return found


def _online_users(db) -> set[str]:
    users = set()
    with sqlite3.connect(db) as con:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            if "entity_key" in [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]:
                for (blob,) in con.execute(f'SELECT DISTINCT entity_key FROM "{table}"'):
                    key = deserialize_entity_key(blob, entity_key_serialization_version=3)
                    users.update(
                        v.string_val for k, v in zip(key.join_keys, key.entity_values, strict=True) if k == c.USER_ID
                    )
    return users


def test_erase_removes_every_trace_of_a_user(client, auth, world) -> None:
    paths = world.settings.dataset(world.settings.default_dataset)
    orders = pq.read_table(paths.lake / "orders.parquet").to_pandas()
    online = set(pq.read_table(paths.features / "user.parquet", columns=[c.USER_ID])[c.USER_ID].to_pylist())
    user = sorted((set(orders[c.USER_ID].dropna()) & online) - set(world.known_ids))[-1]  # not used elsewhere
    their_orders = set(orders.loc[orders[c.USER_ID] == user, c.ORDER_ID])
    assert client.post("/churn/predict", json={"user_ids": [user]}, headers=auth).json()["results"][0]["status"] == "ok"
    (paths.quarantine / "notes.csv").write_text(f"line,reason\n{user};x,ragged\nU9;y,ragged\n")
    assert _mentions(paths.root, user) and user in _online_users(online_db_path(paths))

    record = cli_privacy.erase(user, world.settings, [paths.name])

    assert _mentions(paths.root, user) == [] and user not in _online_users(online_db_path(paths))
    lines = pq.read_table(paths.lake / "order_items.parquet").to_pandas()
    assert not set(lines[c.ORDER_ID]) & their_orders  # cascaded through the orders' foreign key
    assert "U9;y" in (paths.quarantine / "notes.csv").read_text()  # other users untouched
    assert record["removed"][paths.name]["lake"] > 0 and record["removed"][paths.name]["online"] > 0
    log = (world.root / "privacy" / "erasures.jsonl").read_text()
    assert user not in log and record["subject_hmac"] in log
    body = client.post("/churn/predict", json={"user_ids": [user]}, headers=auth).json()
    assert body["results"][0]["status"] == "unknown_user"
