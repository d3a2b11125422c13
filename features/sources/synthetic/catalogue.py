"""The catalogue: suppliers and SKUs with prices, latent quality, Zipf popularity, seasons and item factors."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from features.sources.synthetic import vocab as v
from features.sources.synthetic.calendar import seasonal_log_multiplier
from features.sources.synthetic.config import SynthConfig

logger = logging.getLogger(__name__)

FACTOR_DIM = 8
_PROVINCES = ("浙江", "广东", "江苏", "福建", "山东", "上海", "河北", "四川")


@dataclass(frozen=True)
class Catalogue:
    """Column arrays, one entry per SKU (index = internal sku number) or per supplier."""

    category: np.ndarray  # int index into vocab.CATEGORIES
    item_type: np.ndarray  # int index into vocab.ITEM_TYPES
    brand: np.ndarray  # object: brand name
    name: np.ndarray  # object: product title
    price: np.ndarray  # list price, yuan
    cost: np.ndarray  # unit cost, yuan
    quality: np.ndarray  # latent quality in (0, 1): drives defects, returns, ratings
    log_pop: np.ndarray  # Zipf log popularity
    factors: np.ndarray  # (n, FACTOR_DIM) latent item vectors
    launch_day: np.ndarray  # first day on sale (0 = from the opening)
    supplier: np.ndarray  # int index into suppliers
    supplier_name: np.ndarray  # object
    supplier_lead: np.ndarray  # mean lead time in days per supplier

    @property
    def n(self) -> int:
        return len(self.price)

    def season_log(self, doy: np.ndarray) -> np.ndarray:
        """Log seasonal multiplier per (day, SKU) from the SKU's item type."""
        types = v.ITEM_TYPES
        peak = np.array([t.peak_doy for t in types], dtype=float)
        amp = np.array([t.amp for t in types])
        width = np.array([t.width for t in types])
        per_type = seasonal_log_multiplier(doy, peak, amp, width)
        return per_type[:, self.item_type]


def build_catalogue(config: SynthConfig, rng: np.random.Generator) -> Catalogue:
    """Draw the whole catalogue; nothing here depends on the day loop."""
    n = config.products
    category = rng.choice(len(v.CATEGORIES), size=n, p=np.array(v.CATEGORY_SHARE) / sum(v.CATEGORY_SHARE))
    item_type = _pick_item_types(rng, category)
    brand_idx, brand_names, brand_effect = _brands(rng, category)
    quality = 1.0 / (1.0 + np.exp(-(0.9 + brand_effect[brand_idx] + rng.normal(0, 0.9, n))))
    median = np.array([t.median_price for t in v.ITEM_TYPES])[item_type]
    raw = median * rng.lognormal(0.0, 0.45, n) * np.exp(0.25 * brand_effect[brand_idx])
    price = np.where(raw > 20, np.round(raw) - 0.1, np.round(raw, 1)).clip(1.9)
    cost = np.round(price * rng.uniform(0.45, 0.75, n), 2)
    rank = rng.permutation(n) + 1
    log_pop = -1.05 * np.log(rank) + 0.6 * (quality - 0.5)
    launch = np.where(rng.random(n) < 0.8, 0, rng.integers(1, max(2, int(config.days * 0.9)), n))
    supplier, supplier_names, lead = _suppliers(rng, category)
    return Catalogue(
        category=category, item_type=item_type, brand=brand_names[brand_idx],
        name=_titles(rng, category, item_type, brand_names[brand_idx]), price=price, cost=cost, quality=quality,
        log_pop=log_pop, factors=_factors(rng, category), launch_day=launch, supplier=supplier,
        supplier_name=supplier_names, supplier_lead=lead,
    )  # fmt: skip


def _pick_item_types(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Uniform item type within each SKU's category."""
    out = np.empty(len(category), dtype=np.int64)
    for ci, cat in enumerate(v.CATEGORIES):
        members = np.array([i for i, t in enumerate(v.ITEM_TYPES) if t.category == cat])
        mask = category == ci
        out[mask] = rng.choice(members, size=int(mask.sum()))
    return out


def _brands(rng: np.random.Generator, category: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brands are category-specific; about a dozen SKUs per brand, each brand with a quality effect."""
    combos = np.array([h + t + s for h in v.BRAND_HEADS for t in v.BRAND_TAILS for s in ("", "记", "坊", "堂")])
    combos = combos[rng.permutation(len(combos))]
    brand_idx = np.empty(len(category), dtype=np.int64)
    offset = 0
    for ci in range(len(v.CATEGORIES)):
        mask = category == ci
        k = int(np.clip(mask.sum() // 12, 3, 150))
        weights = rng.dirichlet(np.full(k, 0.8))
        brand_idx[mask] = offset + rng.choice(k, size=int(mask.sum()), p=weights)
        offset += k
    names = combos[np.arange(offset) % len(combos)].astype(object)
    return brand_idx, names, rng.normal(0.0, 0.6, offset)


def _titles(rng: np.random.Generator, category: np.ndarray, item_type: np.ndarray, brand: np.ndarray) -> np.ndarray:
    """Shop-style titles: brand, selling point, item type, spec."""
    titles = np.empty(len(category), dtype=object)
    type_names = np.array([t.name for t in v.ITEM_TYPES], dtype=object)
    for ci, cat in enumerate(v.CATEGORIES):
        mask = np.flatnonzero(category == ci)
        adj = np.array(v.ADJECTIVES[cat], dtype=object)[rng.integers(0, len(v.ADJECTIVES[cat]), len(mask))]
        titles[mask] = brand[mask] + " " + adj + type_names[item_type[mask]] + " "
    for ti, kind in enumerate(v.ITEM_TYPES):
        mask = np.flatnonzero(item_type == ti)
        specs = v.SPECS.get(kind.name, v.SPECS[kind.category])
        titles[mask] = titles[mask] + np.array(specs, dtype=object)[rng.integers(0, len(specs), len(mask))]
    return titles


def _factors(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Item vectors clustered by category, so co-views and co-purchases have structure."""
    centres = rng.normal(0.0, 1.0, (len(v.CATEGORIES), FACTOR_DIM))
    return centres[category] + rng.normal(0.0, 0.6, (len(category), FACTOR_DIM))


def _suppliers(rng: np.random.Generator, category: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Suppliers specialise in one category; each has its own quoted mean lead time."""
    n_sup_per_cat = [max(1, int(np.ceil((category == ci).sum() / 30))) for ci in range(len(v.CATEGORIES))]
    total = sum(n_sup_per_cat)
    lead = np.round(2.0 + rng.gamma(2.5, 3.0, total), 1)
    prov = np.array(_PROVINCES, dtype=object)[rng.integers(0, len(_PROVINCES), total)]
    head = np.array(v.BRAND_HEADS, dtype=object)[rng.integers(0, len(v.BRAND_HEADS), total)]
    tail = np.array(v.BRAND_TAILS, dtype=object)[rng.integers(0, len(v.BRAND_TAILS), total)]
    suffix = np.array(v.SUPPLIER_SUFFIXES, dtype=object)[rng.integers(0, len(v.SUPPLIER_SUFFIXES), total)]
    names = prov + head + tail + suffix
    supplier = np.empty(len(category), dtype=np.int64)
    start = np.cumsum([0, *n_sup_per_cat])
    for ci in range(len(v.CATEGORIES)):
        mask = category == ci
        supplier[mask] = start[ci] + rng.integers(0, n_sup_per_cat[ci], int(mask.sum()))
    return supplier, names, lead
