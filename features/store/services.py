"""Which feature views exist and which feature service each model version is trained and served on.

Pure data, no Feast import: models and the service import :data:`FEATURE_SERVICES` cheaply to name the service
they were trained on, and the store registers exactly these services so the online lookup fetches exactly the
features the model saw in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from features import columns as c

# Snapshot feature sets: one row per entity per cutoff, looked up by key online. ``sku_daily`` is left out on
# purpose: it is the long-format sales history the forecaster reads offline, not a per-key online lookup.
SNAPSHOT_SETS: tuple[str, ...] = ("user", "sku", "reviewer", "review", "interactions")

# How far back an online or point-in-time lookup may reach for the latest ``as_of`` row. Cutoffs are monthly, so
# anything over a month would do for fresh data; 400 days keeps a model usable on a lake refreshed only yearly
# (and on public datasets that end years ago) while still refusing rows older than one full seasonal cycle.
VIEW_TTL = timedelta(days=400)


@dataclass(frozen=True)
class OnlineLimit:
    """Keep only the ``top_n`` rows with the largest ``by`` per ``per`` key online (``Settings.online_top_n``)."""

    per: str
    by: str


# Views whose offline table is far larger than what serving reads. ``interactions`` holds every user x SKU pair
# ever touched (910k rows for 21.6k users in the default world, about 1 GB online in Feast's row format). The
# recommender answers from its own fitted state; an online pair lookup (why this item, recent strong interests)
# needs only a user's strongest pairs, so the online store keeps each user's top ``Settings.online_top_n`` (20:
# 319k rows) by decayed weight; a pair outside them reads as "never interacted" (null pair features, still known).
# Offline (training) frames always hold every row.
ONLINE_LIMITS: dict[str, OnlineLimit] = {"interactions": OnlineLimit(per=c.USER_ID, by="weight")}

# service name -> feature views, in the column order models receive them. Bump the version (``churn_v2``) when a
# model starts using a different set of views; keep the old entry while a deployed model still names it.
FEATURE_SERVICES: dict[str, list[str]] = {
    "churn_v1": ["user"],
    "tiering_v1": ["user"],
    "demand_v1": ["sku"],
    "reviews_v1": ["review", "reviewer"],
    "recommend_v1": ["user", "sku", "interactions"],
}


def service_views(service: str) -> list[str]:
    """The views of ``service``, or a KeyError that lists the services that exist."""
    try:
        return FEATURE_SERVICES[service]
    except KeyError:
        raise KeyError(f"unknown feature service {service!r}; known: {', '.join(FEATURE_SERVICES)}") from None


def full_feature_names(service: str) -> bool:
    """Whether columns are named ``<view>__<feature>``: yes when a service spans views, so names cannot clash.

    The rule depends only on the service's declaration, so a model's column names never change because another
    view happened to gain a feature with the same name.
    """
    return len(service_views(service)) > 1
