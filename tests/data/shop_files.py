"""A shop's own export as CSV files (history from the 1990s, mostly one-time buyers) and a CLI runner for it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

SHOP_TABLES: dict[str, str] = {
    "users.csv": "user_id,signup_at,gender\nu1,1997-03-01,F\nu2,1997-05-10,M\nu3,1998-01-20,U\n",
    "products.csv": "sku_id,category,list_price\ns1,服装,99\ns2,数码,1999\n",
    "orders.csv": (
        "order_id,user_id,order_ts,status\n"
        "o1,u1,1997-03-02 10:00,delivered\n"
        "o2,u2,1997-06-01 11:00,delivered\n"
        "o3,u3,1998-02-01 12:00,paid\n"
        "o4,u1,1999-12-31 23:00,delivered\n"
    ),
    "order_items.csv": (
        "order_item_id,order_id,sku_id,quantity,unit_price\n"
        "i1,o1,s1,1,99\n"
        "i2,o2,s2,1,1899\n"
        "i3,o3,s1,2,89\n"
        "i4,o4,s1,1,0\n"
    ),
}


def write_shop(folder: Path, **overrides: str) -> Path:
    """Write the shop's CSVs to ``folder``; ``overrides`` replace a file's text by its name (``orders_csv=...``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in SHOP_TABLES.items():
        (folder / name).write_text(overrides.get(name.replace(".", "_"), text), encoding="utf-8")
    return folder


def cli(*args: str) -> Result:
    """Run ``shopsense <args>`` in-process (settings come from the environment the test set up)."""
    from training.cli import app

    return CliRunner().invoke(app, list(args))


def ingest_json(folder: Path, *extra: str) -> tuple[Result, dict]:
    """``shopsense data ingest --source files --path folder --json`` and its parsed JSON (``{}`` if none)."""
    result = cli("data", "ingest", "--source", "files", "--path", str(folder), "--json", *extra)
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else {})
