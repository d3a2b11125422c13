"""The shape every decision declares: its entity and features, how it trains and is judged, and how it is served.

A spec is data, not code paths: :func:`training.runner.run_decision` walks any spec through dataset -> fit ->
evaluate against baselines -> MLflow -> registry -> champion gate, the CLI and the demo list the registry, and the
service turns each :class:`Route` into an HTTP endpoint. Adding a decision means writing a spec, never a new branch
in those places (see ``training/decisions/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel

from features.settings import DatasetPaths, Settings
from models.decision import DecisionModel

if TYPE_CHECKING:
    from training.reports.hooks import ReportHooks

Entity = Literal["user", "sku", "review", "user_sku", "none"]
Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class TrainOptions:
    """What a caller may choose per run (the CLI's flags); ``horizon_days`` None = the decision's own default."""

    seed: int = 42
    horizon_days: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # estimator overrides (notebook trials)


@dataclass
class DecisionData:
    """Point-in-time rows of one decision, split by time into roles (``train``, ``validation``, ``test`` ...).

    ``parts`` are what upstream decisions' outputs are joined onto (as columns) before fitting; ``extra`` carries
    anything decision-specific (a long-format panel, an interaction matrix) the spec's own functions need.
    """

    parts: dict[str, pd.DataFrame]
    feature_names: list[str]
    lineage: dict[str, Any]
    holdout: str = "test"
    extra: dict[str, Any] = field(default_factory=dict)

    def part(self, role: str) -> pd.DataFrame:
        try:
            return self.parts[role]
        except KeyError:
            raise KeyError(f"no {role!r} rows; roles: {', '.join(self.parts)}") from None

    def example(self, rows: int = 5) -> pd.DataFrame:
        """A few holdout rows of the model's inputs (the MLflow input example before anonymising)."""
        return self.part(self.holdout).head(rows)


@dataclass
class Evaluation:
    """The model and every baseline scored on the same holdout, plus what MLflow should keep beside them."""

    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # file name -> matplotlib Figure
    documents: dict[str, Any] = field(default_factory=dict)  # file name -> JSON-able dict
    #: The gate's score of this model when ``evaluate`` already computed it (``spec.score`` would repeat the work).
    score: float | None = None


@dataclass(frozen=True)
class Call:
    """What one HTTP request asks a decision for: entity ids to look up online, or rows given by the caller.

    ``ids`` None and ``rows`` None = a request about no stored entity (a popular list); ``params`` go to ``decide``.
    """

    ids: list[str] | None = None
    rows: list[dict[str, Any]] | None = None
    row_ids: list[str | None] | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """One endpoint of a decision: path, pydantic request/response, and how a request becomes a :class:`Call`."""

    path: str
    request: type[BaseModel]
    response: type[BaseModel]
    summary: str
    call: Callable[[Any], Call]
    id_field: str = "user_id"
    unknown_status: str = "unknown_user"


@dataclass(frozen=True)
class DecisionSpec:
    """Everything the runner, the CLI, the demo, the champion sync and the service need to know of a decision.

    Attributes:
        name: registry key and MLflow name stem (``shopsense-<name>``).
        entity: what one record is about; the online lookup key of the routes.
        feature_service: the Feast feature service the model reads online.
        description: one line for ``--help`` and the README.
        load: dataset builder ``(paths, settings, options) -> DecisionData`` (point in time, split by time).
        fit: ``(data, options, champion) -> DecisionModel``: the pure model that is logged, registered and served;
            ``champion`` is the current champion's model (None at first), e.g. to keep tier names stable.
        evaluate: ``(model, data, options) -> Evaluation``: the model and its baselines on the holdout.
        score: ``(model, data) -> float``: the primary metric of any version on this data's holdout (the gate).
        primary: (metric name, "higher" | "lower").
        depends_on: decisions whose records are joined as columns before this one fits and decides.
        provides: the record fields that dependants receive as columns.
        routes: HTTP endpoints (none for a decision that only feeds others).
        horizon_days: the default label or forecast horizon, shown in ``--help``.
        requires: lake tables without which the decision cannot train (checked before anything runs).
        decide_params: the parameters ``decide`` accepts, with defaults (the MLflow signature's params).
        input_example: a made-up model input (one row) when the default (the holdout's medians of the model's
            ``feature_names``) does not fit, e.g. a model whose input is an id list rather than feature columns.
        report: optional additions to the ops report and monitoring (latest rows, SHAP, action list, realised
            performance; see ``training/reports/hooks.py``); without it the generic report still has the model card.
        typical_seconds: rough training seconds on the default world; when decisions train side by side the longest
            chains start first (:mod:`training.parallel`), nothing else depends on it.
    """

    name: str
    entity: Entity
    feature_service: str
    description: str
    load: Callable[[DatasetPaths, Settings, TrainOptions], DecisionData]
    fit: Callable[[DecisionData, TrainOptions, DecisionModel | None], DecisionModel]
    evaluate: Callable[[DecisionModel, DecisionData, TrainOptions], Evaluation]
    score: Callable[[DecisionModel, DecisionData], float]
    primary: tuple[str, Direction]
    depends_on: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    horizon_days: int | None = None
    requires: tuple[str, ...] = ()
    decide_params: Mapping[str, Any] = field(default_factory=dict)
    input_example: Callable[[DecisionModel, DecisionData], pd.DataFrame] | None = None
    report: ReportHooks | None = None
    typical_seconds: float = 30.0

    @property
    def higher_is_better(self) -> bool:
        return self.primary[1] == "higher"
