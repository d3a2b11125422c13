"""Policy backtest for bench_demand.py: our sampled lead-time policy vs the normal formula, replayed day by day.

At every rolling origin both policies get the same forecast (ours: the daily quantile grid; the baseline: its
mean and the SKU's recent daily standard deviation) and the same lead-time samples (purchase orders received
before the origin); they are replayed on the demand that followed (the synthetic world's true demand, or a real
dataset's sales) and held until the next origin. Each SKU starts at its policy's order-up-to level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from features import columns as c
from models.inventory import GRID, PolicyParams, abc_classes, normal_policy, sku_policy
from models.policy_backtest import replay
from training.demand_data import pooled_lead_times


def _matrix(frame: pd.DataFrame, ids: Sequence[str], days: pd.DatetimeIndex, col: str) -> np.ndarray:
    wide = frame.pivot_table(index=c.DS, columns=c.UNIQUE_ID, values=col, aggfunc="sum")
    return wide.reindex(index=days, columns=list(ids)).fillna(0.0).to_numpy("float64")


def policies_at(
    grid_fc: pd.DataFrame,
    history: pd.DataFrame,
    ids: Sequence[str],
    leads: Mapping[str, np.ndarray],
    classes: pd.Series,
    params: PolicyParams,
) -> dict[str, pd.DataFrame]:
    """Reorder point and order-up-to of every SKU for "ours" and "normal" at one origin."""
    rng = np.random.default_rng(params.seed)
    fallback = pooled_lead_times(dict(leads))
    recent = history[history[c.DS] > history[c.DS].max() - pd.Timedelta(days=91)]
    weight = recent["weight"] if "weight" in recent else pd.Series(1.0, index=recent.index)
    std = recent[c.Y].where(weight > 0).groupby(recent[c.UNIQUE_ID]).std().fillna(0.0)
    cols = [f"q{100 * q:g}" for q in GRID]
    by_id = {k: g for k, g in grid_fc.groupby(c.UNIQUE_ID)}
    rows: dict[str, list[dict]] = {"ours": [], "normal": []}
    for sku in ids:
        q = by_id[sku].sort_values(c.DS)[cols].to_numpy("float64")
        lt = leads.get(sku, fallback)
        lt = lt if len(lt) else fallback
        sl = params.service_levels[classes.get(sku, "C")]
        rows["ours"].append(sku_policy(q, lt, sl, params, rng) | {c.UNIQUE_ID: sku})
        mean = float(by_id[sku]["mean"].mean())
        base = normal_policy(mean, float(std.get(sku, 0.0)), float(lt.mean()), float(lt.std()), sl, params.cycle_days)
        rows["normal"].append(base | {c.UNIQUE_ID: sku, "service_level": sl})
    return {k: pd.DataFrame(v).set_index(c.UNIQUE_ID) for k, v in rows.items()}


def backtest(
    grids: Mapping[pd.Timestamp, pd.DataFrame],
    history: pd.DataFrame,
    demand: pd.DataFrame,
    ids: Sequence[str],
    leads_at: Mapping[pd.Timestamp, Mapping[str, np.ndarray]],
    h: int,
    params: PolicyParams = PolicyParams(),
) -> pd.DataFrame:
    """One row per policy and ABC class (plus "all"): target, realised cycle service level, fill rate, stock."""
    cutoffs = sorted(grids)
    first = cutoffs[0]
    past = history[(history[c.DS] <= first) & (history[c.DS] > first - pd.Timedelta(days=91))]
    revenue = (past[c.Y] * past.get("price", 1.0)).groupby(past[c.UNIQUE_ID]).sum().reindex(ids).fillna(0.0)
    classes = abc_classes(revenue, params.abc_cuts)
    days = pd.date_range(first + pd.Timedelta(days=1), periods=h * len(cutoffs), freq="D")
    dem = _matrix(demand, ids, days, c.Y)
    per_origin = [
        policies_at(grids[k], history[history[c.DS] <= k], ids, leads_at[k], classes, params) for k in cutoffs
    ]
    lead_lists = [leads_at[cutoffs[-1]].get(s, pooled_lead_times(dict(leads_at[cutoffs[-1]]))) for s in ids]
    rows = []
    for name in ("ours", "normal"):
        rop = np.repeat(np.stack([p[name].loc[list(ids), "reorder_point"].to_numpy() for p in per_origin]), h, axis=0)
        big_s = np.repeat(np.stack([p[name].loc[list(ids), "order_up_to"].to_numpy() for p in per_origin]), h, axis=0)
        result = replay(dem, rop, big_s, lead_lists, big_s[0], seed=params.seed)
        for cls in ("A", "B", "C", "all"):
            mask = np.ones(len(ids), bool) if cls == "all" else (classes.loc[list(ids)] == cls).to_numpy()
            sub = type(result)(*(getattr(result, f)[mask] for f in result.__dataclass_fields__))
            target = float(per_origin[0][name]["service_level"].to_numpy()[mask].mean())
            rows.append({"policy": name, "class": cls, "skus": int(mask.sum()), "target": target, **sub.summary()})
    return pd.DataFrame(rows)
