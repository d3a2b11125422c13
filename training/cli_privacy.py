"""``shopsense privacy erase --user ID``: the right to deletion (PIPL art. 47, 删除权) over everything ShopSense keeps.

What is erased, per dataset: the user's rows in the lake and every row that hangs off them through the contract's
foreign keys (their orders, those orders' lines, their reviews and the verdicts on them ...), the same keys in the
quarantine (also of a refused ingest) and in the ground truth, their rows in the feature tables, their entity keys
in the Feast online store (SQLite or Redis), and their lines in the prediction log. The audit log never holds user
ids (counts only). Derived text files that name the user (ops reports) are deleted, to be regenerated.

The erasure is recorded in ``<data_dir>/privacy/erasures.jsonl`` under an HMAC of the id with a secret kept beside
it, so an auditor holding the secret can confirm an id was erased, and the log alone never reveals one. Models
already trained on the user keep what they learned until the next retrain (see README, "Erasure").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sqlite3
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import typer
from rich.console import Console

from features import columns as c
from features import contract
from features.settings import DatasetPaths, Settings, get_settings

logger = logging.getLogger(__name__)
console = Console()
app = typer.Typer(help="Personal-data requests: erase a user everywhere ShopSense keeps data.", no_args_is_help=True)

TEXT_SUFFIXES = (".csv", ".json", ".html", ".md", ".txt")
Keys = dict[tuple[str, str], set[str]]  # (table, column) -> erased values


def _token(user_id: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(user_id)}(?![A-Za-z0-9_])")


def _table_keys(name: str, frame: pa.Table, keys: Keys, user_id: str) -> pa.Array:
    """Rows of a contract table to erase: the user's own, or referencing an erased row through a foreign key."""
    mask = pa.array([False] * frame.num_rows)
    spec = contract.table(name) if name in {t.name for t in contract.TABLES} else None
    refs = [(c.USER_ID, {user_id})] if c.USER_ID in frame.column_names else []
    if spec is not None:
        refs += [(fk.column, keys.get((fk.ref_table, fk.ref_column), set())) for fk in spec.foreign_keys]
        refs += [(col, keys.get((name, col), set())) for col in spec.primary_key if len(spec.primary_key) == 1]
    for column, values in refs:
        if values and column in frame.column_names:
            hit = pc.is_in(pc.cast(frame[column], pa.string()), value_set=pa.array(sorted(values), pa.string()))
            mask = pc.or_(mask, pc.fill_null(hit, False))
    return mask


def cascade(lake: Path, user_id: str) -> Keys:
    """Every (table, key column) value to erase, following foreign keys from ``users`` until nothing new appears."""
    keys: Keys = defaultdict(set)
    keys[("users", c.USER_ID)].add(user_id)
    for _ in range(len(contract.TABLES)):
        before = sum(len(v) for v in keys.values())
        for spec in contract.TABLES:
            path = lake / f"{spec.name}.parquet"
            if not path.exists() or len(spec.primary_key) != 1:
                continue
            frame = pq.read_table(path)
            mask = _table_keys(spec.name, frame, keys, user_id)
            pk = spec.primary_key[0]
            if pk in frame.column_names:
                keys[(spec.name, pk)].update(str(v) for v in frame.filter(mask)[pk].to_pylist() if v is not None)
        if sum(len(v) for v in keys.values()) == before:
            break
    return keys


def _rewrite(path: Path, frame: pa.Table, mask: pa.Array) -> int:
    removed = int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)
    if removed:
        kept = frame.filter(pc.invert(mask))
        tmp = path.with_name(f".{path.name}.erasing")
        pq.write_table(kept, tmp)
        os.replace(tmp, path)
    return removed


def erase_parquet(path: Path, table: str, keys: Keys, user_id: str) -> int:
    """Drop the erased rows of one Parquet file (rewritten atomically); string cells naming the user count too."""
    frame = pq.read_table(path)
    mask = _table_keys(table, frame, keys, user_id)
    pattern = rf"(^|[^A-Za-z0-9_]){re.escape(user_id)}($|[^A-Za-z0-9_])"  # RE2 (Arrow) has no look-behind
    for name in frame.column_names:  # quarantined raw lines and free text may carry the id anywhere
        if pa.types.is_string(frame.schema.field(name).type) or pa.types.is_large_string(frame.schema.field(name).type):
            hit = pc.match_substring_regex(frame[name], pattern)
            mask = pc.or_(mask, pc.fill_null(hit, False))
    return _rewrite(path, frame, mask)


def _table_of(path: Path) -> str:
    """The contract table a file holds (``orders.parquet``, ``orders/part-0.parquet``, ``.orders-3.parquet``)."""
    names = {t.name for t in contract.TABLES}
    for candidate in (path.stem, path.parent.name, path.stem.lstrip(".").split("-")[0]):
        if candidate in names:
            return candidate
    return path.stem


def erase_text(path: Path, user_id: str) -> int:
    """JSON lines and CSV: drop the lines naming the user; other derived text (reports): delete the file."""
    token = _token(user_id)
    text = path.read_text(encoding="utf-8", errors="replace")
    if not token.search(text):
        return 0
    if path.suffix in (".jsonl", ".csv"):
        lines = text.splitlines(keepends=True)
        kept = [line for line in lines if not token.search(line)]
        tmp = path.with_name(f".{path.name}.erasing")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)
        return len(lines) - len(kept)
    path.unlink()
    logger.warning("deleted %s: it named the erased user (regenerate it)", path.name)
    return 1


def erase_online_sqlite(db: Path, user_id: str) -> int:
    """Delete every online row whose Feast entity key has ``user_id`` as its user key (single or composite)."""
    from feast.infra.key_encoding_utils import deserialize_entity_key

    if not db.exists():
        return 0
    removed = 0
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            if "entity_key" not in columns:
                continue
            doomed = []
            for (blob,) in con.execute(f'SELECT DISTINCT entity_key FROM "{table}"'):
                if _names_user(deserialize_entity_key(blob, entity_key_serialization_version=3), user_id):
                    doomed.append(blob)
            for blob in doomed:
                removed += con.execute(f'DELETE FROM "{table}" WHERE entity_key = ?', (blob,)).rowcount
    return removed


def _names_user(entity_key: Any, user_id: str) -> bool:
    for key, value in zip(entity_key.join_keys, entity_key.entity_values, strict=True):
        if key == c.USER_ID and value.WhichOneof("val") and str(getattr(value, value.WhichOneof("val"))) == user_id:
            return True
    return False


def erase_online_redis(settings: Settings, project: str, user_id: str) -> int:
    """Delete the Redis hashes Feast keeps for the user (key = serialized entity key + project name)."""
    import redis
    from feast.infra.key_encoding_utils import deserialize_entity_key

    host, _, rest = settings.redis_connection.partition(":")
    client = redis.Redis(host=host, port=int(rest.split(",")[0]))
    suffix, removed = project.encode(), 0
    for key in client.scan_iter(count=1000):
        if key.endswith(suffix):
            try:
                entity = deserialize_entity_key(key[: -len(suffix)], entity_key_serialization_version=3)
            except Exception:  # not a Feast key of this project
                continue
            if _names_user(entity, user_id):
                removed += client.delete(key)
    return removed


def erase_dataset(paths: DatasetPaths, user_id: str, settings: Settings) -> dict[str, int]:
    """Erase ``user_id`` from one dataset's files and online store; rows removed per area."""
    from features.store.config import online_db_path, project_name

    counts: dict[str, int] = defaultdict(int)
    keys = cascade(paths.lake, user_id) if paths.lake.exists() else {("users", c.USER_ID): {user_id}}
    for path in sorted(paths.root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.name.endswith(".erasing"):
            continue
        area = path.relative_to(paths.root).parts[0]
        if path.suffix == ".parquet":
            counts[area] += erase_parquet(path, _table_of(path), keys, user_id)
        elif path.suffix in (*TEXT_SUFFIXES, ".jsonl") and path.stat().st_size < 200_000_000:
            counts[area] += erase_text(path, user_id)
    if settings.online_store == "redis":
        counts["online"] += erase_online_redis(settings, project_name(paths), user_id)
    else:
        counts["online"] += erase_online_sqlite(online_db_path(paths), user_id)
    return {k: v for k, v in counts.items() if v}


def subject(settings: Settings, user_id: str) -> str:
    """HMAC-SHA256 of the id under this installation's secret (created on first use, readable by its owner only)."""
    folder = settings.data_dir / "privacy"
    folder.mkdir(parents=True, exist_ok=True)
    secret_file = folder / "secret"
    if not secret_file.exists():
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, secrets.token_hex(32).encode())
        os.close(fd)
    return hmac.new(secret_file.read_bytes(), user_id.encode(), hashlib.sha256).hexdigest()


def erase(user_id: str, settings: Settings, datasets: list[str] | None = None) -> dict[str, Any]:
    """Erase a user from the named datasets (default: every dataset under the data directory) and record it."""
    names = datasets or sorted(p.name for p in settings.data_dir.iterdir() if (p / "lake").is_dir())
    removed = {name: erase_dataset(settings.dataset(name), user_id, settings) for name in names}
    record = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "subject_hmac": subject(settings, user_id),
        "datasets": names,
        "removed": removed,
    }
    with (settings.data_dir / "privacy" / "erasures.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


@app.command("erase")
def erase_command(
    user: str = typer.Option(..., "--user", help="The user id to erase."),
    dataset: list[str] = typer.Option(None, "--dataset", help="Only this dataset (repeatable); default all."),
) -> None:
    """Erase a user from lake, quarantine, features, online store and prediction logs; record it without the id."""
    settings = get_settings()
    if not settings.data_dir.is_dir():
        console.print(f"[red]no data directory {settings.data_dir}[/red] (SHOPSENSE_DATA_DIR)")
        raise typer.Exit(2)
    record = erase(user, settings, dataset or None)
    for name, counts in record["removed"].items():
        console.print(f"{name}: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing held"))
    console.print(
        f"recorded in {settings.data_dir / 'privacy' / 'erasures.jsonl'} as {record['subject_hmac'][:12]}...; "
        "models trained on this user keep what they learned until the next `shopsense train`"
    )
