"""Every declared feature set by name; the CLI, the Feast repo, the tests and training look them up here."""

from __future__ import annotations

from importlib import import_module

from features.spec import FeatureSet

# name -> "module:attribute"; modules are imported on first use so `shopsense --help` stays fast.
_LOCATIONS: dict[str, str] = {
    "user": "features.users:USER_FEATURES",
    "sku": "features.skus:SKU_FEATURES",
    "sku_daily": "features.skus:SKU_DAILY_FEATURES",
    "review": "features.reviews:REVIEW_FEATURES",
    "reviewer": "features.reviews:REVIEWER_FEATURES",
    "interactions": "features.interactions:INTERACTION_FEATURES",
}

FEATURE_SET_NAMES: tuple[str, ...] = tuple(_LOCATIONS)


def get(name: str) -> FeatureSet:
    """The feature set called ``name`` (user, sku, sku_daily, review, reviewer, interactions)."""
    try:
        module, attribute = _LOCATIONS[name].split(":")
    except KeyError:
        raise KeyError(f"unknown feature set {name!r}; known: {', '.join(FEATURE_SET_NAMES)}") from None
    return getattr(import_module(module), attribute)
