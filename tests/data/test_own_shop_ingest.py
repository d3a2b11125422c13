"""A shop's own folder through `shopsense data ingest` as a new user runs it (issue 9: points 1, 2, 5 and zero prices)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import columns as c
from features.lake import read_manifest
from features.settings import Settings
from tests.data.shop_files import cli, ingest_json, write_shop

pytestmark = pytest.mark.data

ZERO_PRICE = "unit_price is 0 on a sale (a free gift, or a data error?)"


def _lake_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "lake").rglob("*")) if p.is_file()}


def test_history_from_1997_is_ingested_without_time_quarantine(tmp_settings: Settings, tmp_path: Path) -> None:
    result, report = ingest_json(write_shop(tmp_path / "in" / "shop97"))
    assert result.exit_code == 0, result.output
    assert {name: t["quarantined"] for name, t in report["tables"].items()} == dict.fromkeys(
        ("users", "products", "orders", "order_items"), 0
    )
    assert (report["opened_at"], report["history_start"]) == ("1970-01-01", "1997-03-01")
    orders = pd.read_parquet(tmp_settings.dataset("shop97").lake / "orders.parquet")
    assert orders[c.ORDER_TS].min() == pd.Timestamp("1997-03-02 10:00")


def test_opened_date_is_stored_with_the_dataset_and_reused(tmp_settings: Settings, tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "in" / "shop")
    result, report = ingest_json(folder, "--opened", "1997-04-01")
    assert result.exit_code == 0, result.output
    # u1 signed up before the opening, so u1's orders (o1 also placed before it) and their lines follow
    assert report["tables"]["orders"]["reasons"]["time: order_ts before the platform opened (1997-04-01)"] == 1
    assert report["tables"]["orders"]["quarantined"] == 2
    assert read_manifest(tmp_settings.dataset("shop"))["opened_at"].startswith("1997-04-01")
    again, report2 = ingest_json(folder)  # a re-ingest without --opened keeps the dataset's own date
    assert again.exit_code == 0, again.output
    assert (report2["opened_at"], report2["opened_from"]) == ("1997-04-01", "earlier --opened")
    assert report2["tables"] == report["tables"]


def test_ingest_that_rejects_a_table_fails_and_keeps_the_previous_lake(tmp_settings: Settings, tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "in" / "shop")
    assert ingest_json(folder)[0].exit_code == 0
    root = tmp_settings.dataset("shop").root
    before = _lake_bytes(root)
    bad_orders = "order_id,user_id,order_ts,status\no1,u1,1997-03-02,teleported\no2,u2,1997-06-01,lost\n"
    write_shop(folder, orders_csv=bad_orders)
    result, report = ingest_json(folder)
    assert result.exit_code == 1
    message = result.stderr
    assert "table orders rejected 2 of 2 rows (100%)" in message
    assert "value: status must be one of the allowed values (2)" in message
    assert "shopsense data quarantine --dataset shop" in message
    assert report["tables"]["orders"]["quarantined"] == 2  # --json still tells what happened
    assert _lake_bytes(root) == before
    shown = cli("data", "quarantine", "--dataset", "shop")
    assert shown.exit_code == 0 and "was refused" in shown.output and "teleported" in shown.output


def test_threshold_is_a_setting(tmp_settings: Settings, tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "in" / "shop", orders_csv="order_id,user_id,order_ts,status\no1,u1,1997-03-02,x\n")
    assert ingest_json(folder, "--max-rejected", "1")[0].exit_code == 0


def test_two_shops_get_two_datasets_and_a_foreign_overwrite_needs_replace(
    tmp_settings: Settings, tmp_path: Path
) -> None:
    shop_a = write_shop(tmp_path / "in" / "Shop A")
    shop_b = write_shop(
        tmp_path / "in" / "shop_b", users_csv="user_id,signup_at\nu1,2001-01-01\nu2,2001-01-01\nu3,2001-01-02\n"
    )
    assert ingest_json(shop_a)[1]["dataset"] == "shop_a"
    assert ingest_json(shop_b)[1]["dataset"] == "shop_b"
    root_a = tmp_settings.dataset("shop_a").root
    before = _lake_bytes(root_a)
    refused = cli("data", "ingest", "--source", "files", "--path", str(shop_b), "--dataset", "shop_a")
    assert refused.exit_code == 2
    assert "--replace" in refused.stderr and str(shop_a.resolve()) in refused.stderr
    assert _lake_bytes(root_a) == before
    replaced, _ = ingest_json(shop_b, "--dataset", "shop_a", "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert read_manifest(tmp_settings.dataset("shop_a"))["origin"] == f"files:{shop_b.resolve()}"
    assert ingest_json(shop_b, "--dataset", "../etc")[0].exit_code == 2


def test_zero_price_sales_are_kept_and_counted(tmp_settings: Settings, tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "in" / "shop")
    result, report = ingest_json(folder)
    assert result.exit_code == 0, result.output
    assert report["notices"] == {"order_items": {ZERO_PRICE: 1}}
    assert report["tables"]["order_items"]["accepted"] == 4
    human = cli("data", "ingest", "--source", "files", "--path", str(folder))
    assert "order_items: 1 accepted row(s) where unit_price is 0" in " ".join(human.output.split())


def test_a_shop_with_only_orders_gets_users_and_products_from_their_ids(tmp_settings: Settings, tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "in" / "orders_only")
    (folder / "users.csv").unlink()
    (folder / "products.csv").unlink()
    result, report = ingest_json(folder)
    assert result.exit_code == 0, result.output
    assert report["tables"]["users"]["accepted"] == 3 and report["tables"]["products"]["accepted"] == 2
    assert report["tables"]["order_items"]["quarantined"] == 0
    assert report["notices"]["users"] == {
        "the row was derived from the user_id values in orders (no users file given)": 3
    }
    lake = tmp_settings.dataset("orders_only").lake
    products = pd.read_parquet(lake / "products.parquet")
    assert sorted(products[c.SKU_ID]) == ["s1", "s2"] and set(products[c.CATEGORY]) == {"unknown"}
    assert products[c.LIST_PRICE].isna().all()  # nothing invented beyond the id
