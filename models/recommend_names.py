"""The recommend decision's names that its model, its training spec and the service share.

Why a module of its own: the service's BentoML arbiter imports every decision's spec for the routes and never ranks;
a spec reading these names from :mod:`models.recommend` loaded LightGBM, implicit and the feature builder there.
"""

from __future__ import annotations

FEATURE_SERVICE = "recommend_v1"
#: The tables a shop needs for recommendations (events, inventory, promotions and users' city/channel add more).
MINIMAL_TABLES = ("users", "products", "orders", "order_items")
