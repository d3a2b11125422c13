"""Hostile or careless files on ingest (issue 13, point 8 and the low findings): refused, quarantined or named."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd
import pytest

from features import columns as c
from features.lake import DatasetMissing, read_manifest
from features.settings import Settings, get_settings
from tests.data.shop_files import cli, ingest_json, write_shop

pytestmark = pytest.mark.data


def test_symlinked_table_file_is_refused_and_nothing_is_written(tmp_settings: Settings, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("user_id\nroot:x:0:0\n")
    folder = write_shop(tmp_path / "in" / "shop")
    (folder / "users.csv").unlink()
    (folder / "users.csv").symlink_to(secret)
    result, _ = ingest_json(folder)
    assert result.exit_code == 2
    assert "users.csv is a symbolic link" in result.stderr
    assert not tmp_settings.dataset("shop").root.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_named_pipe_is_refused_not_read(tmp_settings: Settings, tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "in" / "shop")
    os.mkfifo(folder / "events.csv")  # reading it would block forever
    result, _ = ingest_json(folder)
    assert result.exit_code == 2
    assert "events.csv is not a regular file" in result.stderr


def test_ragged_line_is_quarantined_with_file_and_line(
    tmp_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSENSE_INGEST_CHUNK_ROWS", "2")  # line numbers must survive chunk boundaries
    get_settings.cache_clear()
    items = (
        "order_item_id,order_id,sku_id,quantity,unit_price\n"
        "i1,o1,s1,1,99\n"
        "i2,o2,s2\n"  # line 3: two fields short
        "i3,o3,s1,2,89\n"
        "i4,o4,s1,1,5,extra\n"  # line 5: one field too many
        "i5,o4,s1,-3,5\n"  # line 6: parses, but breaks a rule
        "i6,o4,s2,1,7\n"
    )
    result, report = ingest_json(write_shop(tmp_path / "in" / "shop", order_items_csv=items))
    assert result.exit_code == 0, result.output
    assert report["tables"]["order_items"] | {"reasons": None} == {
        "rows_in": 6,
        "accepted": 3,
        "quarantined": 3,
        "reasons": None,
    }
    quarantined = pd.read_parquet(tmp_settings.dataset("shop").quarantine / "order_items.parquet")
    by_line = quarantined.set_index(c.SOURCE_ROW)
    assert sorted(by_line.index) == [3, 5, 6]
    assert set(quarantined[c.SOURCE_FILE]) == {"order_items.csv"}
    assert by_line.loc[3, c.REASON] == "parse: line has 3 field(s), the header has 5"
    assert by_line.loc[3, c.RAW_LINE] == "i2,o2,s2"
    assert by_line.loc[5, c.REASON] == "parse: line has 6 field(s), the header has 5"
    assert by_line.loc[6, c.REASON] == "range: quantity must be > 0"
    lake = pd.read_parquet(tmp_settings.dataset("shop").lake / "order_items.parquet")
    assert lake[c.ORDER_ITEM_ID].tolist() == ["i1", "i3", "i6"]


def test_upper_case_suffix_and_name_are_read(tmp_settings: Settings, tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "in" / "shop")
    (folder / "users.csv").rename(folder / "Users.CSV")
    (folder / "notes.txt").write_text("not data")
    result, report = ingest_json(folder)
    assert result.exit_code == 0, result.output
    assert report["tables"]["users"]["accepted"] == 3
    assert report["ignored_files"] == {"notes.txt": "not a .csv or .parquet file"}
    assert read_manifest(tmp_settings.dataset("shop"))["lineage"]["files"]["Users.CSV"]["table"] == "users"


def test_missing_dataset_fails_in_one_sentence_without_creating_it(tmp_settings: Settings) -> None:
    result = cli("data", "quarantine", "--dataset", "shpo")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "no dataset 'shpo'" in result.stderr
    assert "shopsense data ingest --source files --path DIR --dataset shpo" in result.stderr
    assert not (tmp_settings.data_dir / "shpo").exists()
    with pytest.raises(DatasetMissing, match="no dataset 'shpo'"):
        read_manifest(tmp_settings.dataset("shpo"))


def test_quarantine_export_neutralises_formulas(tmp_settings: Settings, tmp_path: Path) -> None:
    users = "user_id,signup_at,gender\nu1,1997-03-01,F\n\"=cmd|' /C calc'!A0\",1997-05-10,X\n@SUM(A1),1998-01-20,-1\n"
    folder = write_shop(tmp_path / "in" / "shop", users_csv=users)
    assert ingest_json(folder, "--max-rejected", "1")[0].exit_code == 0
    out = tmp_path / "export"
    result = cli("data", "quarantine", "--dataset", "shop", "--export", str(out))
    assert result.exit_code == 0, result.output
    with (out / "users.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r[c.USER_ID] for r in rows] == ["'=cmd|' /C calc'!A0", "'@SUM(A1)"]
    assert rows[1][c.GENDER] == "-1"  # a plain number is not a formula and stays as it is
    assert all(not v.startswith(("=", "+", "@")) for r in rows for v in r.values())


def test_file_of_only_unparsable_lines_stops_with_a_reason(
    tmp_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSENSE_INGEST_CHUNK_ROWS", "100")  # pending bad lines are bounded by max(rows, 10,000)
    get_settings.cache_clear()
    users = "user_id,signup_at,gender\n" + "u,1997-03-01\n" * 10_050  # two fields where the header has three
    result, _ = ingest_json(write_shop(tmp_path / "in" / "shop", users_csv=users))
    assert result.exit_code == 2
    assert "users.csv: over 10,000 lines in a row do not split into the header's 3 columns" in result.stderr
    assert not (tmp_settings.dataset("shop").root / "lake").exists()
