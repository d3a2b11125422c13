"""Ingestion keeps every row: each class of bad row lands in quarantine with its own reason."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features import columns as c
from features.lake import ingest, read_manifest
from features.settings import DatasetPaths
from features.sources import files
from features.sources.base import SourceBatch

pytestmark = pytest.mark.data

OPENED = pd.Timestamp("2024-01-01")
NOW = pd.Timestamp("2025-06-01")


def _good_world() -> dict[str, pd.DataFrame]:
    return {
        "users": pd.DataFrame(
            {c.USER_ID: ["u1", "u2"], c.SIGNUP_AT: ["2024-01-05", "2024-02-01"], c.GENDER: ["F", "M"]}
        ),
        "products": pd.DataFrame({c.SKU_ID: ["s1", "s2"], c.CATEGORY: ["服装", "数码"], c.LIST_PRICE: [99.0, 1999.0]}),
        "orders": pd.DataFrame(
            {
                c.ORDER_ID: ["o1", "o2", "o3"],
                c.USER_ID: ["u1", "u2", None],
                c.ORDER_TS: ["2024-03-01 10:00", "2024-03-02 11:00", "2024-03-03 12:00"],
                c.STATUS: ["delivered", "paid", "paid"],
                c.DELIVERED_AT: ["2024-03-03", None, None],
            }
        ),
        "order_items": pd.DataFrame(
            {
                c.ORDER_ITEM_ID: ["i1", "i2", "i3"],
                c.ORDER_ID: ["o1", "o2", "o3"],
                c.SKU_ID: ["s1", "s2", "s1"],
                c.QUANTITY: [1, 2, 1],
                c.UNIT_PRICE: [99.0, 1899.0, 89.0],
            }
        ),
    }


def _ingest(tables: dict[str, pd.DataFrame], tmp_path: Path):
    paths = DatasetPaths("t", tmp_path / "t")
    # these tests look at quarantine reasons, so a mostly rejected table must not stop the ingest here
    report = ingest(SourceBatch("t", tables, OPENED), paths, now=NOW, progress=False, max_rejected=1.0)
    return report, paths


def _quarantine(paths: DatasetPaths, table: str) -> pd.DataFrame:
    return pd.read_parquet(paths.quarantine / f"{table}.parquet")


def test_clean_world_is_accepted_whole(tmp_path: Path) -> None:
    report, paths = _ingest(_good_world(), tmp_path)
    assert {name: (r.accepted, r.quarantined) for name, r in report.tables.items()} == {
        "users": (2, 0),
        "products": (2, 0),
        "orders": (3, 0),
        "order_items": (3, 0),
    }
    orders = pd.read_parquet(paths.lake / "orders.parquet")
    assert pd.api.types.is_datetime64_any_dtype(orders[c.ORDER_TS])
    assert orders[c.USER_ID].isna().sum() == 1  # the guest order is kept


@pytest.mark.parametrize(
    ("table", "column", "bad_value", "reason"),
    [
        ("order_items", c.UNIT_PRICE, -5.0, "range: unit_price must be >= 0"),
        ("order_items", c.QUANTITY, 0, "range: quantity must be > 0"),
        ("order_items", c.QUANTITY, "two", "type: quantity expects int"),
        ("order_items", c.SKU_ID, "s404", "foreign key: sku_id not found in products.sku_id"),
        ("order_items", c.ORDER_ITEM_ID, "i1", "duplicate key: (order_item_id) repeats an earlier row"),
        ("orders", c.ORDER_TS, "2023-12-31", "time: order_ts before the platform opened (2024-01-01)"),
        ("orders", c.ORDER_TS, "2031-01-01", "time: order_ts is in the future"),
        ("orders", c.ORDER_TS, "not a date", "type: order_ts expects timestamp"),
        ("orders", c.STATUS, "teleported", "value: status must be one of the allowed values"),
        ("orders", c.USER_ID, "ghost", "foreign key: user_id not found in users.user_id"),
        ("orders", c.DELIVERED_AT, "2024-01-02", "order: delivered_at is earlier than order_ts"),
        ("users", c.USER_ID, None, "null: user_id is required"),
    ],
)
def test_each_bad_row_is_quarantined_with_its_reason(tmp_path: Path, table, column, bad_value, reason) -> None:
    tables = _good_world()
    frame = tables[table].astype(object)
    frame.loc[len(frame) - 1, column] = bad_value
    tables[table] = frame
    report, paths = _ingest(tables, tmp_path)
    r = report.tables[table]
    assert r.rows_in == r.accepted + r.quarantined
    assert reason in r.reasons
    quarantined = _quarantine(paths, table)
    assert reason in quarantined[c.REASON].iloc[-1]
    assert str(quarantined[column].iloc[-1]) == str(pd.NA if bad_value is None else bad_value)


def test_children_of_quarantined_parents_follow_them(tmp_path: Path) -> None:
    tables = _good_world()
    tables["orders"].loc[0, c.STATUS] = "teleported"
    report, _paths = _ingest(tables, tmp_path)
    assert report.tables["order_items"].reasons == {"foreign key: order_id not found in orders.order_id": 1}


def test_unknown_table_and_unknown_column_are_quarantined_whole(tmp_path: Path) -> None:
    tables = _good_world()
    tables["wishlists"] = pd.DataFrame({"x": [1, 2]})
    tables["products"][["colour"]] = "red"
    report, paths = _ingest(tables, tmp_path)
    assert report.tables["wishlists"].quarantined == 2
    assert "unknown table 'wishlists'" in _quarantine(paths, "wishlists")[c.REASON].iloc[0]
    assert report.tables["products"].accepted == 0
    assert "unknown column(s) 'colour'" in _quarantine(paths, "products")[c.REASON].iloc[0]


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    tables = _good_world()
    tables["order_items"] = tables["order_items"].drop(columns=[c.QUANTITY])
    report, paths = _ingest(tables, tmp_path)
    assert report.tables["order_items"].quarantined == 3
    assert "missing required column(s) 'quantity'" in _quarantine(paths, "order_items")[c.REASON].iloc[0]


def test_reingest_is_idempotent(tmp_path: Path) -> None:
    tables = _good_world()
    tables["order_items"].loc[0, c.UNIT_PRICE] = -1.0
    _, paths = _ingest(tables, tmp_path)
    first = {p.relative_to(paths.root): p.read_bytes() for p in sorted(paths.root.rglob("*")) if p.is_file()}
    _ingest(tables, tmp_path)
    second = {p.relative_to(paths.root): p.read_bytes() for p in sorted(paths.root.rglob("*")) if p.is_file()}
    assert first == second
    assert read_manifest(paths)["tables"]["order_items"]["quarantined"] == 1


def _write_corrupt_dir(folder: Path) -> None:
    folder.mkdir()
    for name, frame in _good_world().items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    with (folder / "order_items.csv").open("a") as fh:
        fh.write("i9,o1,s1,-3,5.0\n")  # quantity -3 on a sale, line 5 of the file
        fh.write("i10,o1,s1,1,abc\n")  # unit price is not a number, line 6
    (folder / "mystery.csv").write_text("a,b\n1,2\n")


def test_files_source_names_file_row_and_column(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    _write_corrupt_dir(folder)
    paths = DatasetPaths("files", tmp_path / "files")
    report = ingest(files.load(folder, opened_at=OPENED), paths, now=NOW, progress=False)
    quarantined = _quarantine(paths, "order_items")
    assert quarantined[c.SOURCE_FILE].unique().tolist() == ["order_items.csv"]
    assert quarantined[c.SOURCE_ROW].tolist() == [5, 6]
    assert quarantined[c.REASON].tolist() == ["range: quantity must be > 0", "type: unit_price expects float"]
    assert report.tables["mystery"].quarantined == 1
    lake = pd.read_parquet(paths.lake / "order_items.parquet")
    assert c.SOURCE_ROW not in lake.columns and len(lake) == 3


def test_cli_ingest_json_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from features.settings import get_settings
    from training.cli import app

    folder = tmp_path / "shop"
    _write_corrupt_dir(folder)
    monkeypatch.setenv("SHOPSENSE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["data", "ingest", "--source", "files", "--path", str(folder), "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)["tables"]
    assert counts["order_items"] == {
        "rows_in": 5,
        "accepted": 3,
        "quarantined": 2,
        "reasons": {"range: quantity must be > 0": 1, "type: unit_price expects float": 1},
    }
    assert all(t["rows_in"] == t["accepted"] + t["quarantined"] for t in counts.values())
