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
) -> dict[str, dict[str, np.ndarray]]:
    """Per-day reorder point and order-up-to (days x SKUs) for "ours" and "normal" from one origin's forecast."""
    rng = np.random.default_rng(params.seed)
    fallback = pooled_lead_times(dict(leads))
    recent = history[history[c.DS] > history[c.DS].max() - pd.Timedelta(days=91)]
    weight = recent["weight"] if "weight" in recent else pd.Series(1.0, index=recent.index)
    std = recent[c.Y].where(weight > 0).groupby(recent[c.UNIQUE_ID]).std().fillna(0.0)
    level_var = level_variances(history.sort_values([c.UNIQUE_ID, c.DS]))
    cols = [f"q{100 * q:g}" for q in GRID]
    by_id = {k: g.sort_values(c.DS) for k, g in grid_fc.groupby(c.UNIQUE_ID)}
    out = {name: {"reorder_point": [], "order_up_to": [], "service_level": []} for name in ("ours", "normal")}
    for sku in ids:
        lt = leads.get(sku, fallback)
        lt = lt if len(lt) else fallback
        sl = params.service_levels[classes.get(sku, "C")]
        q = by_id[sku][cols].to_numpy("float64")
        pols = {
            "ours": sku_policy_schedule(q, lt, sl, params, rng, days, level_var.get(sku, 1.0)),
            "normal": _normal_schedule(by_id[sku]["mean"].to_numpy("float64"), float(std.get(sku, 0.0)), lt, sl,
                                       params, days),
        }  # fmt: skip
        for name, pol in pols.items():
            out[name]["reorder_point"].append(pol["reorder_point"])
            out[name]["order_up_to"].append(pol["order_up_to"])
            out[name]["service_level"].append(sl)
    return {name: {k: np.asarray(v).T for k, v in pol.items()} for name, pol in out.items()}


def _at(params: PolicyParams, correlations: Mapping[pd.Timestamp, float] | None, k: pd.Timestamp) -> PolicyParams:
    return replace(params, day_correlation=correlations[k]) if correlations and k in correlations else params


def backtest(
    grids: Mapping[pd.Timestamp, pd.DataFrame],
    history: pd.DataFrame,
    demand: pd.DataFrame,
    ids: Sequence[str],
    leads_at: Mapping[pd.Timestamp, Mapping[str, np.ndarray]],
    h: int,
    params: PolicyParams = PolicyParams(),
    correlations: Mapping[pd.Timestamp, float] | None = None,
) -> pd.DataFrame:
    """One row per policy and ABC class (plus "all"): target, realised cycle service level, fill rate, stock.

    ``correlations``: the day correlation each origin's forecaster measured on its own held-back window (else the
    params' default).
    """
    cutoffs = sorted(grids)
    first = cutoffs[0]
    past = history[(history[c.DS] <= first) & (history[c.DS] > first - pd.Timedelta(days=91))]
    revenue = (past[c.Y] * past.get("price", 1.0)).groupby(past[c.UNIQUE_ID]).sum().reindex(ids).fillna(0.0)
    classes = abc_classes(revenue, params.abc_cuts)
    days = pd.DatetimeIndex(np.concatenate([np.sort(grids[k][c.DS].unique())[:h] for k in cutoffs]))
    dem = _matrix(demand, ids, days, c.Y)
    per_origin = [
        policies_at(grids[k], history[history[c.DS] <= k], ids, leads_at[k], classes, _at(params, correlations, k), h)
        for k in cutoffs
    ]
    lead_lists = [leads_at[cutoffs[-1]].get(s, pooled_lead_times(dict(leads_at[cutoffs[-1]]))) for s in ids]
    rows = []
    for name in ("ours", "normal"):
        rop = np.concatenate([p[name]["reorder_point"] for p in per_origin])
        big_s = np.concatenate([p[name]["order_up_to"] for p in per_origin])
        targets = per_origin[0][name]["service_level"]
        result = replay(dem, rop, big_s, lead_lists, big_s[0], seed=params.seed)
        for cls in ("A", "B", "C", "all"):
            mask = np.ones(len(ids), bool) if cls == "all" else (classes.loc[list(ids)] == cls).to_numpy()
            sub = type(result)(*(getattr(result, f)[mask] for f in result.__dataclass_fields__))
            target = float(targets[mask].mean())
            rows.append({"policy": name, "class": cls, "skus": int(mask.sum()), "target": target, **sub.summary()})
    return pd.DataFrame(rows)
