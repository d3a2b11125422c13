"""Report and monitoring hooks of the review-authenticity decision: fake-review campaigns to take down, with evidence.

Latest rows are the reviews of the last ``WINDOW_DAYS`` days the fitted model stores (their features as of each
posting time). The action list scores them together, exactly as ``POST /reviews/score`` does for a batch, so
suspicious reviews are grouped into campaigns (same SKU, close in time, shared device or near-identical text) and
each campaign is listed with the evidence its members share. SHAP explains the behaviour booster (the text score
enters it as one input); a text-only model (a corpus without behaviour) has no tree to explain and says so.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from features import columns as c
from training.reports import html as h
from training.reports.hooks import ReportContext, ReportHooks, Section

WINDOW_DAYS = 30
ACTION_ROWS = 30
LABEL_NAMES = {"genuine": ("正常", "genuine"), "suspicious": ("可疑", "suspicious"), "fake": ("虚假", "fake")}
_NAMED = {
    "text_log_odds": ("文本可疑度 (对数几率)", "text suspicion (log-odds)"),
    c.RATING: ("评分", "stars given"),
    "account_age_days": ("账号注册天数", "account age (days)"),
    "reviewer_reviews_1d": ("评价者1天内评价数", "reviewer's reviews in 1 day"),
    "reviewer_reviews_7d": ("评价者7天内评价数", "reviewer's reviews in 7 days"),
    "reviewer_reviews_30d": ("评价者30天内评价数", "reviewer's reviews in 30 days"),
    "reviewer_reviews_before": ("评价者历史评价数", "reviewer's earlier reviews"),
    "reviewer_five_star_share": ("评价者五星占比", "reviewer's 5-star share"),
    "verified_purchase": ("已购买该商品", "verified purchase"),
    "days_from_delivery": ("收货后天数", "days since delivery"),
    "product_reviews_24h": ("商品24小时评价数", "product's reviews in 24 hours"),
    "rating_deviation": ("评分偏离均值", "rating minus product mean"),
    "text_length": ("文本长度", "text length"),
    "punct_share": ("标点占比", "punctuation share"),
    "exclaim_share": ("感叹号占比", "exclamation share"),
    "digit_share": ("数字占比", "digit share"),
    "latin_share": ("拉丁字母占比", "Latin letter share"),
    "max_char_run": ("最长重复字符", "longest repeated character run"),
    "near_duplicate_count_30d": ("30天近似重复数", "near-duplicates in 30 days"),
    "device_shared_accounts": ("同设备账号数", "accounts on the device"),
    "reviewer_orders_before": ("评价者历史订单数", "reviewer's earlier orders"),
}


def labels(feature: str) -> tuple[str, str] | None:
    return _NAMED.get(feature)


def latest_reviews(model: Any) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The stored reviews of the last ``WINDOW_DAYS`` days (all of them when the corpus has no posting times)."""
    stored = model.stored.reset_index(drop=True)
    times = pd.to_datetime(stored[c.REVIEW_TS]) if c.REVIEW_TS in stored else None
    if times is None or times.nunique() <= 1:
        return stored, None
    end = times.max()
    return stored[times > end - pd.Timedelta(days=WINDOW_DAYS)].reset_index(drop=True), end.normalize()


def contributions(model: Any, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TreeSHAP of the behaviour booster on its log-odds (empty for a text-only model: no tree)."""
    inner = model.model
    if inner.text_only_:
        return pd.DataFrame(), pd.DataFrame()
    matrix = inner._matrix(frame, inner.text_log_odds(frame))
    phi = inner.booster_.predict(matrix, pred_contrib=True)
    return pd.DataFrame(phi, columns=[*matrix.columns, "bias"], index=frame.index), matrix


def score(model: Any, frame: pd.DataFrame) -> np.ndarray:
    return model.model.predict_proba(frame)[:, 1]


def scored(ctx: ReportContext) -> pd.DataFrame:
    """The latest reviews scored together (campaigns need the batch), cached per build."""
    key = f"reviews-scored:{ctx.model_name}:{ctx.version}"
    if key not in ctx.cache:
        records = pd.DataFrame(ctx.model.model.decide(ctx.latest, top_k=3))
        keep = [col for col in (c.SKU_ID, c.USER_ID, c.DEVICE_ID, c.REVIEW_TS, c.REVIEW_TEXT) if col in ctx.latest]
        ctx.cache[key] = pd.concat([records, ctx.latest[keep].reset_index(drop=True)], axis=1)
    return ctx.cache[key]


def campaigns(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """One row per campaign: size, SKU, accounts, devices, span, mean probability, action, shared evidence."""
    side = "zh" if lang == "zh" else "en"
    rows = []
    for cid, g in frame[frame["campaign_id"].notna()].groupby("campaign_id", sort=False):
        facts: dict[str, list[tuple[float, str]]] = {}  # evidence feature -> (value, words) of each member
        for ev in g["evidence"]:
            for f in ev:
                facts.setdefault(f["feature"], []).append((float(f["value"]), f[side]))
        shared = sorted(facts.values(), key=len, reverse=True)[:3]
        times = pd.to_datetime(g[c.REVIEW_TS]) if c.REVIEW_TS in g else pd.Series(dtype="datetime64[ns]")
        rows.append(
            {
                "campaign": cid,
                "size": len(g),
                "sku": ", ".join(sorted(g[c.SKU_ID].astype(str).unique())[:3]) if c.SKU_ID in g else "–",
                "accounts": int(g[c.USER_ID].nunique()) if c.USER_ID in g else 0,
                "devices": int(g[c.DEVICE_ID].nunique()) if c.DEVICE_ID in g else 0,
                "first": f"{times.min():%m-%d %H:%M}" if len(times) else "–",
                "hours": round((times.max() - times.min()).total_seconds() / 3600, 1) if len(times) else 0.0,
                "probability": float(g["probability"].mean()),
                "action": Counter(g["action"]).most_common(1)[0][0],
                "evidence": "; ".join(f"{sorted(v)[len(v) // 2][1]} ({len(v)}/{len(g)})" for v in shared),
                "example": str(g[c.REVIEW_TEXT].iloc[0])[:40] if c.REVIEW_TEXT in g else "",
            }
        )
    out = pd.DataFrame(rows)
    return out.sort_values(["size", "probability"], ascending=False, ignore_index=True) if len(out) else out


def actions(ctx: ReportContext) -> Section:
    """Fake-review campaigns of the latest reviews with their evidence, and the label shares (suspicious rate)."""
    t, zh = ctx.t, ctx.lang == "zh"
    frame = scored(ctx)
    shares = frame["label"].value_counts().reindex(list(LABEL_NAMES), fill_value=0)
    flagged = int(shares["suspicious"] + shares["fake"])
    rate = flagged / max(len(frame), 1)
    found = campaigns(frame, ctx.lang)
    kpis = {
        t(f"近{WINDOW_DAYS}天评价", f"reviews, last {WINDOW_DAYS} days"): f"{len(frame):,}",
        t("可疑评价率 (可疑 + 虚假)", "suspicious-review rate (suspicious + fake)"): f"{rate:.1%}",
        t("判为虚假", "labelled fake"): f"{int(shares['fake']):,}",
        t("刷评团伙", "fake-review campaigns"): f"{len(found):,}",
        t("团伙内评价", "reviews in campaigns"): f"{int(found['size'].sum()) if len(found) else 0:,}",
    }
    body = h.kpis(kpis)
    dist = pd.DataFrame({t("判定", "label"): [LABEL_NAMES[k][0 if zh else 1] for k in shares.index],
                         t("评价数", "reviews"): shares.to_numpy(),
                         t("占比", "share"): (shares / max(len(frame), 1)).round(4).to_numpy()})  # fmt: skip
    body += h.table(dist)
    if c.REVIEW_TS in frame:
        body += h.figure_svg(_daily_figure(frame, ctx))
    title = t(f"刷评团伙 (前 {min(len(found), ACTION_ROWS)} 个, 按规模排序) 与共同证据",
              f"Fake-review campaigns (top {min(len(found), ACTION_ROWS)} by size) and their shared evidence")  # fmt: skip
    body += f"<h3>{h.esc(title)}</h3>"
    if len(found):
        top = found.head(ACTION_ROWS)
        body += h.table(
            top.rename(
                columns={
                    "campaign": t("团伙", "campaign"), "size": t("评价数", "reviews"), "sku": "SKU",
                    "accounts": t("账号数", "accounts"), "devices": t("设备数", "devices"),
                    "first": t("开始 (月-日 时:分)", "first (mm-dd hh:mm)"), "hours": t("持续小时", "hours"),
                    "probability": t("平均虚假概率", "mean fake probability"), "action": t("处理动作", "action"),
                    "evidence": t("共同证据, 取中位成员 (出现次数/评价数)", "shared evidence, median member (reviews/size)"),
                    "example": t("示例文本", "example text"),
                }
            )
        )  # fmt: skip
    else:
        body += f"<p class='note'>{h.esc(t('近期没有成团的可疑评价。', 'No campaign among the latest reviews.'))}</p>"
    numbers = [f"{rate:.1%}"] + ([str(found["campaign"].iloc[0])] if len(found) else [])
    return Section(t("刷评团伙与证据", "Fake-review campaigns and evidence"), body, kpis=kpis, numbers=numbers)


def _daily_figure(frame: pd.DataFrame, ctx: ReportContext):
    day = pd.to_datetime(frame[c.REVIEW_TS]).dt.normalize()
    counts = pd.crosstab(day, frame["label"]).reindex(columns=list(LABEL_NAMES), fill_value=0)
    fig = h.new_figure(7, 2.6)
    ax = fig.subplots()
    bottom = np.zeros(len(counts))
    colours = {"genuine": "#aab7b8", "suspicious": "#f5b041", "fake": "#c0392b"}
    for label in LABEL_NAMES:
        ax.bar(counts.index, counts[label], bottom=bottom, color=colours[label],
               label=LABEL_NAMES[label][0 if ctx.lang == "zh" else 1])  # fmt: skip
        bottom += counts[label].to_numpy()
    ax.set_ylabel(ctx.t("每日评价数", "reviews per day"))
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def record(ctx: ReportContext, row: pd.DataFrame, entity_id: str) -> dict[str, Any]:
    """The review's answer (as scored with the latest batch, so its campaign shows) with evidence in words."""
    frame = scored(ctx)
    found = frame[frame[c.REVIEW_ID].astype(str) == entity_id]
    rec = found.iloc[0].to_dict() if len(found) else ctx.model.model.decide(row, top_k=3)[0]
    side = "zh" if ctx.lang == "zh" else "en"
    rec["evidence"] = "; ".join(f[side] for f in rec.get("evidence") or []) or "–"
    return rec


def drift_frames(ctx: ReportContext, data: Any) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The training reviews against the latest ones, on the behaviour features the booster reads."""
    return data.part("train"), ctx.latest, list(ctx.model.model.behaviour_features_)


REVIEWS_REPORT = ReportHooks(
    id_column=c.REVIEW_ID,
    latest_model=latest_reviews,
    contributions=contributions,
    score=score,
    actions=actions,
    record=record,
    drift=drift_frames,
    labels=labels,
    score_label=("虚假评价可能性", "fake-review likelihood"),
    log_field="probability",
    ageing=("account_age_days", "reviewer_reviews_before", "reviewer_orders_before"),
)
