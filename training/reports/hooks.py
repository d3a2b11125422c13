"""What a decision may add to its ops report and its monitoring: one optional ``DecisionSpec.report`` object.

Everything else (model card from the MLflow run, SHAP importance in words and chart, one entity's explanation,
feature and prediction drift, the retrain recommendation) is generic over the registry. A decision without hooks
still gets a report with its model card and the holdout rows; each hook it fills adds one thing:

- ``latest``: the newest rows to act on (e.g. user features as of the end of the data), upstream not yet joined;
  without it the report and monitoring use the training holdout as "latest";
- ``contributions``: per-row SHAP values (one column per model input plus ``bias``) and the values they belong
  to, which turns on global importance, the waterfall and the reasons in words;
- ``score``: the one number per row whose drift matters (churn probability, predicted spend);
- ``actions``: the ops action list and the headline KPIs (the index's 运营看板 reads the KPIs);
- ``realised``: performance of predictions whose outcome is now known (monitoring); without it monitoring scores
  the champion on the holdout of the current data (the decision's own ``score``: forecasts against the latest
  sales, rankings against the latest purchases);
- ``latest_model``: the newest rows read from the fitted model itself (stored reviews, SKUs, users of the
  recommender) when the model carries them, instead of ``latest``;
- ``drift``: which rows and columns monitoring compares, when the model's ``feature_names`` are not the rows'
  columns (a demand panel, review behaviour behind a text model);
- ``record``: the decision's answer for one entity as flat fields (default: ``model.decide(row)[0]``);
- ``labels``: readable (zh, en) names of the decision's own features (lags, ranker inputs) for charts and words;
- ``ageing``: features that grow with calendar time by construction (days since signup, totals ever): their drift
  is shown but is no retrain reason by itself (realised performance and prediction drift are).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.settings import DatasetPaths, Settings


@dataclass
class Section:
    """A block of the report: a title, HTML body, and headline figures for the index (label -> formatted value).

    ``numbers`` are the figures a reader must find on the rendered page (the browser test checks them).
    """

    title: str
    body: str
    kpis: dict[str, str] = field(default_factory=dict)
    numbers: list[str] = field(default_factory=list)


@dataclass
class ReportContext:
    """What a hook gets: the decision, its champion and the rows, in one language."""

    spec: Any  # DecisionSpec (not imported here: the spec module imports this one)
    paths: DatasetPaths
    settings: Settings
    lang: str
    model: Any
    model_name: str
    version: str
    latest: pd.DataFrame  # upstream joined
    as_of: pd.Timestamp | None
    cache: dict[str, Any] = field(default_factory=dict)  # shared across decisions within one build

    def t(self, zh: str, en: str) -> str:
        return zh if self.lang == "zh" else en

    def label(self, feature: str) -> str:
        """The feature's readable name in the page's language (the decision's ``labels`` first)."""
        return feature_labels(self.spec.report, feature)[0 if self.lang == "zh" else 1]


@dataclass(frozen=True)
class ReportHooks:
    """Per-decision additions to the generic report and monitoring (see the module docstring)."""

    id_column: str
    latest: Callable[[DatasetPaths, Settings], tuple[pd.DataFrame, pd.Timestamp]] | None = None
    contributions: Callable[[Any, pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]] | None = None
    score: Callable[[Any, pd.DataFrame], np.ndarray] | None = None
    actions: Callable[[ReportContext], Section] | None = None
    realised: Callable[[ReportContext], dict[str, Any]] | None = None
    score_label: tuple[str, str] = ("预测值", "prediction")
    log_field: str | None = None  # the served record field the prediction log holds for ``score``
    latest_model: Callable[[Any], tuple[pd.DataFrame, pd.Timestamp | None]] | None = None
    drift: Callable[[ReportContext, Any], tuple[pd.DataFrame, pd.DataFrame, list[str]]] | None = None
    record: Callable[[ReportContext, pd.DataFrame, str], dict[str, Any]] | None = None
    labels: Callable[[str], tuple[str, str] | None] | None = None
    ageing: tuple[str, ...] = ()


def feature_labels(hooks: ReportHooks | None, feature: str) -> tuple[str, str]:
    """(zh, en) name of a feature: the decision's own ``labels`` hook, else the shared vocabulary."""
    from models.reasons import feature_label

    found = hooks.labels(feature) if hooks is not None and hooks.labels is not None else None
    return found or feature_label(feature)
