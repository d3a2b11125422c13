"""The action lists ops work from, for the customer decisions: who to recall, how tiers move, whose value grows.

Each function takes the report context (champion, latest users with upstream columns joined) and returns a
:class:`Section` with the list, a chart, and the headline KPIs the index page shows.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features import columns as c
from models.decision import feature_block, join_upstream
from models.risk import BANDS
from models.tiering import TIER_LABELS_EN, TIER_LABELS_ZH, TIERS, tier_report
from training.reports import html as h
from training.reports.hooks import ReportContext, Section

logger = logging.getLogger(__name__)

ACTION_ROWS = 50
BAND_ZH = {"low": "低", "medium": "中", "high": "高", "critical": "极高"}


def _tier_name(tier: object, lang: str) -> str:
    labels = TIER_LABELS_ZH if lang == "zh" else TIER_LABELS_EN
    return labels.get(str(tier), "–" if tier is None else str(tier))


def churn_actions(ctx: ReportContext) -> Section:
    """Users most at risk by value at risk, with the recall action and the two strongest reasons each."""
    t, frame = ctx.t, ctx.latest
    records = pd.DataFrame(ctx.model.decide(frame))
    records[c.USER_ID] = frame[c.USER_ID].to_numpy()
    bands = records["risk_band"].value_counts().reindex(list(BANDS), fill_value=0)
    at_risk = records[records["risk_band"].isin(["high", "critical"])]
    top = at_risk.sort_values("value_at_risk", ascending=False).head(ACTION_ROWS)
    reasons = ctx.model.classifier.reasons(feature_block(frame.loc[top.index], ctx.model.feature_names), top_k=2)
    label = "label_zh" if ctx.lang == "zh" else "label_en"
    listing = pd.DataFrame(
        {
            t("用户", "user"): top[c.USER_ID].astype(str),
            t("分层", "tier"): [_tier_name(x, ctx.lang) for x in top["tier"]],
            t("流失概率", "churn probability"): top["churn_probability"].round(3),
            t("风险等级", "risk band"): [BAND_ZH[b] if ctx.lang == "zh" else b for b in top["risk_band"]],
            t("预测未来消费", "predicted spend"): top["predicted_ltv"].round(0),
            t("风险价值", "value at risk"): top["value_at_risk"].round(0),
            t("召回动作", "recall action"): [a[label] for a in top["recall_action"]],
            t("主要原因", "main reasons"): ["; ".join(_reason(r, ctx.lang) for r in rs) for rs in reasons],
        }
    )
    total_var = float(at_risk["value_at_risk"].sum())
    kpis = {
        t("高/极高风险用户", "users at high or critical risk"): f"{len(at_risk):,}",
        t("高风险用户占比", "share at high or critical risk"): f"{len(at_risk) / max(len(records), 1):.1%}",
        t("高风险风险价值", "value at risk (high + critical)"): f"{total_var:,.0f}",
    }
    dist = pd.DataFrame(
        {
            t("风险等级", "risk band"): [BAND_ZH[b] if ctx.lang == "zh" else b for b in bands.index],
            t("用户数", "users"): bands.to_numpy(),
            t("占比", "share"): (bands / max(bands.sum(), 1)).round(3).to_numpy(),
        }
    )
    body = h.kpis(kpis) + f"<h3>{h.esc(t('流失风险分布', 'Churn risk distribution'))}</h3>" + h.table(dist)
    body += h.figure_svg(_risk_histogram(records["churn_probability"].to_numpy(), ctx))
    body += f"<h3>{h.esc(t(f'风险价值最高的 {len(listing)} 位用户 (按风险价值排序)', f'The {len(listing)} users with the most value at risk'))}</h3>"
    body += h.table(listing)
    numbers = [f"{len(at_risk):,}"] + ([str(top[c.USER_ID].iloc[0])] if len(top) else [])
    return Section(t("召回名单", "Recall list"), body, kpis=kpis, numbers=numbers)


def _reason(reason: object, lang: str) -> str:
    arrow = "↑" if reason.direction == "raises" else "↓"
    label = reason.label_zh if lang == "zh" else reason.label_en
    value = "–" if reason.value is None else h.fmt(reason.value, 1)
    return f"{label} {value} {arrow}"


def _risk_histogram(p: np.ndarray, ctx: ReportContext):
    fig = h.new_figure(7, 2.8)
    ax = fig.subplots()
    ax.hist(p, bins=40, range=(0, 1), color="#2471a3")
    for name, bound in (("medium", ctx.model.thresholds.medium), ("high", ctx.model.thresholds.high),
                        ("critical", ctx.model.thresholds.critical)):  # fmt: skip
        if np.isfinite(bound):
            ax.axvline(bound, color="#c0392b", ls="--", lw=1)
            ax.text(bound, ax.get_ylim()[1] * 0.9, f" {BAND_ZH[name] if ctx.lang == 'zh' else name}", fontsize=8)
    ax.set_xlabel(ctx.t("流失概率", "churn probability"))
    ax.set_ylabel(ctx.t("用户数", "users"))
    fig.tight_layout()
    return fig


def tiering_actions(ctx: ReportContext) -> Section:
    """Tier sizes and revenue shares now, and how users moved between tiers since the previous version."""
    t, frame = ctx.t, ctx.latest
    tiers = ctx.model.tiering.predict(ctx.model.tier_frame(frame))
    revenue = frame["spend_365d"].fillna(0.0).to_numpy(dtype="float64")
    report = tier_report(tiers, revenue).reset_index()
    shown = pd.DataFrame(
        {
            t("分层", "tier"): [_tier_name(x, ctx.lang) for x in report["tier"]],
            t("用户数", "users"): report["users"],
            t("用户占比", "user share"): report["user_share"].round(3),
            t("近一年消费", "spend in last year"): report["revenue"].round(0),
            t("消费占比", "revenue share"): report["revenue_share"].round(3),
        }
    )
    hv = report.set_index("tier").loc["high_value"]
    kpis = {t(f"{_tier_name(x, 'zh')}占比", f"{_tier_name(x, 'en')} share"): f"{s:.1%}"
            for x, s in zip(report["tier"], report["user_share"], strict=True) if x in ("high_value", "at_risk", "lost")}  # fmt: skip
    kpis[t("高价值用户消费占比", "high-value revenue share")] = f"{hv['revenue_share']:.1%}"
    body = h.kpis(kpis) + h.table(shown) + h.figure_svg(_share_figure(report, ctx))
    body += _movements(ctx, tiers)
    return Section(t("分层规模与迁移", "Tier sizes and movements"), body, kpis=kpis, numbers=[f"{int(hv['users']):,}"])


def _share_figure(report: pd.DataFrame, ctx: ReportContext):
    fig = h.new_figure(7, 2.8)
    ax = fig.subplots()
    x = np.arange(len(report))
    ax.bar(x - 0.2, report["user_share"], 0.4, label=ctx.t("用户占比", "user share"), color="#2471a3")
    ax.bar(x + 0.2, report["revenue_share"], 0.4, label=ctx.t("消费占比", "revenue share"), color="#c0392b")
    ax.set_xticks(x, [_tier_name(v, ctx.lang) for v in report["tier"]])
    ax.legend()
    fig.tight_layout()
    return fig


def _previous(ctx: ReportContext):
    """(description, tiers under the previous registered version) or None when this is the first version."""
    from mlflow import MlflowClient

    from training import tracking

    versions = [int(v.version) for v in MlflowClient().search_model_versions(f"name='{ctx.model_name}'")]
    older = [v for v in versions if v < int(ctx.version)]
    if not older:
        return None
    try:
        previous = tracking.load_model(ctx.model_name, str(max(older)))
        return f"v{max(older)}", previous.tiering.predict(previous.tier_frame(ctx.latest))
    except Exception as err:  # a version pickled by older code may no longer load or predict: compare by month
        logger.warning(
            "previous tiering v%s cannot tier today's users (%s); comparing with a month earlier", max(older), err
        )
        return None


def _movements(ctx: ReportContext, tiers: np.ndarray) -> str:
    """Cross-tab previous tier x current tier (previous version, else the champion a month earlier)."""
    t = ctx.t
    previous = _previous(ctx)
    if previous is None:
        previous = _month_earlier(ctx)
    if previous is None:
        return f"<p class='note'>{h.esc(t('没有可比较的上一版本或上月数据。', 'No previous version or month to compare with.'))}</p>"
    what, before = previous
    joined = pd.DataFrame({"before": before, "now": tiers})
    matrix = pd.crosstab(joined["before"], joined["now"]).reindex(index=list(TIERS), columns=list(TIERS), fill_value=0)
    moved = int(matrix.to_numpy().sum() - np.trace(matrix.to_numpy()))
    names = [_tier_name(x, ctx.lang) for x in TIERS]
    table = pd.DataFrame(matrix.to_numpy(), columns=names)
    table.insert(0, t("之前 \\ 现在", "before \\ now"), names)
    title = t(
        f"分层迁移 (相对 {what}): {moved:,} 位用户换了层", f"Movements since {what}: {moved:,} users changed tier"
    )
    return f"<h3>{h.esc(title)}</h3>" + h.table(table)


def _month_earlier(ctx: ReportContext):
    """The champion's tiers for the same users a month before ``as_of`` (users matched by id)."""
    from training import runner
    from training.customer_data import ensure_user_features

    if ctx.as_of is None:
        return None
    earlier_at = (ctx.as_of - pd.DateOffset(months=1)).normalize()
    earlier = ensure_user_features(ctx.paths, [earlier_at], ctx.settings)
    earlier = join_upstream(earlier, runner.upstream_models(ctx.spec, ctx.paths.name, ctx.settings))
    before = pd.Series(ctx.model.tiering.predict(ctx.model.tier_frame(earlier)), index=earlier[c.USER_ID].astype(str))
    aligned = before.reindex(ctx.latest[c.USER_ID].astype(str)).fillna("new").to_numpy()
    return f"{earlier_at:%Y-%m-%d}", aligned


def ltv_actions(ctx: ReportContext) -> Section:
    """Predicted spend per decile and the users expected to spend most (whom to protect first)."""
    t, frame = ctx.t, ctx.latest
    pred = ctx.model.predict(frame)
    days = getattr(ctx.model, "window_days", 180)
    order = np.argsort(-pred)
    top = frame.iloc[order[:ACTION_ROWS]]
    listing = pd.DataFrame(
        {
            t("用户", "user"): top[c.USER_ID].astype(str).to_numpy(),
            t(f"预测未来{days}天消费", f"predicted spend, next {days} days"): pred[order[:ACTION_ROWS]].round(0),
            t("近一年消费", "spend in last year"): top["spend_365d"].round(0).to_numpy(),
            t("距上次购买天数", "days since last order"): top["recency_days"].to_numpy(),
        }
    )
    total = float(pred.sum())
    top_decile = float(np.sort(pred)[::-1][: max(len(pred) // 10, 1)].sum() / max(total, 1e-9))
    kpis = {
        t(f"预测未来{days}天总消费", f"predicted spend, next {days} days"): f"{total:,.0f}",
        t("前10%用户贡献", "share from the top 10% of users"): f"{top_decile:.1%}",
    }
    body = (
        h.kpis(kpis) + f"<h3>{h.esc(t('预测价值最高的用户', 'Users expected to spend most'))}</h3>" + h.table(listing)
    )
    return Section(t("用户价值名单", "Value list"), body, kpis=kpis, numbers=[f"{total:,.0f}"])
