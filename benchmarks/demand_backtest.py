"""Policy backtest for bench_demand.py: our sampled lead-time policy vs the normal formula, replayed day by day.

At every rolling origin both policies get the same forecast (ours: the daily quantile grid; the baseline: its
mean and the SKU's recent daily standard deviation) and the same lead-time samples (purchase orders received
before the origin); they are replayed on the demand that followed (the synthetic world's true demand, or a real
dataset's sales) and held until the next origin. Each SKU starts at its policy's order-up-to level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from features import columns as c
from models.inventory import GRID, PolicyParams, abc_classes, level_variances, normal_policy, sku_policy_schedule
from models.policy_backtest import replay
from training.demand_data import pooled_lead_times

# the normal formula's shortfalls (1 - target) scaled by these, in order of rising targets, to trace its stock
# against realised service level on both sides of its own target (1.0): where the normal formula over-serves a class
# at its target (class A), ours' level lies below that point and the curve must reach down to it
SHORTFALL_SCALES = (3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05, 0.02, 0.01, 0.003)


def _matrix(frame: pd.DataFrame, ids: Sequence[str], days: pd.DatetimeIndex, col: str) -> np.ndarray:
    wide = frame.pivot_table(index=c.DS, columns=c.UNIQUE_ID, values=col, aggfunc="sum")
    return wide.reindex(index=days, columns=list(ids)).fillna(0.0).to_numpy("float64")


def _normal_schedule(mean: np.ndarray, std: float, lead: np.ndarray, sl: float, params: PolicyParams, days: int):
    """The normal formula on each day, with d the forecast mean over the mean lead time after that day."""
    span = max(int(np.ceil(lead.mean())), 1)
    cycle = int(np.ceil(params.cycle_days))
    path = np.concatenate([mean, np.repeat(mean[-7:].mean(), days + span + cycle + 1)])
    rop, big_s = np.empty(days), np.empty(days)
    for t in range(days):
        d = float(path[t + 1 : t + 1 + span].mean())
        base = normal_policy(d, std, float(lead.mean()), float(lead.std()), sl, params.cycle_days)
        rop[t] = base["reorder_point"]
        big_s[t] = rop[t] + path[t + 1 + span : t + 1 + span + cycle].sum() * params.cycle_days / cycle
    return {"reorder_point": rop, "order_up_to": big_s}


def policies_at(
    grid_fc: pd.DataFrame,
    history: pd.DataFrame,
    ids: Sequence[str],
    leads: Mapping[str, np.ndarray],
    classes: pd.Series,
    params: PolicyParams,
    days: int,
    names: Sequence[str] = ("ours", "normal"),
) -> dict[str, dict[str, np.ndarray]]:
    """Per-day reorder point and order-up-to (days x SKUs) for each of ``names`` from one origin's forecast."""
    rng = np.random.default_rng(params.seed)
    fallback = pooled_lead_times(dict(leads))
    recent = history[history[c.DS] > history[c.DS].max() - pd.Timedelta(days=91)]
    weight = recent["weight"] if "weight" in recent else pd.Series(1.0, index=recent.index)
    std = recent[c.Y].where(weight > 0).groupby(recent[c.UNIQUE_ID]).std().fillna(0.0)
    level_var = level_variances(history.sort_values([c.UNIQUE_ID, c.DS]))
    cols = [f"q{100 * q:g}" for q in GRID]
    by_id = {k: g.sort_values(c.DS) for k, g in grid_fc.groupby(c.UNIQUE_ID)}
    out = {name: {"reorder_point": [], "order_up_to": [], "service_level": []} for name in names}
    for sku in ids:
        lt = leads.get(sku, fallback)
        lt = lt if len(lt) else fallback
        sl = params.service_levels[classes.get(sku, "C")]
        pols = {}
        if "ours" in names:
            q = by_id[sku][cols].to_numpy("float64")
            pols["ours"] = sku_policy_schedule(q, lt, sl, params, rng, days, level_var.get(sku, 1.0))
        if "normal" in names:
            mean = by_id[sku]["mean"].to_numpy("float64")
            pols["normal"] = _normal_schedule(mean, float(std.get(sku, 0.0)), lt, sl, params, days)
        for name, pol in pols.items():
            out[name]["reorder_point"].append(pol["reorder_point"])
            out[name]["order_up_to"].append(pol["order_up_to"])
            out[name]["service_level"].append(sl)
    return {name: {k: np.asarray(v).T for k, v in pol.items()} for name, pol in out.items()}


def backtest(
    grids: Mapping[pd.Timestamp, pd.DataFrame],
    history: pd.DataFrame,
    demand: pd.DataFrame,
    ids: Sequence[str],
    leads_at: Mapping[pd.Timestamp, Mapping[str, np.ndarray]],
    h: int,
    params: PolicyParams = PolicyParams(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The policy table and the stock of each policy at equal realised service level.

    Table: one row per policy and ABC class (plus "all"): target, realised cycle service level, fill rate, stock.
    Equal service: the normal formula replayed with every class's shortfall (1 - target) scaled step by step
    (:data:`SHORTFALL_SCALES`), and per class its mean stock interpolated at the cycle service level ours realised
    there (the issue's "less stock at the same realised service level"; NaN when no step reaches it).
    """
    cutoffs = sorted(grids)
    first = cutoffs[0]
    past = history[(history[c.DS] <= first) & (history[c.DS] > first - pd.Timedelta(days=91))]
    revenue = (past[c.Y] * past.get("price", 1.0)).groupby(past[c.UNIQUE_ID]).sum().reindex(ids).fillna(0.0)
    classes = abc_classes(revenue, params.abc_cuts)
    days = pd.DatetimeIndex(np.concatenate([np.sort(grids[k][c.DS].unique())[:h] for k in cutoffs]))
    dem = _matrix(demand, ids, days, c.Y)
    lead_lists = [leads_at[cutoffs[-1]].get(s, pooled_lead_times(dict(leads_at[cutoffs[-1]]))) for s in ids]

    def run(name: str, p: PolicyParams):
        per_origin = [
            policies_at(grids[k], history[history[c.DS] <= k], ids, leads_at[k], classes, p, h, (name,))[name]
            for k in cutoffs
        ]
        rop = np.concatenate([o["reorder_point"] for o in per_origin])
        big_s = np.concatenate([o["order_up_to"] for o in per_origin])
        return replay(dem, rop, big_s, lead_lists, big_s[0], seed=p.seed), per_origin[0]["service_level"]

    masks = {cls: (classes.loc[list(ids)] == cls).to_numpy() for cls in ("A", "B", "C")}
    masks["all"] = np.ones(len(ids), bool)

    def by_class(result) -> dict[str, dict[str, float]]:
        return {
            cls: type(result)(*(getattr(result, f)[m] for f in result.__dataclass_fields__)).summary()
            for cls, m in masks.items()
        }

    rows, summaries = [], {}
    for name in ("ours", "normal"):
        result, targets = run(name, params)
        summaries[name] = by_class(result)
        for cls, m in masks.items():
            rows.append({"policy": name, "class": cls, "skus": int(m.sum()), "target": float(targets[m].mean()),
                         **summaries[name][cls]})  # fmt: skip
    curve = []
    for scale in SHORTFALL_SCALES:
        levels = {k: 1.0 - (1.0 - v) * scale for k, v in params.service_levels.items()}
        curve.append(
            summaries["normal"] if scale == 1.0 else by_class(run("normal", replace(params, service_levels=levels))[0])
        )
    return pd.DataFrame(rows), _equal_service(summaries["ours"], curve, {k: int(m.sum()) for k, m in masks.items()})


def _stock_at(level: float, csl: np.ndarray, stock: np.ndarray) -> float:
    """The least stock at which the normal formula's curve (in order of rising targets) first reaches ``level``.

    Linear between the step below and the first step at or above it; the curve's realised level is made
    non-decreasing first (replay noise), and when several steps share the level reached (1.0 for class A) the
    cheapest counts. NaN when ``level`` lies below the curve's first step or above its last.
    """
    reached = np.maximum.accumulate(csl)
    if not (csl[0] <= level <= reached[-1]):
        return float("nan")
    j = int(np.argmax(reached >= level))
    if j == 0 or reached[j] <= reached[j - 1]:
        return float(stock[j])
    frac = (level - reached[j - 1]) / (reached[j] - reached[j - 1])
    return float(stock[j - 1] + frac * (stock[j] - stock[j - 1]))


def _equal_service(ours: dict, curve: list[dict], skus: dict[str, int]) -> pd.DataFrame:
    """Per class: the normal formula's mean stock at the cycle service level ours realised (:func:`_stock_at`).

    "all (per class)" adds the classes' matched stocks (each class held at its own realised level, so a policy
    cannot look cheaper by serving the cheap class better); NaN where the normal formula never reaches ours.
    """
    rows = []
    for cls in ("A", "B", "C", "all"):
        csl = np.array([point[cls]["cycle_service_level"] for point in curve])
        stock = np.array([point[cls]["mean_on_hand"] for point in curve])
        level = ours[cls]["cycle_service_level"]
        rows.append({"class": cls, "skus": skus[cls], "cycle_service_level": level,
                     "ours_on_hand": ours[cls]["mean_on_hand"],
                     "normal_on_hand_at_level": _stock_at(level, csl, stock)})  # fmt: skip
    table = pd.DataFrame(rows)
    part = table[(table["class"] != "all") & (table["skus"] > 0)]
    table.loc[len(table)] = {
        "class": "all (per class)",
        "skus": int(part["skus"].sum()),
        "cycle_service_level": ours["all"]["cycle_service_level"],
        "ours_on_hand": float(np.average(part["ours_on_hand"], weights=part["skus"])),
        # NaN when any class is out of the normal formula's reach: no fair total exists then
        "normal_on_hand_at_level": float(np.average(part["normal_on_hand_at_level"], weights=part["skus"])),
    }
    table["stock_vs_normal"] = table["ours_on_hand"] / table["normal_on_hand_at_level"] - 1.0
    return table
