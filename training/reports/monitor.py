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


def _drift_frames(ctx: ReportContext, data: Any) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Reference rows, current rows and the columns to compare (the decision's ``drift`` hook, else its inputs)."""
    hooks = ctx.spec.report
    if hooks is not None and hooks.drift is not None:
        reference, current, columns = hooks.drift(ctx, data)
    else:
        reference, current, columns = data.part("train"), ctx.latest, list(ctx.model.feature_names)
    reference, current = card.sample(reference, SAMPLE_ROWS), card.sample(current, SAMPLE_ROWS)
    return reference, current, [f for f in columns if f in reference.columns and f in current.columns]


def assess(ctx: ReportContext, facts: dict[str, Any]) -> Verdict:
    """Drift, realised performance and the recommendation for one decision (``facts``: its training run).

    Every check adds a line saying what it found, so the verdict reads as its own explanation: the reasons that
    call for a retrain, and for each check that does not, why not.
    """
    data = runner.prepare(ctx.spec, ctx.paths, ctx.settings, TrainOptions())
    reference, current, columns = _drift_frames(ctx, data)
    table = drift.psi_table(reference, current, columns)
    reasons: list[str] = []
    out: dict[str, float] = {
        "max_feature_psi": float(table["psi"].max()) if len(table) else np.nan,
        "features_major_drift": float((table["level"] == "major").sum()),
    }
    drifted = _drift_reason(ctx, table, reasons)
    ref_scores, cur_scores = _scores(ctx, reference), _scores(ctx, current)
    served = _served(ctx)
    if ref_scores is not None:
        out["prediction_psi"] = drift.psi(ref_scores, cur_scores)
        major = out["prediction_psi"] >= drift.MAJOR
        drifted |= major
        reasons.append(
            ctx.t(
                f"预测分布漂移 PSI={out['prediction_psi']:.3f}" + ("" if major else " (< 0.25)"),
                f"prediction drift PSI={out['prediction_psi']:.3f}" + ("" if major else " (< 0.25)"),
            )
        )
        if len(served):
            out["served_prediction_psi"] = drift.psi(ref_scores, served)
    realised = ctx.spec.report.realised(ctx) if ctx.spec.report and ctx.spec.report.realised else {}
    if not realised:
        realised = _holdout_realised(ctx, data, facts["lineage"])
    state = _realised_reason(ctx, realised, facts, out, reasons)
    retrain = state == "worse" or _new_data_reason(ctx, facts, out, reasons)
    if drifted and state == "ok":  # drift is a proxy for performance; when outcomes are known they decide
        reasons.append(ctx.t("有漂移, 但实际表现未下降: 继续观察, 漂移本身不触发重训",
                             "drift seen, but realised performance holds: watch it; drift alone is no retrain reason"))  # fmt: skip
    elif drifted and state == "none":
        retrain = True
        reasons.append(ctx.t("有漂移且尚无可核对的实际结果: 建议重训",
                             "drift and no matured outcomes to check it against: retrain"))  # fmt: skip
    return Verdict(ctx.spec.name, retrain, reasons, out, table, realised, served=len(served))


def _drift_reason(ctx: ReportContext, table: pd.DataFrame, reasons: list[str]) -> bool:
    """Major drift of a model input calls for a retrain; of an ``ageing`` input (grows with time) it does not."""
    t = ctx.t
    ageing = set(ctx.spec.report.ageing) if ctx.spec.report else set()
    major = table[table["level"] == "major"]["feature"].tolist()
    real = [f for f in major if f not in ageing]
    aged = [f for f in major if f in ageing]
    if real:
        reasons.append(t(f"{len(real)} 个特征分布大幅漂移 (PSI≥0.25): {', '.join(real[:5])}",
                         f"{len(real)} feature(s) drifted strongly (PSI ≥ 0.25): {', '.join(real[:5])}"))  # fmt: skip
    elif len(table[~table["feature"].isin(ageing)]):
        top = table[~table["feature"].isin(ageing)].iloc[0]
        reasons.append(t(f"特征无大幅漂移 (检查 {len(table)} 个, 最大 PSI {top['psi']:.2f}: {top['feature']})",
                         f"no strong feature drift ({len(table)} checked, largest PSI {top['psi']:.2f}: "
                         f"{top['feature']})"))  # fmt: skip
    else:
        reasons.append(t("无可比较的特征 (模型不读取特征列)", "no feature columns to compare (the model reads none)"))
    if aged:
        reasons.append(
            t(
                f"{', '.join(aged)} 随时间增长 (结构性漂移, 本身不是重训理由; 看实际表现)",
                f"{', '.join(aged)} grow with time by construction: their drift alone is no retrain reason "
                "(realised performance is)",
            )
        )
    return bool(real)


HOLDOUT_KEYS = ("holdout_start", "cutoff_test", "split", "data_end")


def _holdout_realised(ctx: ReportContext, data: Any, trained: dict[str, Any]) -> dict[str, Any]:
    """The champion's primary metric on the current data's holdout, via the spec's ``score``.

    ``fresh`` is False when that holdout is the one the model was judged on at training (same start in the
    lineage): then it shows the metric but is no new outcome.
    """
    name = ctx.spec.primary[0]
    try:
        value = float(ctx.spec.score(ctx.model, data))
    except Exception as err:  # an old version that cannot score today's data: say so rather than fail the run
        logger.warning("%s: champion cannot score the current holdout (%s)", ctx.spec.name, err)
        return {"note": f"champion cannot score the current holdout: {err}"}
    key = next((k for k in HOLDOUT_KEYS if k in data.lineage), None)
    at = str(data.lineage[key]) if key else "holdout"
    fresh = key is None or str(trained.get(key)) != at
    rows = len(data.part(data.holdout))
    return {"as_of": at, "rows": rows, "metrics": {name: value}, "primary": name, "fresh": fresh}


def _realised_reason(ctx, realised: dict, facts: dict, out: dict, reasons: list[str]) -> str:
    """``worse`` (more than 5% below training), ``ok``, or ``none`` (no matured outcomes to measure)."""
    primary = realised.get("primary")
    if not primary or primary not in realised.get("metrics", {}):
        note = realised.get("note", "no realised outcomes yet")
        reasons.append(ctx.t(f"实际表现: 暂无 ({note})", f"realised performance: none yet ({note})"))
        return "none"
    now, then = realised["metrics"][primary], facts["metrics"].get(f"test_{primary}")
    out[f"realised_{primary}"], out[f"trained_{primary}"] = float(now), float(then or np.nan)
    if realised.get("fresh") is False:
        reasons.append(ctx.t(f"实际表现: 尚无新结果 (留出集与训练时相同, {primary} {now:.3f})",
                             f"realised performance: no new outcomes yet (the holdout is the one judged at "
                             f"training, {primary} {now:.3f})"))  # fmt: skip
        return "none"
    if then is None or not np.isfinite(then):
        return "none"
    higher = (
        ctx.spec.higher_is_better
        if primary == ctx.spec.primary[0]
        else primary not in ("rmse", "mae", "log_loss", "brier", "wql", "mase")
    )
    worse = (then - now) / abs(then) if higher else (now - then) / abs(then)
    if worse > MAX_DEGRADATION:
        reasons.append(
            ctx.t(
                f"实际 {primary} {now:.3f}, 比训练时 {then:.3f} 差 {worse:.0%}",
                f"realised {primary} {now:.3f} is {worse:.0%} worse than {then:.3f} at training",
            )
        )
        return "worse"
    reasons.append(
        ctx.t(
            f"实际 {primary} {now:.3f}, 训练时 {then:.3f} (差距在 {MAX_DEGRADATION:.0%} 以内)",
            f"realised {primary} {now:.3f} vs {then:.3f} at training (within {MAX_DEGRADATION:.0%})",
        )
    )
    return "ok"


def _new_data_reason(ctx, facts: dict, out: dict, reasons: list[str]) -> bool:
    trained_end = facts["lineage"].get("data_end") or facts["lineage"].get("sku_daily_end")
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
    reasons.append(ctx.t(f"训练后新数据 {max(days, 0)} 天 (< {NEW_DATA_DAYS})",
                         f"{max(days, 0)} days of data since training (< {NEW_DATA_DAYS})"))  # fmt: skip
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
    specs = [s for s in decisions.in_dependency_order(names) if s.name in names] if names else decisions.all_specs()
    cache: dict[str, Any] = {}
    verdicts, sections, skipped = [], [], []
    for spec in specs:
        try:
            with h.quiet_glyphs():
                ctx = build.context(spec, paths, settings, lang, cache)
                facts = card.run_facts(ctx.model_name, ctx.version)
                verdict = assess(ctx, facts)
        except runner.DecisionUnavailable as err:
            skipped.append(f"{spec.name}: {err}")
            continue
        except Exception as err:  # a stale champion (pickled by older code) must not stop the other decisions
            logger.exception("monitoring %s failed", spec.name)
            skipped.append(f"{spec.name}: monitoring failed ({type(err).__name__}: {str(err)[:200]}); retrain it")
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
