"""Every decision by name; the runner, the CLI, the demo, the champion sync and the service iterate over this.

Specs are imported on first use (like :mod:`features.registry`), so ``shopsense --help`` stays fast. Order matters
only for humans; :func:`in_dependency_order` sorts any selection so upstream decisions come first.

A spec module imports its models, their libraries (LightGBM, scikit-learn, mlforecast, statsforecast, implicit) and
the feature builders inside the functions that fit and score, and the names its routes need from a light module
(e.g. :mod:`models.demand_names`). Why: the service's BentoML arbiter imports every spec for the routes alone and
never fits or loads a model; with the models at the top, ``import serving.service`` took 9.3-9.7 s of every service
start there, 2.4-3.0 s without (``tests/unit/test_decision_registry.py`` keeps them out).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module

from training.decisions.spec import DecisionSpec

# name -> "module:attribute"
_LOCATIONS: dict[str, str] = {
    "ltv": "training.decisions.ltv:SPEC",
    "tiering": "training.decisions.tiering:SPEC",
    "churn": "training.decisions.churn:SPEC",
    "reviews": "training.decisions.reviews:SPEC",
    "demand": "training.decisions.demand:SPEC",
    "recommend": "training.decisions.recommend:SPEC",
}

DECISION_NAMES: tuple[str, ...] = tuple(_LOCATIONS)


def get(name: str) -> DecisionSpec:
    """The spec of decision ``name``."""
    try:
        module, attribute = _LOCATIONS[name].split(":")
    except KeyError:
        raise KeyError(f"unknown decision {name!r}; known: {', '.join(DECISION_NAMES)}") from None
    return getattr(import_module(module), attribute)


def all_specs() -> list[DecisionSpec]:
    return in_dependency_order(DECISION_NAMES)


def in_dependency_order(names: Iterable[str]) -> list[DecisionSpec]:
    """The named decisions and everything they depend on, each after its dependencies.

    Raises:
        ValueError: a dependency cycle.
    """
    ordered: list[DecisionSpec] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if any(spec.name == name for spec in ordered):
            return
        if name in visiting:
            raise ValueError(f"decision dependency cycle through {name!r}")
        visiting.add(name)
        spec = get(name)
        for dep in spec.depends_on:
            visit(dep)
        visiting.discard(name)
        ordered.append(spec)

    for name in names:
        visit(name)
    return ordered
