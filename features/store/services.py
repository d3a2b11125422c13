"""Which feature views exist and which feature service each model version is trained and served on.

Pure data, no Feast import: models and the service import :data:`FEATURE_SERVICES` cheaply to name the service
they were trained on, and the store registers exactly these services so the online lookup fetches exactly the
features the model saw in training.
"""

from __future__ import annotations

from datetime import timedelta

# Snapshot feature sets: one row per entity per cutoff, looked up by key online. ``sku_daily`` is left out on
# purpose: it is the long-format sales history the forecaster reads offline, not a per-key online lookup.
SNAPSHOT_SETS: tuple[str, ...] = ("user", "sku", "reviewer", "review", "interactions")

# How far back an online or point-in-time lookup may reach for the latest ``as_of`` row. Cutoffs are monthly, so
# anything over a month would do for fresh data; 400 days keeps a model usable on a lake refreshed only yearly
# (and on public datasets that end years ago) while still refusing rows older than one full seasonal cycle.
VIEW_TTL = timedelta(days=400)

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
