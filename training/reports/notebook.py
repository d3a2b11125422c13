"""Small helpers the retraining notebooks share, so each notebook reads as the steps, not as plumbing.

A notebook for a new decision is a copy of ``notebooks/ltv_retraining.py`` with the decision's name and its
estimator parameters changed: every helper here works for any registered decision.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.settings import Settings
from training import decisions, runner, tracking
from training.decisions.spec import TrainOptions
from training.runner import TrainResult


def train_upstream(decision: str, dataset: str, settings: Settings) -> list[str]:
    """Train every upstream decision that has no champion on ``dataset`` yet (what ``decision`` reads)."""
    trained = []
    for spec in decisions.in_dependency_order([decision])[:-1]:
        if tracking.champion_version(tracking.registered_name(spec.name, dataset, settings)) is None:
            result = runner.run_decision(spec.name, dataset, TrainOptions(), settings)
            trained.append(f"{spec.name} v{result.version} @{result.alias}")
    return trained


def describe(decision: str, dataset: str, settings: Settings, options: TrainOptions) -> pd.DataFrame:
    """Rows, time span and label summary per part of the decision's data (what you look at before training)."""
    data = runner.prepare(decisions.get(decision), settings.dataset(dataset), settings, options)
    rows = []
    for role, part in data.parts.items():
        row: dict[str, Any] = {"part": role, "rows": len(part)}
        if "as_of" in part.columns and len(part):
            row["from"], row["to"] = str(part["as_of"].min())[:10], str(part["as_of"].max())[:10]
        for label in ("churned", "future_spend"):
            if label in part.columns:
                row[f"mean {label}"] = float(part[label].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def comparison(result: TrainResult) -> pd.DataFrame:
    """Model and every baseline on the same holdout: one row per model, one column per metric."""
    return pd.DataFrame({"model": result.metrics, **result.baselines}).T


def summary(result: TrainResult, checks: dict[str, bool] | None = None, allow_tie: bool = False) -> dict[str, Any]:
    """What the notebook test asserts: the gate's verdict, and the model against its best baseline.

    ``allow_tie``: a model that may fall back to its baseline (tiering falls back to the handbook RFM rules when
    K-means is less stable) must be at least as good as it, not strictly better.
    """
    metric, direction = result.extra["primary"]
    gate = result.extra["gate"]
    values = [b[metric] for b in result.baselines.values() if metric in b and np.isfinite(b[metric])]
    best = (max(values) if direction == "higher" else min(values)) if values else None
    model = float(result.metrics[metric])
    checks = dict(checks or {})
    if best is not None:
        better = model > best if direction == "higher" else model < best
        checks["beats_every_baseline" if not allow_tie else "at_least_every_baseline"] = bool(
            better or (allow_tie and np.isclose(model, best))
        )
    return {
        "decision": result.decision,
        "metric": metric,
        "direction": direction,
        "model": model,
        "best_baseline": best,
        "alias": result.alias,
        "new_score": gate["new_score"],
        "champion_score_before": gate["champion_score"],
        "checks": checks,
    }


def write_summary(values: dict[str, Any], path: str | Path = "notebook_result.json") -> dict[str, Any]:
    """Append this notebook's summary to ``path`` (read by tests/model/test_notebooks.py), keyed by decision."""
    path = Path(path)
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored[values["decision"]] = values
    path.write_text(json.dumps(stored, indent=1))
    return values


def explanations(result: TrainResult, settings: Settings, rows: int = 500) -> pd.DataFrame | None:
    """Global TreeSHAP importance of the version just trained on the latest rows (None: the model has no SHAP)."""
    from training.reports import build, card

    spec = decisions.get(result.decision)
    hooks = spec.report
    if hooks is None or hooks.contributions is None:
        return None
    ctx = build.context(spec, settings.dataset(result.dataset), settings, "en", {})
    model = tracking.load_model(result.model_name, result.version)
    contributions, values = hooks.contributions(model, card.sample(ctx.latest, rows))
    return card.importance(contributions, values).head(10)
