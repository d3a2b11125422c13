"""Report hooks of the recommendation decision: how much of the catalogue the lists cover, and what they push.

Latest rows are the users the fitted recommender knows (those with any purchase or view up to its cutoff). The
action list serves personal lists to a seeded sample of them, exactly as ``POST /recommend/user`` does, and
reports catalogue coverage overall and per category with the items recommended most there, beside each
category's best sellers. SHAP explains the LambdaRank ranker on the top candidates it placed first.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from features import columns as c
from training.reports import html as h
from training.reports.hooks import ReportContext, ReportHooks, Section

SAMPLE_USERS = 1500  # lists served for the coverage figures (seeded; ~1 s per 1,000 users)
SHAP_USERS = 200
TOP_PER_USER = 10
SOURCES = {"popularity": ("热销", "popularity"), "repeat": ("复购", "repeat purchase"),
           "knn_purchase": ("买了又买", "bought together"), "knn_view": ("看了又看", "viewed together"),
           "ease": ("EASE 协同", "EASE"), "als": ("ALS 协同", "ALS")}  # fmt: skip
_NAMED = {
    "item_stock": ("商品库存", "item stock"),
    "item_promoted": ("商品在促销", "item on promotion"),
    "item_consumable": ("快消品", "consumable item"),
    "user_items": ("用户交互商品数", "items the user touched"),
    "user_days_since_active": ("用户距上次活跃天数", "days since the user was active"),
    "user_repeat_share": ("用户复购占比", "user's repeat share"),
    "price_vs_user": ("价格相对用户常买价", "price vs the user's usual"),
    "category_affinity": ("用户对该品类偏好", "user's affinity to the category"),
    "pair_weight": ("用户-商品交互强度", "user-item interaction weight"),
    "pair_purchases": ("用户买过该商品次数", "times the user bought it"),
    "pair_views": ("用户看过该商品次数", "times the user viewed it"),
    "pair_days_since_bought": ("距上次购买该商品天数", "days since the user bought it"),
    "pair_days_since_touch": ("距上次接触该商品天数", "days since the user touched it"),
}


def labels(feature: str) -> tuple[str, str] | None:
    """Ranker inputs in words: ``<generator>_score`` / ``_rank`` and the user, item and pair features."""
    if feature in _NAMED:
        return _NAMED[feature]
    if m := re.fullmatch(r"(.+)_(score|rank)", feature):
        zh, en = SOURCES.get(m[1], (m[1], m[1].replace("_", " ")))
        return (f"{zh} 候选得分", f"{en} candidate score") if m[2] == "score" else (f"{zh} 候选名次", f"{en} rank")
    if feature.startswith("item_"):
        return f"商品 {feature[5:]}", f"item {feature[5:].replace('_', ' ')}"
    return None


def latest_users(model: Any) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Users with any interaction up to the recommender's cutoff."""
    m = model.m
    active = np.flatnonzero(np.diff(m.weight.indptr) > 0)
    return pd.DataFrame({c.USER_ID: m.user_ids[active].astype(str)}), pd.Timestamp(m.cutoff)


def contributions(model: Any, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TreeSHAP of the ranker's score for each user's top candidates, best first per user."""
    ids = frame[c.USER_ID].astype(str).head(SHAP_USERS).tolist()
    pos = model.m.user_index(ids)
    pos = pos[pos >= 0]
    if not len(pos):
        return pd.DataFrame(), pd.DataFrame()
    ranked = model.scored(pos)
    top = ranked.groupby("_row", sort=False).head(TOP_PER_USER) if "_row" in ranked else ranked.head(TOP_PER_USER)
    names = model.ranker.feature_names_
    x = top[names].astype("float64").reset_index(drop=True)
    phi = model.ranker.booster_.predict(x, pred_contrib=True)
    return pd.DataFrame(phi, columns=[*names, "bias"]), x


def served(ctx: ReportContext) -> list[dict[str, Any]]:
    """Personal top-10 lists of a seeded sample of the latest users (cached per build)."""
    key = f"recommend-lists:{ctx.model_name}:{ctx.version}"
    if key not in ctx.cache:
        users = ctx.latest[c.USER_ID].astype(str)
        sample = users.sample(min(SAMPLE_USERS, len(users)), random_state=0).tolist()
        ctx.cache[key] = ctx.model.recommend_users(sample, k=TOP_PER_USER)
    return ctx.cache[key]


def actions(ctx: ReportContext) -> Section:
    """Catalogue coverage overall and per category, and the items recommended most in each category."""
    t, zh = ctx.t, ctx.lang == "zh"
    lists = served(ctx)
    items = [it for rec in lists for it in rec.get("items", [])]
    model = ctx.model
    catalogue = pd.DataFrame({c.SKU_ID: model.skus_, "name": model.names_, c.CATEGORY: model.m.category.astype(str)})
    shown = Counter(it[c.SKU_ID] for it in items)
    sources = Counter(it["source"] for it in items)
    catalogue["times"] = catalogue[c.SKU_ID].map(shown).fillna(0).astype(int)
    coverage = float((catalogue["times"] > 0).mean()) if len(catalogue) else 0.0
    per_list = [len({it[c.CATEGORY] for it in rec.get("items", [])}) for rec in lists]
    best = model.popular.overall_ if hasattr(model.popular, "overall_") else np.zeros(len(catalogue))
    catalogue["popularity"] = np.asarray(best, dtype="float64")[: len(catalogue)]
    rows = []
    for cat, g in catalogue.groupby(c.CATEGORY, sort=True):
        top = g[g["times"] > 0].sort_values("times", ascending=False).head(3)
        sellers = g.sort_values("popularity", ascending=False).head(3)
        rows.append(
            {
                t("品类", "category"): cat,
                t("商品数", "items"): len(g),
                t("被推荐商品数", "items recommended"): int((g["times"] > 0).sum()),
                t("覆盖率", "coverage"): round(float((g["times"] > 0).mean()), 3),
                t("推荐位占比", "share of slots"): round(float(g["times"].sum()) / max(len(items), 1), 3),
                t("推荐最多 (次数)", "recommended most (times)"): "; ".join(f"{n} ({k})" for n, k in zip(top["name"], top["times"], strict=True)),
                t("热销前三", "best sellers"): "; ".join(sellers["name"].astype(str)),
            }
        )  # fmt: skip
    table = pd.DataFrame(rows).sort_values(t("推荐位占比", "share of slots"), ascending=False, ignore_index=True)
    kpis = {
        t("推荐覆盖率 (商品目录)", "recommendation coverage (catalogue)"): f"{coverage:.1%}",
        t("推荐过的商品", "items recommended"): f"{int((catalogue['times'] > 0).sum()):,} / {len(catalogue):,}",
        t("每个列表平均品类数", "categories per list"): f"{np.mean(per_list) if per_list else 0:.1f}",
        t("抽样用户", "users sampled"): f"{len(lists):,}",
    }
    mix = pd.DataFrame({t("候选来源", "source"): [SOURCES.get(s, (s, s))[0 if zh else 1] for s in sources],
                        t("推荐位占比", "share of slots"): [round(n / max(len(items), 1), 3) for n in sources.values()]})  # fmt: skip
    body = h.kpis(kpis) + f"<h3>{h.esc(t('推荐位来源', 'Where the recommended items come from'))}</h3>" + h.table(mix)
    body += h.figure_svg(_coverage_figure(table, ctx))
    body += f"<h3>{h.esc(t('各品类覆盖率与推荐最多的商品', 'Coverage and top items per category'))}</h3>" + h.table(
        table
    )
    note = t(
        f"对 {len(lists):,} 位随机抽样用户生成个性化前 {TOP_PER_USER} 推荐 (与 /recommend/user 接口相同的规则: 库存、多样性、已购耐用品)。",
        f"Personal top-{TOP_PER_USER} lists for {len(lists):,} randomly sampled users (the same rules as "
        "/recommend/user: stock, diversity, durables just bought).",
    )
    body += f"<p class='note'>{h.esc(note)}</p>"
    return Section(t("推荐覆盖与各品类热门", "Coverage and top items per category"), body, kpis=kpis,
                   numbers=[f"{coverage:.1%}"])  # fmt: skip


def _coverage_figure(table: pd.DataFrame, ctx: ReportContext):
    """Per category (most recommended first): share of its items ever recommended, and its share of the slots."""
    t = ctx.t
    shown = table.head(15).iloc[::-1]
    fig = h.new_figure(7.5, 0.3 * len(shown) + 1.4)
    ax = fig.subplots()
    y = np.arange(len(shown))
    ax.barh(y + 0.2, shown[t("覆盖率", "coverage")], 0.4, color="#2471a3", label=t("覆盖率", "coverage"))
    ax.barh(y - 0.2, shown[t("推荐位占比", "share of slots")], 0.4, color="#c0392b",
            label=t("推荐位占比", "share of slots"))  # fmt: skip
    ax.set_yticks(y, shown[t("品类", "category")].astype(str))
    ax.legend()
    fig.tight_layout()
    return fig


def record(ctx: ReportContext, row: pd.DataFrame, entity_id: str) -> dict[str, Any]:
    """The user's list: rank -> item, source and reason."""
    rec = ctx.model.recommend_users([entity_id], k=TOP_PER_USER)[0]
    reason = "reason_zh" if ctx.lang == "zh" else "reason_en"
    out: dict[str, Any] = {c.USER_ID: entity_id, "cold_start": rec.get("cold_start")}
    for it in rec.get("items", []):
        out[f"#{it['rank']}"] = f"{it[c.SKU_ID]} · {it[c.CATEGORY]} · {it[reason]}"
    return out


RECOMMEND_REPORT = ReportHooks(
    id_column=c.USER_ID,
    latest_model=latest_users,
    contributions=contributions,
    actions=actions,
    record=record,
    labels=labels,
    score_label=("排序得分", "ranking score"),
)
