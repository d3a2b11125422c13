"""What the recommender knows at one cutoff, as pandas frames in and sparse user x item matrices out.

:class:`RecoInputs` is the boundary between the feature layer and the pure model: the ``interactions`` feature set
(decayed strength per user x SKU), the purchase log, the catalogue, the users, the stock snapshot and the SKUs on
promotion, all strictly before ``cutoff``. :class:`Matrices` indexes them once (scipy CSR) so every generator and
the ranker's features read the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import columns as c

WEIGHT = "weight"
PURCHASES = "purchases"
VIEW_KINDS = ("views", "carts", "favourites")
DAYS_SINCE_LAST = "days_since_last"
#: Up to this many ids are found one by one (a request's few users); more go through one pandas index lookup.
FEW_IDS = 16
#: Columns a shop needs in the purchase log (order lines joined to their order's user and time).
LOG_COLUMNS = (c.USER_ID, c.SKU_ID, c.ORDER_TS, c.QUANTITY, c.UNIT_PRICE)
#: Catalogue columns the recommender reads; all but the SKU id and category may be null.
PRODUCT_COLUMNS = (c.SKU_ID, c.PRODUCT_NAME, c.CATEGORY, c.BRAND, c.LIST_PRICE, c.LAUNCHED_AT)


@dataclass
class RecoInputs:
    """Everything known at ``cutoff`` (each frame holds only rows strictly before it).

    Attributes:
        interactions: the ``interactions`` feature set (user_id, sku_id, weight, purchases, days_since_last and,
            when the shop has behaviour events, views/carts/favourites).
        purchases: purchase log with :data:`LOG_COLUMNS` (non-cancelled order lines of known users).
        products: the catalogue (:data:`PRODUCT_COLUMNS`).
        users: user_id plus optional city and channel (context for cold-start popular lists).
        stock: on-hand units per SKU at the cutoff, or None when the shop has no inventory table.
        promoted: SKUs on promotion at the cutoff.
    """

    cutoff: pd.Timestamp
    interactions: pd.DataFrame
    purchases: pd.DataFrame
    products: pd.DataFrame
    users: pd.DataFrame
    stock: pd.Series | None = None
    promoted: frozenset[str] = field(default_factory=frozenset)

    def check(self) -> RecoInputs:
        """Refuse frames that reach the cutoff: a model fitted on them would see the future."""
        if len(self.purchases) and self.purchases[c.ORDER_TS].max() >= self.cutoff:
            raise ValueError(f"purchase log reaches {self.purchases[c.ORDER_TS].max()} >= cutoff {self.cutoff}")
        if len(self.interactions) and (self.interactions[DAYS_SINCE_LAST] < 0).any():
            raise ValueError("interactions dated after the cutoff (negative days_since_last)")
        missing = [col for col in LOG_COLUMNS if col not in self.purchases.columns]
        if missing:
            raise ValueError(f"purchase log lacks column(s) {missing}")
        return self


def _csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    out = sp.coo_matrix((values.astype("float32"), (rows, cols)), shape=shape).tocsr()
    out.sum_duplicates()
    return out


@dataclass
class Matrices:
    """Indexed view of :class:`RecoInputs`: ids <-> positions and CSR matrices of shape users x items.

    ``touch`` stores ``days_since_last + 1`` so an explicit zero means "never touched".
    """

    cutoff: pd.Timestamp
    user_ids: pd.Index
    item_ids: pd.Index
    weight: sp.csr_matrix
    bought: sp.csr_matrix
    viewed: sp.csr_matrix | None
    touch: sp.csr_matrix
    log_user: np.ndarray
    log_item: np.ndarray
    log_age: np.ndarray
    log_qty: np.ndarray
    price: np.ndarray
    category: np.ndarray
    launch_age: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    def user_index(self, ids: pd.Series | list[str]) -> np.ndarray:
        """Positions of user ids, -1 for unknown users (cold start)."""
        if len(ids) <= FEW_IDS:  # a request's few ids: hash lookups, without building an index of them
            return np.array([_position(self.user_ids, str(u)) for u in ids], dtype=np.intp)
        return self.user_ids.get_indexer(pd.Index([str(u) for u in ids]))

    def buyers(self) -> np.ndarray:
        """Distinct buyers per item before the cutoff."""
        return np.asarray((self.bought > 0).sum(axis=0)).ravel()


def _position(index: pd.Index, key: str) -> int:
    """Position of ``key`` in a unique index, -1 when absent."""
    try:
        return int(index.get_loc(key))
    except KeyError:
        return -1


def _item_prices(inputs: RecoInputs, items: pd.Index) -> np.ndarray:
    """List price, falling back to the median paid price (Online Retail has many lines per SKU, few list prices)."""
    listed = inputs.products.set_index(c.SKU_ID)[c.LIST_PRICE].reindex(items).astype("float64")
    paid = inputs.purchases.groupby(c.SKU_ID)[c.UNIT_PRICE].median().reindex(items)
    return listed.fillna(paid).fillna(paid.median() if paid.notna().any() else 0.0).to_numpy("float64")


def build_matrices(inputs: RecoInputs) -> Matrices:
    """Index users (anyone with an interaction or a user row) and items (the catalogue plus any SKU seen)."""
    inputs.check()
    inter, log = inputs.interactions, inputs.purchases
    user_ids = pd.Index(pd.unique(pd.concat([inputs.users[c.USER_ID], inter[c.USER_ID], log[c.USER_ID]]).astype(str)))
    item_ids = pd.Index(pd.unique(pd.concat([inputs.products[c.SKU_ID], inter[c.SKU_ID], log[c.SKU_ID]]).astype(str)))
    shape = (len(user_ids), len(item_ids))
    ur = user_ids.get_indexer(inter[c.USER_ID].astype(str))
    ic = item_ids.get_indexer(inter[c.SKU_ID].astype(str))
    views = [k for k in VIEW_KINDS if k in inter.columns]
    viewed = _csr(ur, ic, inter[views].sum(axis=1).to_numpy("float64"), shape) if views else None
    if viewed is not None:
        viewed.eliminate_zeros()
    lu = user_ids.get_indexer(log[c.USER_ID].astype(str))
    li = item_ids.get_indexer(log[c.SKU_ID].astype(str))
    age = ((inputs.cutoff - log[c.ORDER_TS]).dt.total_seconds() / 86400.0).to_numpy("float64")
    products = inputs.products.set_index(c.SKU_ID).reindex(item_ids)
    launched = products[c.LAUNCHED_AT] if c.LAUNCHED_AT in products else pd.Series(pd.NaT, index=item_ids)
    first_sale = log.groupby(c.SKU_ID)[c.ORDER_TS].min().reindex(item_ids)
    since = launched.where(launched.notna(), first_sale)
    return Matrices(
        cutoff=inputs.cutoff,
        user_ids=user_ids,
        item_ids=item_ids,
        weight=_csr(ur, ic, inter[WEIGHT].to_numpy("float64"), shape),
        bought=_csr(ur, ic, inter[PURCHASES].to_numpy("float64"), shape),
        viewed=viewed,
        touch=_csr(ur, ic, inter[DAYS_SINCE_LAST].to_numpy("float64") + 1.0, shape),
        log_user=lu,
        log_item=li,
        log_age=age,
        log_qty=log[c.QUANTITY].to_numpy("float64"),
        price=_item_prices(inputs, item_ids),
        category=products[c.CATEGORY].fillna("unknown").astype(str).to_numpy(),
        launch_age=((inputs.cutoff - since).dt.total_seconds() / 86400.0).to_numpy("float64"),
    )
