"""Model monitoring: feature and prediction drift, realised performance, and a retrain recommendation per decision.

Reference = the rows the champion was trained on (``runner.prepare``'s ``train`` part); current = the latest rows
(the decision's ``latest`` hook) and, when the service has answered, the prediction log. Drift is the population
stability index (:mod:`models.drift`). Realised performance is the decision's ``realised`` hook: the champion's
predictions at the last cutoff whose outcome is known, against what happened. Results go to MLflow
(experiment ``shopsense/monitor/<dataset>``), to ``reports/<lang>/monitor.html`` and to ``reports/monitor.json``
(which the index page reads).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.settings import Settings, get_settings
from models import drift
from serving import prediction_log
from training import decisions, runner, tracking
from training.decisions.spec import TrainOptions
from training.reports import build, card
from training.reports import html as h
from training.reports.hooks import ReportContext

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 20_000
MAX_DEGRADATION = 0.05  # realised primary metric worse than at training by more than 5% (relative): retrain
NEW_DATA_DAYS = 30  # a month of new data means a new labelled cutoff the champion has never seen


@dataclass
class Verdict:
    decision: str
    retrain: bool
    reasons: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    features: pd.DataFrame | None = None
    realised: dict[str, Any] = field(default_factory=dict)
    served: int = 0


def _scores(ctx: ReportContext, frame: pd.DataFrame) -> np.ndarray | None:
    hooks = ctx.spec.report
    return None if hooks is None or hooks.score is None else np.asarray(hooks.score(ctx.model, frame), dtype=float)


def _served(ctx: ReportContext) -> np.ndarray:
    """Scores the service answered with for this decision (from the prediction log)."""
    hooks = ctx.spec.report
    if hooks is None or hooks.log_field is None:
        return np.array([])
    rows = prediction_log.read(prediction_log.log_path(ctx.settings.data_dir, ctx.paths.name), ctx.spec.name)
    values = [r["output"].get(hooks.log_field) for r in rows if r.get("version") == ctx.version]
    return np.array([v for v in values if isinstance(v, int | float)], dtype=float)


def assess(ctx: ReportContext, facts: dict[str, Any]) -> Verdict:
    """Drift, realised performance and the recommendation for one decision (``facts``: its training run)."""
    data = runner.prepare(ctx.spec, ctx.paths, ctx.settings, TrainOptions())
    reference = card.sample(data.part("train"), SAMPLE_ROWS)
    current = card.sample(ctx.latest, SAMPLE_ROWS)
    columns = [f for f in ctx.model.feature_names if f in reference.columns and f in current.columns]
    table = drift.psi_table(reference, current, columns)
    reasons, retrain = [], False
    out: dict[str, float] = {
        "max_feature_psi": float(table["psi"].max()) if len(table) else np.nan,
        "features_major_drift": float((table["level"] == "major").sum()),
    }
    major = table[table["level"] == "major"]["feature"].tolist()
    if major:
        retrain = True
        reasons.append(ctx.t(f"{len(major)} 个特征分布大幅漂移 (PSI≥0.25): {', '.join(major[:5])}",
                             f"{len(major)} feature(s) drifted strongly (PSI ≥ 0.25): {', '.join(major[:5])}"))  # fmt: skip
    ref_scores, cur_scores = _scores(ctx, reference), _scores(ctx, current)
    if ref_scores is not None:
        out["prediction_psi"] = drift.psi(ref_scores, cur_scores)
        if out["prediction_psi"] >= drift.MAJOR:
            retrain = True
            reasons.append(
                ctx.t(
                    f"预测分布漂移 PSI={out['prediction_psi']:.2f}", f"prediction drift PSI={out['prediction_psi']:.2f}"
                )
            )
        served = _served(ctx)
        if len(served):
            out["served_prediction_psi"] = drift.psi(ref_scores, served)
    realised = ctx.spec.report.realised(ctx) if ctx.spec.report and ctx.spec.report.realised else {}
    retrain |= _realised_reason(ctx, realised, facts, out, reasons)
    retrain |= _new_data_reason(ctx, facts, out, reasons)
    if not reasons:
        reasons.append(
            ctx.t(
                "无显著漂移, 表现符合训练时水平: 暂不需要重训",
                "no material drift and performance as trained: no retrain needed",
            )
        )
    return Verdict(ctx.spec.name, retrain, reasons, out, table, realised, served=len(_served(ctx)))


def _realised_reason(ctx, realised: dict, facts: dict, out: dict, reasons: list[str]) -> bool:
    primary = realised.get("primary")
    if not primary or primary not in realised.get("metrics", {}):
        return False
    now, then = realised["metrics"][primary], facts["metrics"].get(f"test_{primary}")
    out[f"realised_{primary}"], out[f"trained_{primary}"] = float(now), float(then or np.nan)
    if then is None or not np.isfinite(then):
        return False
    higher = (
        ctx.spec.higher_is_better
        if primary == ctx.spec.primary[0]
        else primary not in ("rmse", "mae", "log_loss", "brier")
    )
    worse = (then - now) / abs(then) if higher else (now - then) / abs(then)
    if worse > MAX_DEGRADATION:
        reasons.append(
            ctx.t(
                f"实际 {primary} {now:.3f}, 低于训练时 {then:.3f}",
                f"realised {primary} {now:.3f} is worse than {then:.3f} at training",
            )
        )
        return True
    return False


def _new_data_reason(ctx, facts: dict, out: dict, reasons: list[str]) -> bool:
    trained_end = facts["lineage"].get("data_end")
    if trained_end is None or ctx.as_of is None:
        return False
    days = (pd.Timestamp(ctx.as_of) - pd.Timestamp(trained_end)).days
    out["days_of_new_data"] = float(days)
    if days >= NEW_DATA_DAYS:
        reasons.append(
            ctx.t(
                f"训练后又有 {days} 天新数据 (至少一个新的有标签月份)",
                f"{days} days of data since training (a new labelled month)",
            )
        )
        return True
    return False


def log_verdict(verdict: Verdict, ctx: ReportContext, page: str) -> str:
    """One MLflow run per decision in ``shopsense/monitor/<dataset>``; returns the run id."""
    import mlflow

    tracking.experiment("monitor", ctx.paths.name, ctx.settings)
    with mlflow.start_run(run_name=f"monitor-{verdict.decision}") as run:
        mlflow.set_tags({"decision": verdict.decision, "model": ctx.model_name, "version": ctx.version,
                         "retrain": str(verdict.retrain), "reasons": " | ".join(verdict.reasons)[:4000]})  # fmt: skip
        mlflow.log_metrics(
            {k: float(v) for k, v in verdict.metrics.items() if np.isfinite(v)} | {"retrain": float(verdict.retrain)}
        )
        if verdict.features is not None:
            mlflow.log_table(verdict.features, "feature_psi.json")
        mlflow.log_text(page, "monitor.html")
    return run.info.run_id


def _section(v: Verdict, ctx: ReportContext) -> str:
    t = ctx.t
    head = f"<p class='{'warn' if v.retrain else 'ok'}'>{h.esc(t('建议重训', 'Retrain recommended') if v.retrain else t('无需重训', 'No retrain needed'))}</p>"
    body = head + h.words(v.reasons) + h.kpis({k: h.fmt(val) for k, val in v.metrics.items()})
    if v.realised.get("metrics"):
        m = pd.DataFrame({"metric": list(v.realised["metrics"]), "value": list(v.realised["metrics"].values())})
        at, rows = v.realised.get("as_of"), v.realised.get("rows", 0)
        title = t(f"实际表现 (预测于 {at}, {rows:,} 行)", f"Realised performance (predicted at {at}, {rows:,} rows)")
        body += f"<h3>{h.esc(title)}</h3>" + h.table(m)
    body += f"<p class='note'>{h.esc(t(f'服务预测日志中本版本的记录: {v.served:,}', f'prediction log entries for this version: {v.served:,}'))}</p>"
    if v.features is not None:
        body += (
            f"<h3>{h.esc(t('特征漂移 (PSI, 训练窗口 → 最新数据)', 'Feature drift (PSI, training window → latest data)'))}</h3>"
            + h.table(v.features.head(15))
        )
    return h.section(f"{v.decision}: {ctx.model_name} v{ctx.version}", body)


def monitor(names: list[str] | None = None, dataset: str | None = None, lang: str = "zh",
            settings: Settings | None = None) -> tuple[list[Verdict], str]:  # fmt: skip
    """Assess every named decision with a champion; write the HTML and JSON, log to MLflow; return the verdicts."""
    settings = settings or get_settings()
    tracking.configure(settings)
    paths = settings.dataset(dataset or settings.default_dataset)
    specs = decisions.in_dependency_order(names) if names else decisions.all_specs()
    cache: dict[str, Any] = {}
    verdicts, sections, skipped = [], [], []
    for spec in specs:
        try:
            ctx = build.context(spec, paths, settings, lang, cache)
            facts = card.run_facts(ctx.model_name, ctx.version)
            verdict = assess(ctx, facts)
        except runner.DecisionUnavailable as err:
            skipped.append(f"{spec.name}: {err}")
            continue
        section = _section(verdict, ctx)
        log_verdict(verdict, ctx, h.page(f"monitor {spec.name}", "", section, lang))
        verdicts.append(verdict)
        sections.append(section)
    t = (lambda zh, en: zh) if lang == "zh" else (lambda zh, en: en)
    body = "".join(sections) + (h.section(t("未监控", "Not monitored"), h.words(skipped)) if skipped else "")
    out = build.reports_dir(paths, lang)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "monitor.html"
    path.write_text(
        h.page(t("ShopSense 模型监控", "ShopSense model monitoring"), paths.name, body, lang), encoding="utf-8"
    )
    summary = {v.decision: {"retrain": v.retrain, "reasons": v.reasons} for v in verdicts}
    (paths.root / "reports" / "monitor.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return verdicts, str(path)
