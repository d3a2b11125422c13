"""The steps every retraining notebook shares, so each notebook holds only what is particular to its decision.

``Retraining(decision, ...)`` walks one registered decision through what a data scientist does: look at the data
(rows and time span per split), train through the same runner and champion gate as ``shopsense train``, compare
the model with every baseline, record the gate's verdict (what the notebook test asserts), look at what drives
the model (TreeSHAP) and at the ops action list of the version just trained. Works for any registered decision.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.settings import get_settings
from training import decisions, runner, tracking
from training.decisions.spec import DecisionData, TrainOptions
from training.runner import TrainResult

TIME_COLUMNS = ("as_of", "ds", "review_ts")
LABEL_COLUMNS = ("churned", "future_spend", "is_fake_verdict", "y")
RESULTS = "notebook_result.json"


class Retraining:
    """One decision's retraining session on one dataset (settings from the ``SHOPSENSE_*`` environment)."""

    def __init__(self, decision: str, dataset: str = "synthetic", params: dict[str, Any] | None = None,
                 seed: int = 42) -> None:  # fmt: skip
        self.spec = decisions.get(decision)
        self.dataset = dataset
        self.settings = get_settings()
        tracking.configure(self.settings)
        self.options = TrainOptions(seed=seed, params=dict(params or {}))
        self.result: TrainResult | None = None
        self._data: DecisionData | None = None

    @property
    def name(self) -> str:
        return tracking.registered_name(self.spec.name, self.dataset, self.settings)

    def start(self) -> dict[str, Any]:
        """Where runs go, the champion before this session, and upstream decisions trained now (missing ones)."""
        before = tracking.champion_version(self.name)
        trained = []
        for spec in decisions.in_dependency_order([self.spec.name])[:-1]:
            if tracking.champion_version(tracking.registered_name(spec.name, self.dataset, self.settings)) is None:
                up = runner.run_decision(spec.name, self.dataset, TrainOptions(), self.settings)
                trained.append(f"{spec.name} v{up.version} @{up.alias}")
        return {"tracking": self.settings.tracking_uri, "champion_before": before, "upstream_trained_now": trained}

    @property
    def data(self) -> DecisionData:
        """The decision's time-split rows (upstream outputs joined), loaded once."""
        if self._data is None:
            paths = self.settings.dataset(self.dataset)
            self._data = runner.prepare(self.spec, paths, self.settings, self.options)
        return self._data

    def describe(self) -> pd.DataFrame:
        """Rows, time span and label mean per split: the split is by time, never random."""
        rows = []
        for role, part in self.data.parts.items():
            row: dict[str, Any] = {"part": role, "rows": len(part)}
            when = next((col for col in TIME_COLUMNS if col in part.columns), None)
            if when is not None and len(part):
                row["from"], row["to"] = str(part[when].min())[:10], str(part[when].max())[:10]
            for label in LABEL_COLUMNS:
                if label in part.columns:
                    row[f"mean {label}"] = float(pd.to_numeric(part[label], errors="coerce").mean())
            rows.append(row)
        return pd.DataFrame(rows)

    def train(self) -> pd.DataFrame:
        """Fit, evaluate beside every baseline, log to MLflow, register, gate; the model and baselines side by side."""
        self.result = runner.run_decision(self.spec.name, self.dataset, self.options, self.settings)
        return pd.DataFrame({"model": self.result.metrics, **self.result.baselines}).T

    @property
    def model(self) -> Any:
        """The version this session trained (champion or challenger)."""
        return tracking.load_model(self.result.model_name, self.result.version)

    def verdict(self, must_beat: tuple[str, ...] | None = None, allow_tie: bool = False,
                checks: dict[str, bool] | None = None) -> dict[str, Any]:  # fmt: skip
        """The gate's verdict and the model against its baselines (``must_beat``: these, default all), saved to
        ``notebook_result.json`` for the notebook test.

        ``allow_tie``: a model that may fall back to its baseline (tiering falls back to the handbook RFM rules when
        K-means is less stable) must be at least as good as it, not strictly better.
        """
        result = self.result
        metric, direction = result.extra["primary"]
        gate = result.extra["gate"]
        model = float(result.metrics[metric])
        chosen = {k: v for k, v in result.baselines.items() if must_beat is None or k in must_beat}
        values = {k: float(b[metric]) for k, b in chosen.items() if metric in b and np.isfinite(b[metric])}
        checks = dict(checks or {})
        for name, value in values.items():
            better = model > value if direction == "higher" else model < value
            checks[f"beats_{name}"] = bool(better or (allow_tie and np.isclose(model, value)))
        summary = {
            "decision": result.decision, "metric": metric, "direction": direction, "model": model,
            "baselines": values, "alias": result.alias, "version": result.version,
            "new_score": gate["new_score"], "champion_score_before": gate["champion_score"], "checks": checks,
        }  # fmt: skip
        path = Path(RESULTS)
        stored = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**stored, result.decision: summary}, indent=1))
        return summary

    def context(self, lang: str = "en") -> Any:
        """The report context (latest rows, upstream joined) of the version this session trained."""
        from training.reports import build

        paths = self.settings.dataset(self.dataset)
        return build.context(self.spec, paths, self.settings, lang, {}, version=self.result.version)

    def drivers(self, rows: int = 500) -> pd.DataFrame | None:
        """Global TreeSHAP importance on the latest rows (None: the model has no tree to explain)."""
        from training.reports import card

        hooks = self.spec.report
        if hooks is None or hooks.contributions is None:
            return None
        ctx = self.context()
        contributions, values = hooks.contributions(ctx.model, card.sample(ctx.latest, rows))
        if not len(contributions):
            return None
        table = card.importance(contributions, values).head(10)
        return table.assign(label=[ctx.label(f) for f in table["feature"]])

    def actions(self, lang: str = "en") -> Any:
        """The ops action list of this version, as the report shows it (rendered HTML in a notebook)."""
        from IPython.display import HTML

        hooks = self.spec.report
        if hooks is None or hooks.actions is None:
            return None
        return HTML(hooks.actions(self.context(lang)).body)
