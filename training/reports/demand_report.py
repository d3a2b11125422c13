"""Report and monitoring hooks of the demand decision: which SKUs to reorder now, which carry too much stock.

Latest rows are the SKUs the fitted model carries (its stock snapshot at the end of the sales data); the action
list is the served reorder policy for every SKU, so ops see exactly what ``POST /inventory/policy`` answers.
SHAP explains the booster's forecast for the next day from each SKU's own lags, rolling means, price, promotion
and calendar (captured through mlforecast's ``before_predict_callback``, the features the booster really saw).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from features import columns as c
from training.reports import html as h
from training.reports.hooks import ReportContext, ReportHooks, Section

ACTION_ROWS = 60
DRIFT_COLUMNS = (c.Y, "price", c.DISCOUNT_RATE, "promo_any")
RECENT_DAYS = 91  # the model's longest rolling window: the reference period monitoring compares with
WARNING_NAMES = {"stockout_risk": ("缺货风险", "stockout risk"), "overstock": ("库存积压", "overstock"),
                 "slow_moving": ("滞销", "slow moving")}  # fmt: skip
_NAMED = {
    "log_price": ("价格 (对数)", "price (log)"),
    c.DISCOUNT_RATE: ("折扣率", "discount rate"),
    "promo_any": ("有促销", "any promotion"),
    "promo_festival": ("节日促销", "festival promotion"),
    "promo_display": ("陈列促销", "display promotion"),
    "promo_mailer": ("邮件促销", "mailer promotion"),
    "promo_coupon": ("优惠券促销", "coupon promotion"),
    "day_of_week": ("星期几", "day of week"),
    "is_weekend": ("周末", "weekend"),
    "is_618": ("618 大促", "618 sale"),
    "is_double11": ("双11", "Double 11"),
    "is_double12": ("双12", "Double 12"),
    "is_spring_festival": ("春节", "Spring Festival"),
    "days_to_next_festival": ("距下个节日天数", "days to next festival"),
    c.Y: ("日销量", "daily sales"),
    "price": ("价格", "price"),
}


def labels(feature: str) -> tuple[str, str] | None:
    """Readable names of mlforecast's columns: ``lag7``, ``rolling_mean_lag1_window_size28`` ..."""
    if feature in _NAMED:
        return _NAMED[feature]
    if m := re.fullmatch(r"lag(\d+)", feature):
        return f"{m[1]}天前销量", f"sales {m[1]} days ago"
    if m := re.fullmatch(r"rolling_(mean|std)_lag(\d+)_window_size(\d+)", feature):
        kind_zh, kind_en = ("日均销量", "mean daily sales") if m[1] == "mean" else ("销量波动", "sales std")
        lag, window = int(m[2]), m[3]
        if lag == 1:
            return f"近{window}天{kind_zh}", f"{kind_en}, last {window} days"
        return f"{lag}天前起{window}天{kind_zh}", f"{kind_en}, {window} days from {lag} days ago"
    return None


def latest_skus(model: Any) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Every SKU of the model's stock snapshot (end of the sales data), as of the day after it."""
    snap = model.snapshot.rename_axis(c.SKU_ID).reset_index()
    snap[c.SKU_ID] = snap[c.SKU_ID].astype(str)
    return snap, pd.Timestamp(model.forecaster.last_ds_) + pd.Timedelta(days=1)


def next_day_features(model: Any, ids: list[str]) -> pd.DataFrame:
    """The booster's input rows for the next day's forecast of ``ids`` (warm SKUs; index = sku id)."""
    from models.demand import _quiet

    f = model.forecaster
    warm = sorted({i for i in ids if i in f.history_len_.index and i not in f.cold_ids_})
    if not warm:
        return pd.DataFrame()
    seen: list[pd.DataFrame] = []

    def grab(frame: pd.DataFrame) -> pd.DataFrame:
        seen.append(frame.copy())
        return frame

    with _quiet():
        pred = f.mlf_.predict(1, X_df=f.future_exog(warm, 1), ids=warm, before_predict_callback=grab)
    return seen[0].set_axis(pred[c.UNIQUE_ID].astype(str).to_numpy())


def contributions(model: Any, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TreeSHAP of the next day's forecast (log link of the Tweedie booster), one row per warm SKU of ``frame``."""
    x = next_day_features(model, frame[c.SKU_ID].astype(str).tolist())
    if x.empty:
        return pd.DataFrame(), pd.DataFrame()
    booster = model.forecaster.mlf_.models_["mean"]
    phi = booster.predict(x, pred_contrib=True)
    return pd.DataFrame(phi, columns=[*x.columns, "bias"], index=x.index), x


def policies(ctx: ReportContext) -> pd.DataFrame:
    """The served reorder policy of every SKU, one row per SKU with its warning codes.

    The policy simulates lead-time demand paths per SKU (~50 ms each, most of a demand report's cost), and it
    depends on the model version alone (stock comes from the version's own snapshot when no request gives any), so
    it is computed once per version and kept beside the reports (``reports/cache/``).
    """
    key = f"demand-policies:{ctx.model_name}:{ctx.version}"
    if key in ctx.cache:
        return ctx.cache[key]
    path = ctx.paths.root / "reports" / "cache" / f"{ctx.model_name}-v{ctx.version}-policies.pkl"
    if path.exists():
        frame = pd.read_pickle(path)
    else:
        from models.demand_names import POLICY

        ids = ctx.latest[c.SKU_ID].astype(str).tolist()
        records = [r for r in ctx.model.decide(pd.DataFrame(), sku_ids=ids, action=POLICY) if r["status"] == "ok"]
        frame = pd.DataFrame(records)
        frame["codes"] = [[w["code"] for w in ws] for ws in frame["warnings"]]
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_pickle(path)
    ctx.cache[key] = frame.merge(_products(ctx), on=c.SKU_ID, how="left")
    return ctx.cache[key]


def _products(ctx: ReportContext) -> pd.DataFrame:
    path = ctx.paths.lake / "products.parquet"
    if not path.exists():
        return pd.DataFrame({c.SKU_ID: pd.Series(dtype=str)})
    wanted = [c.SKU_ID, c.PRODUCT_NAME, c.CATEGORY]
    products = pd.read_parquet(path)
    products = products[[col for col in wanted if col in products.columns]].drop_duplicates(c.SKU_ID)
    return products.astype({c.SKU_ID: str})


def actions(ctx: ReportContext) -> Section:
    """SKUs at stockout risk (with the suggested order) and overstocked or slow-moving SKUs, worst first."""
    t, zh = ctx.t, ctx.lang == "zh"
    table = policies(ctx)
    counts = {code: int(sum(code in cs for cs in table["codes"])) for code in WARNING_NAMES}
    warned = table[table["codes"].map(len) > 0].copy()
    warned["days"] = [_days(ws) for ws in warned["warnings"]]
    warned["stockout"] = warned["codes"].map(lambda cs: "stockout_risk" in cs)
    warned = warned.sort_values(["stockout", "abc_class", "days"], ascending=[False, True, True], kind="stable")
    top = warned.head(ACTION_ROWS)
    reason = "reason_zh" if zh else "reason_en"
    listing = pd.DataFrame(
        {
            "SKU": top[c.SKU_ID].astype(str),
            t("商品", "product"): top.get(c.PRODUCT_NAME, top[c.SKU_ID]).fillna("").astype(str),
            "ABC": top["abc_class"],
            t("预警", "warning"): [", ".join(WARNING_NAMES[x][0 if zh else 1] for x in cs) for cs in top["codes"]],
            t("现有库存", "on hand"): top["on_hand"],
            t("在途", "on order"): top["on_order"],
            t("再订货点", "reorder point"): top["reorder_point"],
            t("建议订货量", "suggested order"): top["order_quantity"],
            t("日均预测", "forecast per day"): top["mean_daily_forecast"],
            t("原因", "why"): ["; ".join(w[reason] for w in ws) for ws in top["warnings"]],
        }
    )
    order_units = float(
        table.loc[table["codes"].map(lambda cs: "stockout_risk" in cs), "order_quantity"].fillna(0).sum()
    )
    kpis = {
        t("库存预警 SKU 数", "SKUs with inventory warnings"): f"{len(warned):,} / {len(table):,}",
        t("缺货风险 SKU", "SKUs at stockout risk"): f"{counts['stockout_risk']:,}",
        t("库存积压 SKU", "overstocked SKUs"): f"{counts['overstock']:,}",
        t("滞销 SKU", "slow-moving SKUs"): f"{counts['slow_moving']:,}",
        t("缺货风险 SKU 建议订货总量", "suggested order, SKUs at stockout risk"): f"{order_units:,.0f}",
    }
    body = h.kpis(kpis) + h.figure_svg(_warnings_figure(table, ctx))
    title = t(f"需要处理的 {len(listing)} 个 SKU (缺货风险优先, 按 ABC 与紧迫程度排序)",
              f"The {len(listing)} SKUs to act on (stockout risk first, by ABC class and urgency)")  # fmt: skip
    body += f"<h3>{h.esc(title)}</h3>" + h.table(listing)
    note = t(
        "建议订货量 = 补到订货上限 (order-up-to) 所需数量, 再订货点含安全库存 (按 ABC 类目标服务水平); 与 /inventory/policy 接口一致。",
        "Suggested order = units to reach the order-up-to level; the reorder point includes safety stock at the ABC "
        "class's service level; the same answer as /inventory/policy.",
    )
    body += f"<p class='note'>{h.esc(note)}</p>"
    numbers = [f"{len(warned):,} / {len(table):,}"] + ([str(top[c.SKU_ID].iloc[0])] if len(top) else [])
    return Section(t("库存预警与补货建议", "Inventory warnings and suggested orders"), body, kpis=kpis, numbers=numbers)


def _days(warnings: list[dict]) -> float:
    """Urgency: days until the reorder point for stockout risk, else minus the days of cover (most stock first)."""
    for w in warnings:
        if w["code"] == "stockout_risk":
            return float(w["numbers"].get("days_to_reorder_point", 0))
    cover = [w["numbers"].get("days_of_cover", 0.0) for w in warnings if w["code"] == "overstock"]
    return -float(cover[0]) if cover else 0.0


def _warnings_figure(table: pd.DataFrame, ctx: ReportContext):
    fig = h.new_figure(7, 2.8)
    ax = fig.subplots()
    classes = sorted(table["abc_class"].astype(str).unique())
    x = np.arange(len(classes))
    for j, (code, names) in enumerate(WARNING_NAMES.items()):
        n = [int(sum(code in cs for cs in table.loc[table["abc_class"] == k, "codes"])) for k in classes]
        ax.bar(x + (j - 1) * 0.27, n, 0.27, label=names[0 if ctx.lang == "zh" else 1])
    ax.set_xticks(x, [f"ABC {k}" for k in classes])
    ax.set_ylabel(ctx.t("SKU 数", "SKUs"))
    ax.legend()
    fig.tight_layout()
    return fig


def record(ctx: ReportContext, row: pd.DataFrame, entity_id: str) -> dict[str, Any]:
    """The SKU's reorder policy as flat fields, with its warnings in words."""
    found = policies(ctx)
    found = found[found[c.SKU_ID].astype(str) == entity_id]
    if found.empty:
        return {c.SKU_ID: entity_id, "status": "unknown_sku"}
    rec = found.iloc[0].to_dict()
    reason = "reason_zh" if ctx.lang == "zh" else "reason_en"
    rec["warnings"] = "; ".join(w[reason] for w in rec["warnings"]) or "–"
    return {k: v for k, v in rec.items() if k not in ("codes", "status")}


def drift_frames(ctx: ReportContext, data: Any) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Daily sales, price and promotion: the training window's last 91 days against the held-out latest days."""
    train, latest = data.part("train"), data.part(data.holdout)
    reference = train[train[c.DS] > train[c.DS].max() - pd.Timedelta(days=RECENT_DAYS)]
    return reference, latest, [col for col in DRIFT_COLUMNS if col in latest.columns]


DEMAND_REPORT = ReportHooks(
    id_column=c.SKU_ID,
    latest_model=latest_skus,
    contributions=contributions,
    actions=actions,
    record=record,
    drift=drift_frames,
    labels=labels,
    score_label=("次日预测销量", "next day's forecast"),
)
