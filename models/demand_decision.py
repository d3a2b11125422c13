"""The served demand decision: per-SKU quantile forecasts and the reorder policy with inventory warnings.

One fitted object answers both routes. It carries the forecaster (whose mlforecast state holds each SKU's recent
history), each SKU's lead-time samples, ABC classes and a stock snapshot from training, so serving needs no lake.
Ids the model never saw are ``unknown_sku``, or ``not_forecast`` (with the rule) for catalogue SKUs the demand
panel's rule left out (a large catalogue forecasts its best sellers only: ``demand_max_skus``).
The served model never changes after training, so every known SKU's mean path and its policy at the default
service level are computed once when the object is built (:meth:`DemandDecision.precompute`); a request slices
them and adds its own quantile levels and stock arithmetic.
Stock on hand and on order come, in this order, from the request, from the online ``sku`` features, or from the
training snapshot. Ids the model never saw are answered ``unknown_sku``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import columns as c
from models.decision import KNOWN, looked_up_floats
from models.demand import COLD, FREQS, MEAN, DemandForecaster, quantile_values
from models.demand_names import FEATURE_SERVICE, FORECAST, NOT_FORECAST, OK, POLICY, UNKNOWN
from models.forecast_metrics import quantile_column
from models.inventory import (
    GRID,
    PolicyParams,
    WarningParams,
    inventory_warnings,
    level_variances,
    normal_policy,
    order_quantity,
    sku_policy,
    turnover_days,
)

PLAN_CACHE_MAX = 50_000  # cached (SKU, service level) policies per served model
CACHES = ("_plan_cache", "_snapshot_stock", "_stored_rows_cache", "_default_quantiles_cache")
SNAPSHOT_COLUMNS = ("on_hand", "on_order", "mean_daily", "std_daily", "level_var", "days_since_sale", "abc", "xyz")


def _level_key(q: float) -> str:
    return f"p{100 * q:g}"


class DemandDecision:
    """Forecast + policy for SKUs by id (``feature_names`` is empty: the model holds what it needs)."""

    def __init__(
        self,
        forecaster: DemandForecaster,
        lead_times: dict[str, np.ndarray],
        snapshot: pd.DataFrame,
        policy: PolicyParams = PolicyParams(),
        warnings: WarningParams = WarningParams(),
        catalogue: Sequence[str] = (),
        sku_rule: str = "",
    ) -> None:
        self.forecaster = forecaster
        # catalogue SKUs the panel rule left out answer "not_forecast" with the rule, not "unknown_sku"
        self.left_out = frozenset(str(i) for i in catalogue) - {str(i) for i in forecaster.history_len_.index}
        self.sku_rule = sku_rule
        self.lead_times = {k: np.asarray(v, dtype="float64") for k, v in lead_times.items() if len(v)}
        parts = [v for v in self.lead_times.values()]
        self.pooled_lead = np.concatenate(parts) if parts else np.array([7.0])
        self.snapshot = snapshot
        self.policy = policy
        self.warnings = warnings
        self.feature_names: list[str] = []
        self.feature_service = FEATURE_SERVICE
        self.paths_: dict[str, Any] | None = None
        self.plans_: dict[str, dict] = {}

    def precompute(self) -> DemandDecision:
        """Store every known SKU's mean path over the policy horizon and its default-service-level policy.

        Why: the recursive forecast costs tens of milliseconds per call (mlforecast builds the lags period by
        period) and sampling a policy several more, while their inputs are fixed once training ends. Longer
        horizons and explicit service levels still go through the forecaster and the sampler.
        """
        f = self.forecaster
        ids = [str(i) for i in f.history_len_.index]
        pred = f.predict_mean(h=self._plan_horizon(), ids=ids)
        wide = pred.pivot(index=c.UNIQUE_ID, columns=c.DS, values=MEAN)
        if len(wide) and not wide.isna().to_numpy().any():  # one shared calendar: every SKU ends on the same day
            cold = pred.groupby(c.UNIQUE_ID)[COLD].first().reindex(wide.index)
            self.paths_ = {"ids": pd.Index(wide.index.astype(str)), "ds": wide.columns.to_numpy(),
                           "mean": wide.to_numpy("float64"), "cold": cold.to_numpy(bool)}  # fmt: skip
        for cache in ("_stored_rows_cache", "_default_quantiles_cache"):  # of the paths stored before, if any
            self.__dict__.pop(cache, None)
        self.plans_ = self._compute_plans(ids, None)
        return self

    def _plan_horizon(self) -> int:
        return max(self.forecaster.h, 28) if self.forecaster.freq == "D" else self.forecaster.h

    def _means(self, ids: list[str], h: int) -> pd.DataFrame:
        """Mean demand per SKU and period (a :meth:`DemandForecaster.predict_mean` frame), from the stored paths."""
        paths = getattr(self, "paths_", None)  # models pickled before precompute existed have none
        if paths is None or h > paths["mean"].shape[1]:
            return self.forecaster.predict_mean(h, ids)
        rows = paths["ids"].get_indexer(ids)
        rows = rows[rows >= 0]
        return pd.DataFrame({
            c.UNIQUE_ID: np.repeat(paths["ids"].to_numpy()[rows], h),
            c.DS: np.tile(paths["ds"][:h], len(rows)),
            MEAN: paths["mean"][rows, :h].ravel(),
            COLD: np.repeat(paths["cold"][rows], h),
        })  # fmt: skip

    # ---- entry point ---------------------------------------------------------------------------------------
    def decide(
        self,
        frame: pd.DataFrame,
        sku_ids: Sequence[str] | None = None,
        action: str = FORECAST,
        horizon: int | None = None,
        levels: Sequence[float] | None = None,
        service_level: float | None = None,
        stock: Sequence[dict[str, Any]] | None = None,
        lookup: Callable[[str, Sequence[str]], pd.DataFrame] | None = None,
    ) -> list[dict[str, Any]]:
        """One record per id of ``sku_ids`` then of ``frame[sku_id]``, in order, with ``status``.

        Args:
            frame: optional rows with a ``sku_id`` column (the pyfunc input).
            sku_ids: SKU ids asked for.
            action: "forecast" (quantiles per period) or "policy" (safety stock, reorder point, warnings).
            horizon: periods to forecast (default the model's h).
            levels: quantile levels in percent (default the model's).
            service_level: overrides the ABC-class target for every SKU of the call.
            stock: per-SKU ``{sku_id, on_hand, on_order}`` overrides.
            lookup: the runtime's online feature lookup (current stock), when served.
        """
        ids = [str(i) for i in (sku_ids or [])]
        if c.SKU_ID in frame.columns:
            ids += [str(i) for i in frame[c.SKU_ID].tolist() if not pd.isna(i)]  # a list: no Series per request
        known = [i for i in dict.fromkeys(ids) if i in self.forecaster.history_len_.index]
        if action == POLICY:
            done = self._policies(known, service_level, stock, lookup)
        else:
            done = self._forecasts(known, horizon, levels)
        return [{c.SKU_ID: i, "status": OK, **done[i]} if i in done else self._missing(i) for i in ids]

    def _missing(self, sku: str) -> dict[str, Any]:
        if sku in getattr(self, "left_out", ()):  # models pickled before the rule existed have no such set
            return {c.SKU_ID: sku, "status": NOT_FORECAST,
                    "reason": f"in the catalogue but not among the SKUs the demand model forecasts: {self.sku_rule}"}  # fmt: skip
        return {c.SKU_ID: sku, "status": UNKNOWN}

    # ---- forecast ------------------------------------------------------------------------------------------
    def _forecasts(self, ids: list[str], horizon: int | None, levels: Sequence[float] | None) -> dict[str, dict]:
        if not ids:
            return {}
        qs = [float(v) / 100 for v in levels] if levels else list(self.forecaster.quantiles)
        h = horizon or self.forecaster.h
        paths = getattr(self, "paths_", None)  # models pickled before precompute existed have none
        if paths is None or h > paths["mean"].shape[1]:
            return self._forecasts_from(self.forecaster.with_quantiles(self.forecaster.predict_mean(h, ids), qs), qs)
        return self._stored_forecasts(ids, h, qs)

    def _stored_forecasts(self, ids: list[str], h: int, qs: list[float]) -> dict[str, dict]:
        """Quantiles of the stored mean paths on arrays (the same numbers as the frame path below, a fraction of
        its cost per request): each known SKU's row, dispersion and sale rate are resolved once per process."""
        paths = self.paths_
        row_of, _, _, days = self._stored_rows()
        rows = np.asarray([row_of[i] for i in ids if i in row_of], dtype=np.intp)
        mu = paths["mean"][rows, :h]
        if tuple(qs) == tuple(self.forecaster.quantiles):
            values = self._default_quantiles(rows)[:, :h]
        else:
            values = self._path_quantiles(rows, h, qs)
        keys = [_level_key(q) for q in qs]
        out = {}
        for k, row in enumerate(rows):
            periods = [
                {"ds": days[t], "mean": round(float(mu[k, t]), 4),
                 "quantiles": dict(zip(keys, values[k, t].tolist(), strict=True))}
                for t in range(h)
            ]  # fmt: skip
            out[str(paths["ids"][row])] = {"cold_start": bool(paths["cold"][row]), "periods": periods}
        return out

    def _path_quantiles(self, rows: np.ndarray, h: int, qs: Sequence[float]) -> np.ndarray:
        """Quantiles (rows x h x levels) of the stored mean paths' first ``h`` periods."""
        _, alpha, rate, _ = self._stored_rows()
        mu = self.paths_["mean"][rows, :h].ravel()
        flat_rate = None if rate is None else np.repeat(rate[rows], h)
        return quantile_values(mu, np.repeat(alpha[rows], h), flat_rate, qs).reshape(len(rows), h, len(qs))

    def _default_quantiles(self, rows: np.ndarray) -> np.ndarray:
        """The default levels' quantiles of ``rows``' whole stored paths, each SKU's computed on its first request
        and kept for the process.

        Why: the negative-binomial inverse costs ~2 us a value (0.3 ms for one SKU's 28 days x 5 levels), the
        largest part of a one-SKU forecast request, while its inputs are fixed once the model is trained. Filled per
        SKU rather than at load so a large catalogue pays only for the SKUs asked about. Each value is what
        :meth:`_path_quantiles` gives (the inverse is elementwise).
        """
        table, done = self.__dict__.get("_default_quantiles_cache") or (None, None)
        if table is None:
            shape = (*self.paths_["mean"].shape, len(self.forecaster.quantiles))
            table, done = np.zeros(shape), np.zeros(shape[0], dtype=bool)
            self.__dict__["_default_quantiles_cache"] = (table, done)
        first_asked = np.unique(rows[~done[rows]])
        if len(first_asked):
            table[first_asked] = self._path_quantiles(first_asked, table.shape[1], self.forecaster.quantiles)
            done[first_asked] = True
        return table[rows]

    def prepare_serving(self, cache_dir: Path | None = None) -> None:
        """At load (the runtime calls it), what the first forecast request would otherwise build: the stored
        paths' rows, dispersions, sale rates and days. Nothing is written to ``cache_dir``."""
        if getattr(self, "paths_", None) is not None:
            self._stored_rows()

    def _stored_rows(self) -> tuple[dict[str, int], np.ndarray, np.ndarray | None, list[str]]:
        """Row of each stored SKU, its dispersion and (hurdle models) sale rate, and the stored days as text."""
        cached = self.__dict__.get("_stored_rows_cache")
        if cached is None:
            f, paths = self.forecaster, self.paths_
            ids = [str(i) for i in paths["ids"]]
            recent = getattr(f, "recent_", None)
            rate = None if recent is None else f.sale_rate_for(ids, recent)
            days = [pd.Timestamp(d).strftime("%Y-%m-%d") for d in paths["ds"]]
            cached = self.__dict__["_stored_rows_cache"] = (
                {i: r for r, i in enumerate(ids)},
                f.alpha_for(ids),
                rate,
                days,
            )
        return cached

    @staticmethod
    def _forecasts_from(pred: pd.DataFrame, qs: list[float]) -> dict[str, dict]:
        """Records of a forecaster's quantile frame (horizons past the stored paths)."""
        out = {}
        for sku, g in pred.groupby(c.UNIQUE_ID, sort=False):
            periods = [
                {
                    "ds": ds.strftime("%Y-%m-%d"),
                    "mean": round(float(m), 4),
                    "quantiles": {_level_key(q): float(row[j]) for j, q in enumerate(qs)},
                }
                for ds, m, row in zip(g[c.DS], g[MEAN], g[[quantile_column(q) for q in qs]].to_numpy(), strict=True)
            ]
            out[str(sku)] = {"cold_start": bool(g["cold_start"].iat[0]), "periods": periods}
        return out

    # ---- policy --------------------------------------------------------------------------------------------
    def _stock(self, ids: list[str], stock, lookup) -> dict[str, dict[str, float | None]]:
        """on_hand / on_order per id: request overrides, then online features, then the training snapshot.

        Plain dicts, not frames: this runs on every policy request, where pandas indexing cost milliseconds.
        """
        snapshot = self.__dict__.get("_snapshot_stock")
        if snapshot is None:
            frame = self.snapshot[["on_hand", "on_order"]].astype("float64")
            snapshot = self.__dict__["_snapshot_stock"] = {
                str(sku): {"on_hand": _num(a), "on_order": _num(b)}
                for sku, a, b in zip(frame.index, frame["on_hand"], frame["on_order"], strict=True)
            }
        current = {i: dict(snapshot.get(i) or {"on_hand": None, "on_order": None}) for i in ids}
        if lookup is not None:
            try:
                online = lookup(FEATURE_SERVICE, ids)
            except Exception:  # the snapshot is still a sound answer when the online store is unavailable
                online = None
            if online is not None and KNOWN in online:
                known = np.asarray(online[KNOWN], dtype=bool)
                for src, dst in ((c.ON_HAND, "on_hand"), ("units_in_transit", "on_order")):
                    if src in online:
                        values = looked_up_floats(online[src])
                        for sku, ok, value in zip(ids, known, values, strict=True):
                            if ok and value == value:  # NaN online keeps the snapshot's value
                                current[sku][dst] = float(value)
        for row in stock or []:
            sku = str(row.get(c.SKU_ID))
            if sku in current:
                for key in ("on_hand", "on_order"):
                    if row.get(key) is not None:
                        current[sku][key] = float(row[key])
        return current

    def _policies(self, ids: list[str], service_level: float | None, stock, lookup) -> dict[str, dict]:
        if not ids:
            return {}
        plans = self._plans(ids, service_level)
        current = self._stock(list(plans), stock, lookup)
        return {sku: self._one_policy(sku, plan, current[sku]) for sku, plan in plans.items()}

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in CACHES}  # caches, never part of the model

    def _plans(self, ids: list[str], service_level: float | None) -> dict[str, dict]:
        """The stock-independent part of each SKU's policy: stored for the default service levels, else cached.

        Each SKU draws from its own seeded stream, so an answer does not depend on which other SKUs share the
        request, nor on whether it was stored at training or computed now.
        """
        stored = getattr(self, "plans_", {}) if service_level is None else {}
        cache: dict[tuple[str, float | None], dict] = self.__dict__.setdefault("_plan_cache", {})
        missing = [i for i in dict.fromkeys(ids) if i not in stored and (i, service_level) not in cache]
        if missing:
            if len(cache) + len(missing) > PLAN_CACHE_MAX:
                cache.clear()  # bounded: distinct service-level overrides cannot grow memory without end
            for sku, plan in self._compute_plans(missing, service_level).items():
                cache[(sku, service_level)] = plan
        out = {}
        for i in ids:
            plan = stored.get(i) or cache.get((i, service_level))
            if plan is not None:
                out[i] = plan
        return out

    def _compute_plans(self, ids: list[str], service_level: float | None) -> dict[str, dict]:
        """Each SKU's policy from its daily quantile grid over the policy horizon (a few ms of sampling per SKU)."""
        if not ids:
            return {}
        grid = self.forecaster.with_quantiles(self._means(ids, self._plan_horizon()), GRID)
        cols = [quantile_column(q) for q in GRID]
        return {
            str(sku): self._plan(str(sku), g, cols, service_level) for sku, g in grid.groupby(c.UNIQUE_ID, sort=False)
        }

    def _plan(self, sku: str, g: pd.DataFrame, cols: list[str], service_level: float | None) -> dict:
        snap = self.snapshot.loc[sku].to_dict() if sku in self.snapshot.index else {}
        abc = str(snap.get("abc", "C"))
        sl = float(service_level) if service_level is not None else float(self.policy.service_levels[abc])
        leads = self.lead_times.get(sku, self.pooled_lead)
        period = self._period_days()
        policy = self.policy
        if period > 1:  # monthly/weekly forecasts: lead times, order cycle and review in whole periods, at least one
            leads = np.maximum(np.ceil(leads / period), 1.0)
            policy = replace(policy, cycle_days=max(policy.cycle_days / period, 1.0),
                             review_days=max(policy.review_days / period, 1.0))  # fmt: skip
        rng = np.random.default_rng([policy.seed, zlib.crc32(sku.encode("utf-8"))])
        level_var = float(snap.get("level_var", 0.0) or 0.0)  # models pickled before it: the level as known
        pol = sku_policy(g[cols].to_numpy("float64"), leads, sl, policy, rng, level_var)
        daily = g[MEAN].to_numpy("float64")
        base = normal_policy(
            float(daily.mean()), float(snap.get("std_daily", 0.0) or 0.0), float(leads.mean()), float(leads.std()), sl,
            policy.cycle_days,
        )  # fmt: skip
        return {"snap": snap, "abc": abc, "sl": sl, "leads": leads, "pol": pol, "daily": daily, "base": base,
                "cold_start": bool(g["cold_start"].iat[0])}  # fmt: skip

    def _period_days(self) -> float:
        return FREQS[self.forecaster.freq].period_days

    def _one_policy(self, sku: str, plan: dict, current: dict[str, float | None]) -> dict:
        """The answer for one SKU; ``plan`` works in forecast periods, the answer speaks in days."""
        snap, pol, daily, period = plan["snap"], plan["pol"], plan["daily"], self._period_days()
        lead_days = plan["leads"] * period
        on_hand, on_order = _num(current.get("on_hand")), _num(current.get("on_order")) or 0.0
        qty = (
            order_quantity(pol["reorder_point"], pol["order_up_to"], on_hand, on_order) if on_hand is not None else None
        )
        warns = (
            inventory_warnings(
                on_hand=on_hand, on_order=on_order, reorder_point=pol["reorder_point"], daily_mean=daily,
                lead_time_days=float(lead_days.mean()), days_since_sale=_num(snap.get("days_since_sale")),
                params=self.warnings, period_days=period,
            )
            if on_hand is not None
            else []
        )  # fmt: skip
        mean_sales = _num(snap.get("mean_daily")) or 0.0
        return {
            "cold_start": plan["cold_start"],
            "abc_class": plan["abc"],
            "xyz_class": str(snap.get("xyz", "Z")),
            "service_level": plan["sl"],
            "lead_time_mean_days": round(float(lead_days.mean()), 2),
            "lead_time_std_days": round(float(lead_days.std()), 2),
            "mean_daily_forecast": round(float(daily.mean()) / period, 4),
            "safety_stock": round(pol["safety_stock"], 2),
            "reorder_point": round(pol["reorder_point"], 2),
            "order_up_to": round(pol["order_up_to"], 2),
            "normal_formula_reorder_point": round(plan["base"]["reorder_point"], 2),
            "on_hand": on_hand,
            "on_order": on_order,
            "order_quantity": qty,
            "turnover_days": _round(turnover_days(on_hand, mean_sales / period)) if on_hand is not None else None,
            "warnings": warns,
        }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(out) else out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def sku_snapshot(panel: pd.DataFrame, in_transit: pd.Series | None = None, window: int = 91) -> pd.DataFrame:
    """Per SKU at the end of ``panel``: stock, recent daily mean/std, days since the last sale, ABC and XYZ."""
    from models.inventory import abc_classes, xyz_classes

    end = panel[c.DS].max()
    recent = panel[panel[c.DS] > end - pd.Timedelta(days=window)]
    g = recent.groupby(c.UNIQUE_ID)
    snap = pd.DataFrame({"mean_daily": g[c.Y].mean(), "std_daily": g[c.Y].std().fillna(0.0)})
    price = recent["price"] if "price" in recent else pd.Series(1.0, index=recent.index)
    snap["revenue"] = (recent[c.Y] * price.fillna(0.0)).groupby(recent[c.UNIQUE_ID]).sum()
    sold = panel[panel[c.Y] > 0].groupby(c.UNIQUE_ID)[c.DS].max()
    snap["days_since_sale"] = ((end - sold).dt.days + 1).reindex(snap.index)
    if c.ON_HAND in panel:
        snap["on_hand"] = panel.groupby(c.UNIQUE_ID)[c.ON_HAND].last().reindex(snap.index)
    else:
        snap["on_hand"] = np.nan
    snap["on_order"] = (in_transit if in_transit is not None else pd.Series(dtype="float64")).reindex(snap.index)
    snap["level_var"] = level_variances(panel.sort_values([c.UNIQUE_ID, c.DS])).reindex(snap.index).fillna(1.0)
    snap["abc"] = abc_classes(snap["revenue"])
    snap["xyz"] = xyz_classes(snap["mean_daily"], snap["std_daily"])
    return snap
