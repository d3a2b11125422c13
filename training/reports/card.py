"""The generic parts of every decision's report: model card (from the MLflow run), SHAP drivers, one entity's why.

The model card reads what the training run logged (metrics of the model and of every baseline on the same
holdout, params, the dataset's lineage, figures such as the calibration curve), so the report shows exactly the
numbers the champion gate saw, never recomputed ones.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.reasons import top_reasons
from training.reports import html as h
from training.reports.hooks import ReportContext, Section, feature_labels

logger = logging.getLogger(__name__)

TOP_FEATURES = 12


def run_facts(name: str, version: str) -> dict[str, Any]:
    """The registered version's run: metrics, params, tags, lineage document, figure PNGs, times."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    mv = client.get_model_version(name, version)
    run = client.get_run(mv.run_id)
    try:
        dataset = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/dataset.json")
    except Exception:  # an older run without the document: the card says "unknown"
        dataset = {}
    figures = {}
    for item in client.list_artifacts(mv.run_id):
        if item.path.endswith(".png") and (item.file_size or 0) < 400_000:
            local = client.download_artifacts(mv.run_id, item.path)
            figures[item.path] = base64.b64encode(Path(local).read_bytes()).decode("ascii")
    return {
        "run_id": mv.run_id,
        "aliases": list(mv.aliases),
        "registered": dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=dt.UTC),
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "lineage": dataset.get("lineage", {}),
        "features": dataset.get("features", []),
        "figures": figures,
    }


def metric_table(metrics: dict[str, float]) -> pd.DataFrame:
    """Rows = metrics, columns = the model then each baseline, from ``test_<m>`` and ``baseline_<b>_test_<m>``."""
    model = {k[len("test_") :]: v for k, v in metrics.items() if k.startswith("test_")}
    columns: dict[str, dict[str, float]] = {"model": model}
    for key, value in metrics.items():
        if key.startswith("baseline_") and "_test_" in key:
            baseline, metric = key[len("baseline_") :].split("_test_", 1)
            columns.setdefault(baseline, {})[metric] = value
    return pd.DataFrame(columns).rename_axis("metric").reset_index()


def model_card(ctx: ReportContext, facts: dict[str, Any]) -> Section:
    t = ctx.t
    lineage, params = facts["lineage"], facts["params"]
    rows = {k[len("rows_") :]: v for k, v in params.items() if k.startswith("rows_")}
    window = _window(lineage)
    kv = {
        t("模型", "model"): f"{ctx.model_name} v{ctx.version} @{', '.join(facts['aliases']) or '-'}",
        t("训练时间 (UTC)", "trained (UTC)"): facts["registered"].strftime("%Y-%m-%d %H:%M"),
        t("数据集", "dataset"): lineage.get("dataset", ctx.paths.name),
        t("数据窗口", "data window"): window,
        t("样本行数", "rows"): ", ".join(f"{k} {h.fmt(int(v))}" for k, v in rows.items()) or "–",
        t("特征服务", "feature service"): params.get("feature_service", ctx.spec.feature_service),
        t("特征数", "features"): params.get("n_features", len(facts["features"])),
        t(
            "主指标", "primary metric"
        ): f"{ctx.spec.primary[0]} ({t('越高越好', 'higher is better') if ctx.spec.higher_is_better else t('越低越好', 'lower is better')})",
        "MLflow run": facts["run_id"],
    }
    card = pd.DataFrame({t("项目", "item"): list(kv), t("内容", "value"): [str(v) for v in kv.values()]})
    metrics = metric_table(facts["metrics"])
    body = (
        h.table(card)
        + f"<h3>{h.esc(t('测试集指标: 模型与每个基线', 'Holdout metrics: the model beside every baseline'))}</h3>"
    )
    body += h.table(metrics) if len(metrics) else f"<p class='note'>{t('无指标', 'no metrics logged')}</p>"
    body += _calibration_note(ctx, facts["metrics"])
    for name, png in facts["figures"].items():
        body += (
            f'<h3>{h.esc(name)}</h3><img alt="{h.esc(name)}" style="max-width:560px" src="data:image/png;base64,{png}">'
        )
    numbers = [f"v{ctx.version}"]
    return Section(t("模型卡", "Model card"), body, numbers=numbers)


def _window(lineage: dict[str, Any]) -> str:
    keys = [k for k in ("cutoffs_train", "cutoff_validation", "cutoff_test", "data_end", "cutoffs") if k in lineage]
    parts = [f"{k}: {_short(lineage[k])}" for k in keys]
    return "; ".join(parts) or ", ".join(f"{k}={_short(v)}" for k, v in list(lineage.items())[:4])


def _short(value: Any) -> str:
    if isinstance(value, list) and value:
        return f"{str(value[0])[:10]} … {str(value[-1])[:10]} ({len(value)})"
    return str(value)[:40]


def _calibration_note(ctx: ReportContext, metrics: dict[str, float]) -> str:
    t = ctx.t
    found = {
        k[len("test_") :]: v
        for k, v in metrics.items()
        if k in ("test_ece", "test_brier", "test_coverage_80", "test_coverage")
    }
    if not found:
        return ""
    text = ", ".join(f"{k} = {h.fmt(v, 4)}" for k, v in found.items())
    return f"<p>{h.esc(t('校准 / 区间覆盖: ', 'Calibration / interval coverage: ') + text)}</p>"


def importance(contributions: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| and direction per feature (see :func:`training.plots.shap_importance`)."""
    from training import plots

    return plots.shap_importance(contributions, values)


def drivers(ctx: ReportContext, contributions: pd.DataFrame, values: pd.DataFrame) -> Section:
    """Global SHAP importance as a chart and in words (the direction of the strongest features)."""
    t = ctx.t
    table = importance(contributions, values).head(TOP_FEATURES)
    label = ctx.spec.report.score_label if ctx.spec.report else ("预测值", "prediction")
    lines = []
    for row in table.head(5).itertuples():
        zh, en = feature_labels(ctx.spec.report, row.feature)
        if row.direction > 0:
            lines.append(t(f"{zh}越高, {label[0]}越高", f"the higher the {en}, the higher the {label[1]}"))
        elif row.direction < 0:
            lines.append(t(f"{zh}越高, {label[0]}越低", f"the higher the {en}, the lower the {label[1]}"))
        else:
            lines.append(t(f"{zh}: 影响方向不单调", f"{en}: no single direction"))
    fig = h.new_figure(7.5, 0.32 * len(table) + 1.4)
    ax = fig.subplots()
    shown = table.iloc[::-1]
    names = [ctx.label(f) for f in shown["feature"]]
    ax.barh(names, shown["mean_abs_shap"], color=["#c0392b" if d > 0 else "#2471a3" for d in shown["direction"]])
    ax.set_xlabel(
        t(
            "平均 |SHAP| (红: 值越大越提高; 蓝: 值越大越降低)",
            "mean |SHAP| (red: larger value raises it; blue: lowers it)",
        )
    )
    fig.tight_layout()
    rows = len(contributions)
    note = t(f"基于 {rows:,} 个最新样本的 TreeSHAP。", f"TreeSHAP on {rows:,} of the latest rows.")
    body = f"<p class='note'>{h.esc(note)}</p>" + h.words(lines) + h.figure_svg(fig)
    return Section(t("模型依据什么 (SHAP)", "What drives the model (SHAP)"), body)


def waterfall_figure(contrib: pd.Series, lang: str, top: int = 10, hooks: Any = None) -> Any:
    """One row's SHAP waterfall: start at the bias, add the strongest contributions, end at the raw output."""
    phi = contrib.drop("bias", errors="ignore")
    order = phi.abs().sort_values(ascending=False).index
    shown, rest = list(order[:top]), float(phi[order[top:]].sum())
    steps = [(feature_labels(hooks, f)[0 if lang == "zh" else 1], float(phi[f])) for f in shown]
    if len(order) > top:
        steps.append(("其他特征" if lang == "zh" else "other features", rest))
    fig = h.new_figure(7.5, 0.36 * len(steps) + 1.6)
    ax = fig.subplots()
    start = float(contrib.get("bias", 0.0))
    for i, (_, value) in enumerate(steps):
        ax.barh(i, value, left=start, color="#c0392b" if value > 0 else "#2471a3")
        ax.text(start + value, i, f" {value:+.3f}", va="center", fontsize=8)
        start += value
    ax.set_yticks(range(len(steps)), [s[0] for s in steps])
    ax.invert_yaxis()
    ax.axvline(float(contrib.get("bias", 0.0)), color="grey", ls="--", lw=0.8)
    ax.set_xlabel("SHAP (raw model output)" if lang != "zh" else "SHAP (模型原始输出)")
    fig.tight_layout()
    return fig


def entity_section(ctx: ReportContext, entity_id: str) -> Section:
    """Why this entity got this answer: the decision's record, a SHAP waterfall and the top reasons in words."""
    t, hooks = ctx.t, ctx.spec.report
    id_column = hooks.id_column if hooks else "user_id"
    row = ctx.latest[ctx.latest[id_column].astype(str) == str(entity_id)]
    if row.empty:
        msg = t(f"最新数据中没有 {entity_id}", f"{entity_id} is not in the latest data")
        return Section(t("单个对象解释", "One entity explained"), f"<p class='warn'>{h.esc(msg)}</p>")
    record = hooks.record(ctx, row, str(entity_id)) if hooks is not None and hooks.record else ctx.model.decide(row)[0]
    flat = {k: v for k, v in record.items() if not isinstance(v, (list, dict))}
    flat |= {f"{k}.{sub}": v for k, d in record.items() if isinstance(d, dict) for sub, v in d.items()}
    body = h.table(pd.DataFrame({"field": list(flat), "value": [h.fmt(v) for v in flat.values()]}))
    numbers = [str(entity_id)]
    contrib, values = pd.DataFrame(), pd.DataFrame()
    if hooks is not None and hooks.contributions is not None:
        contrib, values = hooks.contributions(ctx.model, row)
    if len(contrib):
        reasons = top_reasons(contrib, values, top_k=5)[0]
        lines = [_reason_words(r, ctx) for r in reasons]
        body += h.words(lines) + h.figure_svg(waterfall_figure(contrib.iloc[0], ctx.lang, hooks=hooks))
    else:
        values = row[[c for c in ctx.model.feature_names if c in row.columns]].iloc[0]
        shown = pd.DataFrame({"feature": [ctx.label(f) for f in values.index],
                              "value": values.to_numpy()})  # fmt: skip
        body += f"<p class='note'>{h.esc(t('此模型无 SHAP; 以下为其输入值。', 'No SHAP for this model; its inputs are:'))}</p>"
        body += h.table(shown)
    return Section(t(f"单个对象解释: {entity_id}", f"Why {entity_id} got this answer"), body, numbers=numbers)


def _reason_words(reason: Any, ctx: ReportContext) -> str:
    value = "–" if reason.value is None else h.fmt(reason.value)
    label = ctx.spec.report.score_label if ctx.spec.report else ("预测值", "prediction")
    if ctx.lang == "zh":
        verb = "提高" if reason.direction == "raises" else "降低"
        return f"{ctx.label(reason.feature)} = {value}: {verb}{label[0]} ({reason.contribution:+.3f})"
    verb = "raises" if reason.direction == "raises" else "lowers"
    return f"{ctx.label(reason.feature)} = {value}: {verb} the {label[1]} ({reason.contribution:+.3f})"


def sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """A seeded sample (TreeSHAP costs ~5-10 ms per row on the customer boosters: a few hundred rows rank features)."""
    return frame if len(frame) <= rows else frame.sample(rows, random_state=seed)


def finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]
