"""Write a shop's own export as CSV files with a history from the 1990s, for the bring-your-own-data walk-through.

Why: the `files` path must work on data nobody designed it for. This takes the real UCI Online Retail lines
through its adapter, moves every timestamp back 14 years (December 1996 - December 1997), keeps only the four
tables a small shop exports (users, products, orders, order lines: no returns, reviews, stock or events) and,
deterministically, keeps only the first order of most customers, so the shop has mostly one-time buyers.

    .venv/bin/python benchmarks/make_1990s_shop.py --out /tmp/shop97
    .venv/bin/shopsense data ingest --source files --path /tmp/shop97 --dataset shop97 --opened 1996-01-01
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from features.sources import online_retail

SHIFT = pd.DateOffset(years=14)
TABLES = ("users", "products", "orders", "order_items")


def one_time_buyers(orders: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Keep only the first order of ``share`` of the customers (chosen by seed); guests keep theirs."""
    rng = np.random.default_rng(seed)
    users = orders["user_id"].dropna().unique()
    truncated = set(rng.choice(users, size=int(len(users) * share), replace=False))
    first = orders.sort_values("order_ts").groupby("user_id", dropna=False).cumcount().eq(0)
    keep = first | ~orders["user_id"].isin(truncated)
    return orders[keep]


def build(out: Path, share: float, seed: int) -> dict[str, int]:
    """Write the four CSVs under ``out`` and return their row counts."""
    tables = online_retail.load().tables
    orders = one_time_buyers(tables["orders"], share, seed)
    orders = orders.assign(order_ts=pd.to_datetime(orders["order_ts"]) - SHIFT)
    items = tables["order_items"][tables["order_items"]["order_id"].isin(orders["order_id"])]
    items = items.drop(columns=["source_row"], errors="ignore")  # the adapter's provenance, not a shop's column
    users = tables["users"]
    for column in users.columns:
        if pd.api.types.is_datetime64_any_dtype(users[column]):
            users = users.assign(**{column: users[column] - SHIFT})
    frames = {"users": users, "products": tables["products"], "orders": orders, "order_items": items}
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        frames[name].to_csv(out / f"{name}.csv", index=False)
    return {name: len(frames[name]) for name in TABLES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--one-time-share", type=float, default=0.6, help="customers cut to their first order")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    counts = build(args.out, args.one_time_share, args.seed)
    for name, rows in counts.items():
        print(f"{name:12s} {rows:>9,d} rows -> {args.out / (name + '.csv')}")


if __name__ == "__main__":
    main()
