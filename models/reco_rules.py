"""Business rules applied after ranking, each one counted in the answer, and the shopper-readable reasons.

Order matters and is fixed: caller filters, stock, just-bought durables, then diversity in the top 10 and the
optional promoted/new slot. A rule never invents an item: it removes, defers or moves ranked ones, and says how
many it touched, so a thin list can be traced to the rule that thinned it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from features import columns as c
from models.decision import KNOWN, FeatureLookup, looked_up_floats

logger = logging.getLogger(__name__)

#: The online feature service holding the SKU view alone (keyed by ``sku_id``): its ``on_hand`` is the last
#: closing stock the online store was materialized with, i.e. current on-hand at serving time.
STOCK_SERVICE = "demand_v1"
Lookup = FeatureLookup  # the runtime's online lookup (models/decision.py)

REASONS: dict[str, tuple[str, str]] = {
    "repeat": ("你买过 {n} 次: {anchor}", "You bought this {n} times: {anchor}"),
    "knn_purchase": ("常一起购买: {anchor}", "Often bought together with {anchor}"),
    "knn_view": ("因为你浏览了 {anchor}", "Because you viewed {anchor}"),
    "knn_recent": ("因为你最近买了 {anchor}", "Because you recently bought {anchor}"),
    "ease": ("买过 {anchor} 的顾客也买了", "Shoppers who bought {anchor} also bought this"),
    "als": ("与你口味相近的顾客也喜欢", "Shoppers with similar taste like this"),
    "popularity": ("{category} 本周热销", "Top seller in {category} this week"),
    "similar_purchase": ("常一起购买: {anchor}", "Often bought together with {anchor}"),
    "similar_view": ("浏览 {anchor} 的顾客也看了", "Shoppers who viewed {anchor} also viewed this"),
    "similar_content": ("与 {anchor} 同类相似", "Similar to {anchor} (category, brand, price, title)"),
    "promotion": ("促销中: {category}", "On promotion in {category}"),
    "new": ("新品上架: {category}", "New arrival in {category}"),
}
#: The same reasons for an item whose category the shop never gave (``unknown``): no category in the sentence.
REASONS_NO_CATEGORY: dict[str, tuple[str, str]] = {
    "popularity": ("本周热销", "Top seller this week"),
    "promotion": ("促销中", "On promotion"),
    "new": ("新品上架", "New arrival"),
}
UNKNOWN_CATEGORIES = ("", "unknown", "None", "nan")


def reason(source: str, **values: object) -> tuple[str, str]:
    """The zh and en reason for a source, filled with the anchor item, a count or a category."""
    values = {"anchor": "", "n": "", "category": "", **values}
    no_category = str(values["category"]) in UNKNOWN_CATEGORIES and source in REASONS_NO_CATEGORY
    zh, en = REASONS_NO_CATEGORY[source] if no_category else REASONS[source]
    return zh.format(**values), en.format(**values)


@dataclass(frozen=True)
class Filters:
    """Caller filters: allowed categories, a price band (inclusive), SKUs never to show."""

    categories: tuple[str, ...] | None = None
    min_price: float | None = None
    max_price: float | None = None
    exclude: frozenset[str] = field(default_factory=frozenset)

    def keep(self, sku: str, category: str, price: float) -> bool:
        if self.categories is not None and category not in self.categories:
            return False
        if self.min_price is not None and not price >= self.min_price:
            return False
        if self.max_price is not None and not price <= self.max_price:
            return False
        return sku not in self.exclude


@dataclass(frozen=True)
class RuleConfig:
    """Knobs of the rules; defaults are what the service applies when the caller says nothing."""

    max_per_category: int = 4
    diversity_depth: int = 10
    just_bought_days: float = 30.0
    slot_position: int = 3
    new_item_days: float = 30.0


@dataclass
class Candidate:
    """One ranked item on its way through the rules."""

    item: int
    sku: str
    score: float
    category: str
    price: float
    source: str
    badges: list[str] = field(default_factory=list)


def apply_rules(
    ranked: list[Candidate],
    k: int,
    filters: Filters,
    in_stock: dict[str, bool],
    blocked: set[str],
    slot: Candidate | None,
    config: RuleConfig,
) -> tuple[list[Candidate], dict[str, object]]:
    """Filter, then stock, then just-bought durables (``blocked``), then diversity and the promotion slot.

    ``in_stock`` maps SKU -> available (missing = unknown, kept and badged). Returns the top ``k`` and a count of
    what each rule did.
    """
    applied: dict[str, object] = {"filters": 0, "in_stock": 0, "just_bought_durable": 0, "diversity_deferred": 0}
    kept = []
    for cand in ranked:
        if not filters.keep(cand.sku, cand.category, cand.price):
            applied["filters"] = int(applied["filters"]) + 1
        elif not in_stock.get(cand.sku, True):
            applied["in_stock"] = int(applied["in_stock"]) + 1
        elif cand.sku in blocked:
            applied["just_bought_durable"] = int(applied["just_bought_durable"]) + 1
        else:
            if cand.sku not in in_stock:
                cand.badges.append("stock_unknown")
            kept.append(cand)
    top, deferred, per_cat = [], [], {}
    for cand in kept:
        full = per_cat.get(cand.category, 0) >= config.max_per_category
        if full and len(top) < config.diversity_depth:
            deferred.append(cand)
            continue
        per_cat[cand.category] = per_cat.get(cand.category, 0) + 1
        top.append(cand)
    applied["diversity_deferred"] = len(deferred)
    out = (top + deferred)[:k]
    applied["slot"] = None
    eligible = slot is not None and filters.keep(slot.sku, slot.category, slot.price) and in_stock.get(slot.sku, True)
    if eligible and slot.sku not in {x.sku for x in out} and slot.sku not in blocked:
        position = min(config.slot_position - 1, len(out))
        out = [*out[:position], slot, *out[position:]][:k]
        applied["slot"] = slot.sku
    return out, applied


@dataclass
class LiveStock:
    """Current on-hand for one request: the caller's overrides over the online store, each SKU read at most once.

    ``lookup`` is the serving runtime's online feature lookup (``Runtime.lookup``); without one, or when the
    store cannot answer, only the overrides are live and the model's cutoff snapshot decides the rest.
    """

    overrides: Mapping[str, float] = field(default_factory=dict)
    lookup: Lookup | None = None
    online_: dict[str, float] = field(default_factory=dict)
    asked_: set[str] = field(default_factory=set)

    def fetch(self, skus: Iterable[str]) -> None:
        """Read the SKUs not read yet in one online call (batch callers prefetch every candidate at once)."""
        need = [s for s in dict.fromkeys(skus) if s not in self.asked_ and s not in self.overrides]
        if self.lookup is None or not need:
            return
        self.asked_.update(need)
        try:
            # on-hand alone: the SKU view has 15 columns, and decoding them all cost 2 ms a request
            columns = self.lookup(STOCK_SERVICE, need, columns=(c.ON_HAND,))
            units = looked_up_floats(columns[c.ON_HAND])
            known = np.asarray(columns[KNOWN], dtype=bool)
        except Exception as err:  # the snapshot is still a sound answer without the online store
            logger.warning("online stock lookup failed, using the cutoff snapshot: %s", err)
            return
        self.online_.update({s: float(u) for s, u, k in zip(need, units, known, strict=True) if k and u == u})

    def current(self, skus: Sequence[str]) -> dict[str, float]:
        """On-hand of the ``skus`` that have a live value (override first, then online)."""
        self.fetch(skus)
        out = {s: self.online_[s] for s in skus if s in self.online_}
        if self.overrides:
            out.update({s: float(self.overrides[s]) for s in skus if s in self.overrides})
        return out


def stock_flags(skus: list[str], snapshot: dict[str, float], live: dict[str, float] | None) -> dict[str, bool]:
    """SKU -> in stock, from the live mapping (serving) over the cutoff snapshot; unknown SKUs are left out."""
    out = {}
    for sku in skus:
        units = live.get(sku) if live is not None and sku in live else snapshot.get(sku)
        if units is not None and units == units:  # not NaN (np.isnan on one float costs ~1 us, 50 a request)
            out[sku] = bool(units > 0)
    return out
