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
- ``realised``: performance of predictions whose outcome is now known (monitoring).
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
