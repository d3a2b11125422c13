"""Read a lake into what the recommender knows at a cutoff, and what users bought after it (the labels).

Side effects stay here (Parquet, the Ibis engine); :mod:`models.recommend` gets plain frames. A shop needs only
``users``, ``products``, ``orders`` and ``order_items``: behaviour events, inventory and promotions add the co-view
generator, the stock rule and the promotion slot when they exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from features import build, engine
from features import columns as c
from features.engine import LakeTables
from features.interactions import INTERACTION_FEATURES
from features.settings import DatasetPaths, Settings, get_settings
from models.reco_inputs import PRODUCT_COLUMNS, RecoInputs

logger = logging.getLogger(__name__)


@dataclass
class LakeReader:
    """One dataset's lake, read once and sliced by cutoff (the purchase log is small next to its features)."""

    paths: DatasetPaths
    settings: Settings | None = None

    @cached_property
    def lake(self) -> LakeTables:
        return LakeTables(engine.connect(self.settings or get_settings()), self.paths)

    def _read(self, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
        path = self.paths.lake / f"{name}.parquet"
        return pd.read_parquet(path, columns=columns) if path.exists() else None

    @cached_property
    def log(self) -> pd.DataFrame:
        """Non-cancelled order lines of known users: user, SKU, time, quantity, price."""
        orders = self._read("orders", [c.ORDER_ID, c.USER_ID, c.ORDER_TS, c.STATUS])
        items = self._read("order_items", [c.ORDER_ID, c.SKU_ID, c.QUANTITY, c.UNIT_PRICE])
        orders = orders[orders[c.USER_ID].notna() & (orders[c.STATUS] != "cancelled")]
        log = items.merge(orders[[c.ORDER_ID, c.USER_ID, c.ORDER_TS]], on=c.ORDER_ID)
        log = log[[c.USER_ID, c.SKU_ID, c.ORDER_TS, c.QUANTITY, c.UNIT_PRICE]]
        return log.astype({c.USER_ID: str, c.SKU_ID: str}).sort_values(c.ORDER_TS, kind="stable")

    @cached_property
    def products(self) -> pd.DataFrame:
        frame = self._read("products")
        for col in PRODUCT_COLUMNS:
            if col not in frame.columns:
                frame[col] = None
        return frame[list(PRODUCT_COLUMNS)].astype({c.SKU_ID: str})

    @cached_property
    def users(self) -> pd.DataFrame:
        frame = self._read("users")
        cols = [col for col in (c.USER_ID, c.CITY, c.CHANNEL, c.SIGNUP_AT) if col in frame.columns]
        return frame[cols].astype({c.USER_ID: str})

    def stock_at(self, cutoff: pd.Timestamp) -> pd.Series | None:
        """Latest on-hand per SKU on a day strictly before the cutoff; None without an inventory table."""
        inv = self._read("inventory", [c.SKU_ID, c.DATE, c.ON_HAND])
        if inv is None:
            return None
        inv = inv[inv[c.DATE] < cutoff].sort_values(c.DATE, kind="stable")
        return inv.groupby(c.SKU_ID)[c.ON_HAND].last().astype("float64")

    def promoted_at(self, cutoff: pd.Timestamp) -> frozenset[str]:
        """SKUs with a promotion that started before the cutoff and had not ended."""
        promos = self._read("promotions", [c.SKU_ID, c.START_AT, c.END_AT])
        if promos is None:
            return frozenset()
        live = promos[promos[c.SKU_ID].notna() & (promos[c.START_AT] < cutoff) & (promos[c.END_AT] >= cutoff)]
        return frozenset(live[c.SKU_ID].astype(str))

    def inputs(self, cutoff: pd.Timestamp) -> RecoInputs:
        """Everything known strictly before ``cutoff``; interactions from the declared feature set."""
        cutoff = pd.Timestamp(cutoff)
        inter = build.compute_frame(INTERACTION_FEATURES, self.lake, cutoff).drop(columns=[c.AS_OF])
        inter = inter.astype({c.USER_ID: str, c.SKU_ID: str})
        users = self.users
        if c.SIGNUP_AT in users.columns:
            users = users[~(users[c.SIGNUP_AT] >= cutoff)].drop(columns=[c.SIGNUP_AT])
        return RecoInputs(
            cutoff=cutoff,
            interactions=inter,
            purchases=self.log[self.log[c.ORDER_TS] < cutoff].reset_index(drop=True),
            products=self.products,
            users=users.reset_index(drop=True),
            stock=self.stock_at(cutoff),
            promoted=self.promoted_at(cutoff),
        ).check()

    def bought_between(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
        """Per user, the set of SKUs bought in ``[start, end)``: the next period's labels."""
        window = self.log[(self.log[c.ORDER_TS] >= start) & (self.log[c.ORDER_TS] < end)]
        return window.groupby(c.USER_ID)[c.SKU_ID].agg(lambda s: frozenset(s))

    def data_end(self) -> pd.Timestamp:
        return self.log[c.ORDER_TS].max().normalize() + pd.Timedelta(days=1)
