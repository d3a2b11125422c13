"""Chunked ingest (issue 13, point 9): any chunk size gives the same lake and keeps rows in = accepted + quarantined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import columns as c
from features.lake import ingest
from features.settings import DatasetPaths
from features.sources import files
from features.sources.base import SourceBatch
from features.validation import KeySet

pytestmark = pytest.mark.data

OPENED = pd.Timestamp("2024-01-01")
NOW = pd.Timestamp("2025-06-01")


def _world(seed: int = 3) -> dict[str, pd.DataFrame]:
    """Users and orders with duplicates far apart (so they fall in different chunks) and dangling buyers."""
    rng = np.random.default_rng(seed)
    users = pd.DataFrame({c.USER_ID: [f"u{i}" for i in range(40)], c.SIGNUP_AT: "2024-01-02"})
    users.loc[[5, 33], c.USER_ID] = "u1"  # u1 three times: the first wins, wherever the chunks split
    n = 120
    orders = pd.DataFrame(
        {
            c.ORDER_ID: [f"o{i}" for i in range(n)],
            c.USER_ID: [f"u{k}" for k in rng.integers(0, 45, n)],  # u40..u44 do not exist
            c.ORDER_TS: pd.Timestamp("2024-02-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
            c.STATUS: rng.choice(["paid", "delivered", "lost"], n, p=[0.5, 0.45, 0.05]),
        }
    )
    orders.loc[[7, 100], c.ORDER_ID] = "o3"
    return {"users": users, "orders": orders}


def _run(tmp_path: Path, name: str, chunk_rows: int):
    paths = DatasetPaths(name, tmp_path / name)
    report = ingest(SourceBatch(name, _world(), OPENED), paths, now=NOW, progress=False, chunk_rows=chunk_rows)
    return report, paths


def test_every_chunk_size_gives_the_same_lake_and_keeps_the_invariant(tmp_path: Path) -> None:
    whole, whole_paths = _run(tmp_path, "whole", 10_000)
    assert whole.tables["users"].reasons == {"duplicate key: (user_id) repeats an earlier row": 2}
    assert whole.tables["orders"].reasons["duplicate key: (order_id) repeats an earlier row"] == 2
    assert whole.tables["orders"].reasons["foreign key: user_id not found in users.user_id"] > 0
    for chunk_rows in (16, 64):
        report, paths = _run(tmp_path, f"c{chunk_rows}", chunk_rows)
        assert report.tables == whole.tables, chunk_rows
        for table, r in report.tables.items():
            assert r.rows_in == r.accepted + r.quarantined == len(_world()[table])
            pd.testing.assert_frame_equal(
                pd.read_parquet(paths.lake / f"{table}.parquet"), pd.read_parquet(whole_paths.lake / f"{table}.parquet")
            )
            quarantined = pd.read_parquet(paths.quarantine / f"{table}.parquet")
            assert len(quarantined) == r.quarantined


def test_csv_read_in_small_chunks_keeps_every_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_MIN_BLOCK", 512)  # many read blocks: line numbers must carry across them
    rng = np.random.default_rng(11)
    folder = tmp_path / "shop"
    folder.mkdir()
    lines, ragged = ["user_id,signup_at"], []
    for i in range(2, 1_002):  # line numbers as an editor shows them
        if rng.random() < 0.03:
            lines.append(f"u{i},2024-03-01,oops")
            ragged.append(i)
        else:
            lines.append(f"u{i},{'2023-12-31' if i % 97 == 0 else '2024-03-01'}")
    (folder / "users.csv").write_text("\n".join(lines) + "\n")
    paths = DatasetPaths("shop", tmp_path / "out")
    batch = files.load(folder, opened_at=OPENED)
    report = ingest(batch, paths, now=NOW, progress=False, chunk_rows=100, max_rejected=1.0)
    users = report.tables["users"]
    assert users.rows_in == 1_000 == users.accepted + users.quarantined
    quarantined = pd.read_parquet(paths.quarantine / "users.parquet")
    parse = quarantined[quarantined[c.REASON].str.startswith("parse:")]
    assert parse[c.SOURCE_ROW].tolist() == ragged
    early = quarantined[quarantined[c.REASON].str.startswith("time:")]
    assert early[c.SOURCE_ROW].tolist() == [i for i in range(97, 1_002, 97) if i not in ragged]
    assert (early[c.USER_ID] == "u" + early[c.SOURCE_ROW].astype(str)).all()  # each row kept its own line


def test_key_set_finds_exactly_the_keys_added_in_any_order() -> None:
    rng = np.random.default_rng(5)
    keys = KeySet()
    added = [f"k{i}" for i in rng.permutation(5_000)]
    for start in range(0, len(added), 333):
        keys.add(KeySet.hashes(pd.DataFrame({"k": added[start : start + 333]})))
    probe = pd.DataFrame({"k": [f"k{i}" for i in range(5_009, 4_989, -1)]})
    assert keys.contains(KeySet.hashes(probe)).tolist() == [False] * 10 + [True] * 10
