"""Demand forecast and reorder policy (时间序列销售预测, 安全库存, 库存预警) as a decision.

Honest gate: the last ``horizon`` days are held out; the booster is fitted on the days before them and judged on
them beside the statsforecast baselines (same rows: days out of stock all day are left out of every model's score,
since they show no demand; sold-out days stay, their sales a lower bound of demand, because leaving them out would
leave out most sale days of a slow mover and reward forecasting zero). The primary metric is the weighted quantile
loss; MASE is logged beside it because an all-zero forecast wins MASE on intermittent SKUs. After the judgement the
model's kept history is advanced over the holdout (no refit), so the served model forecasts from the latest day.

The forecasting libraries (mlforecast, statsforecast, statsmodels) are imported inside the functions that fit and
score: the service's BentoML arbiter imports this spec for its routes alone, and they cost it about 3 s a start.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import columns as c
from features.settings import DatasetPaths, Settings
from models.demand_names import FEATURE_SERVICE, FORECAST, POLICY, UNKNOWN
from models.forecast_metrics import revenue_weights, score_window
from serving.schemas.demand import ForecastRequest, ForecastResponse, PolicyRequest, PolicyResponse
from training import demand_data
from training.decisions.spec import Call, DecisionData, DecisionSpec, Evaluation, Route, TrainOptions
from training.reports.demand_report import DEMAND_REPORT

if TYPE_CHECKING:
    from models.demand_decision import DemandDecision

logger = logging.getLogger(__name__)

HORIZON = 28
SEASON = 7
MONTHS, SEASON_MONTHS = 12, 12  # monthly data: the published carparts protocol (h = 12, m = 12)
QS = tuple(round(0.1 * i, 1) for i in range(1, 10))
BASELINE_DAYS = 182  # statsforecast fits on the last half year: AutoETS cost grows with length, its fit does not
MIN_DAYS = 3 * HORIZON


def _load_monthly(paths: DatasetPaths, options: TrainOptions) -> DecisionData:
    """Monthly data (carparts): the lake's monthly SKU sales, the last ``h`` months held out (12 by default)."""
    h = max(round(options.horizon_days / demand_data.PERIOD_DAYS["MS"]), 1) if options.horizon_days else MONTHS
    panel = demand_data.load_monthly_sales(paths)
    months = panel[c.DS].nunique()
    if months < 2 * SEASON_MONTHS + h:
        raise ValueError(f"{months} months of sales; the monthly demand model needs at least {2 * SEASON_MONTHS + h}")
    end = panel[c.DS].max()
    cut = end - pd.DateOffset(months=h)
    extra = {"h": h, "freq": "MS", "static": None, "lead_times": demand_data.load_lead_times(paths, end),
             "in_transit": pd.Series(dtype="float64")}  # fmt: skip
    lineage = {"sales_end": str(end.date()), "holdout_start": str((cut + pd.DateOffset(months=1)).date()),
               "skus": int(panel[c.UNIQUE_ID].nunique()), "horizon_months": h, "frequency": "monthly"}  # fmt: skip
    parts = {"train": panel[panel[c.DS] <= cut].reset_index(drop=True), "test": panel[panel[c.DS] > cut]}
    return DecisionData(parts, [], lineage, holdout="test", extra=extra)


def load(paths: DatasetPaths, settings: Settings, options: TrainOptions) -> DecisionData:
    """The ``sku_daily`` panel split at ``horizon`` days before its end, plus peers, lead times and stock.

    A lake whose sales all sit on month starts is monthly data and is read as monthly SKU sales instead.
    """
    if demand_data.sales_frequency(paths) == "MS":
        return _load_monthly(paths, options)
    h = options.horizon_days or HORIZON
    static = demand_data.load_static(paths)
    if 0 < settings.demand_max_skus < len(static):  # the rule drops SKUs: pick them as known at the holdout's origin
        origin = demand_data.lake_end(paths, settings) - pd.Timedelta(days=h - 1)
        panel = demand_data.sku_daily_ranked_at(paths, settings, origin)
        rule = demand_data.sku_rule(settings, before=f"{origin.date()} (the holdout's first day)")
    else:  # every SKU on sale is kept whenever it is ranked: the stored partition
        panel = demand_data.ensure_sku_daily(paths, settings)
        rule = demand_data.sku_rule(settings)
    days = panel[c.DS].nunique()
    if days < MIN_DAYS + h:
        raise ValueError(f"{days} days of sales; the demand model needs at least {MIN_DAYS + h}")
    end = panel[c.DS].max()
    cut = end - pd.Timedelta(days=h)
    at = end + pd.Timedelta(days=1)
    extra = {
        "h": h,
        "freq": "D",
        "static": static,
        "lead_times": demand_data.load_lead_times(paths, at),
        "in_transit": demand_data.units_in_transit(paths, at),
    }
    skus = int(panel[c.UNIQUE_ID].nunique())
    lineage = {"sku_daily_end": str(end.date()), "holdout_start": str((cut + pd.Timedelta(days=1)).date()),
               "skus": skus, "catalogue_skus": len(static), "sku_rule": rule, "horizon_days": h}  # fmt: skip
    logger.info("demand on %s: %d of %d catalogue SKUs (%s)", paths.name, skus, len(static), rule)
    parts = {"train": panel[panel[c.DS] <= cut].reset_index(drop=True), "test": panel[panel[c.DS] > cut]}
    return DecisionData(parts, [], lineage, holdout="test", extra=extra)


def fit(data: DecisionData, options: TrainOptions, champion: DemandDecision | None = None) -> DemandDecision:
    """Booster on the training days, then its history advanced over the holdout (see the module docstring)."""
    from models.demand import DemandForecaster  # here, not at the top: see the module docstring's last paragraph
    from models.demand_decision import DemandDecision, sku_snapshot

    h, freq = data.extra["h"], data.extra.get("freq", "D")
    # monthly: every month is precious (carparts has 39 before its test year), so the booster is refit on all of
    # them after the dispersion is measured (chosen on the validation year before the test year)
    monthly = {"freq": freq, "min_history": 0, "refit": True} if freq != "D" else {}
    forecaster = DemandForecaster(h=h, random_state=options.seed, **monthly, **dict(options.params))
    forecaster.fit(data.part("train"), data.extra["static"])
    full = pd.concat([data.part("train"), data.part("test")], ignore_index=True)
    forecaster.advance(data.part("test"))
    snapshot = sku_snapshot(full, data.extra["in_transit"])
    static = data.extra["static"]
    catalogue = static[c.UNIQUE_ID].astype(str) if static is not None else ()
    return DemandDecision(
        forecaster, data.extra["lead_times"], snapshot, catalogue=catalogue, sku_rule=data.lineage.get("sku_rule", "")
    ).precompute()


def _scored(data: DecisionData) -> pd.DataFrame:
    """Holdout rows every model is scored on: not out of stock all day (``in_stock`` 0: no stock and no sales)."""
    test = data.part("test")
    if "in_stock" in test:
        test = test[test["in_stock"].fillna(1.0) > 0]
    return test[[c.UNIQUE_ID, c.DS, c.Y]]


def _known_ahead(data: DecisionData) -> pd.DataFrame:
    """The holdout's exogenous rows as known at its origin: promotions and calendar are planned, the price is not.

    The daily ``price`` is the mean price paid on a day with sales (list price otherwise): a holdout day's own
    price tells whether it sold (Complete Journey: every day priced off the list price had a sale). The served
    model carries each SKU's last price forward, and so it is scored.
    """
    test = data.part("test").drop(columns=[c.Y])
    if "price" not in test:
        return test
    last = data.part("train").groupby(c.UNIQUE_ID)["price"].last()
    return test.assign(price=test[c.UNIQUE_ID].map(last))


def _ours(model: DemandDecision, data: DecisionData) -> pd.DataFrame:
    return model.forecaster.predict_after(data.part("train"), data.extra["h"], _known_ahead(data), QS)


def _season(data: DecisionData) -> int:
    return SEASON if data.extra.get("freq", "D") == "D" else SEASON_MONTHS


def _metrics(fc: pd.DataFrame, data: DecisionData, weights: pd.Series) -> dict[str, float]:
    joined = _scored(data).merge(fc, on=[c.UNIQUE_ID, c.DS], how="inner")
    return score_window(
        joined, data.part("train"), point="q50", quantiles=QS, m=_season(data), weights=weights,
        intervals=[(0.1, 0.9)],
    )  # fmt: skip


def evaluate(model: DemandDecision, data: DecisionData, options: TrainOptions) -> Evaluation:
    """Our model and every statsforecast baseline (plus all-zero) on the same held-out days."""
    from models.demand_baselines import baseline_forecasts

    train = data.part("train")
    weights = revenue_weights(train, "price", 28)
    ours = _metrics(_ours(model, data), data, weights)
    freq = data.extra.get("freq", "D")
    recent = train[train[c.DS] > train[c.DS].max() - pd.Timedelta(days=BASELINE_DAYS)] if freq == "D" else train
    base = baseline_forecasts(recent, data.extra["h"], freq, _season(data), QS)
    baselines = {name: _metrics(fc, data, weights) for name, fc in base.items()}
    table = pd.DataFrame({"ours": ours, **baselines}).T.reset_index(names="model")
    f = model.forecaster
    params = {"horizon": data.extra["h"], "n_estimators": f.n_estimators, "num_leaves": f.num_leaves,
              "learning_rate": f.learning_rate, "tweedie_power": f.tweedie_power,
              "pooled_alpha": round(f.pooled_alpha_, 4), "cold_start_skus": len(f.cold_ids_), "freq": f.freq,
              "day_correlation_measured": round(getattr(f, "day_correlation_", float("nan")), 4),
              **{k: data.lineage[k] for k in ("skus", "catalogue_skus", "sku_rule") if k in data.lineage}}  # fmt: skip
    return Evaluation(ours, baselines, params=params, tables={"quality.json": table}, score=ours["wql"])


def score(model: DemandDecision, data: DecisionData) -> float:
    return _metrics(_ours(model, data), data, revenue_weights(data.part("train"), "price", 28))["wql"]


def input_example(model: DemandDecision, data: DecisionData) -> pd.DataFrame:
    """One SKU id (a catalogue id, not personal data): the pyfunc input is ids."""
    return pd.DataFrame({c.SKU_ID: [str(np.sort(model.forecaster.history_len_.index.to_numpy())[0])]})


def forecast_call(request: ForecastRequest) -> Call:
    return Call(params={"sku_ids": list(request.sku_ids), "action": FORECAST, "horizon": request.horizon,
                        "levels": list(request.levels)})  # fmt: skip


def policy_call(request: PolicyRequest) -> Call:
    stock = [s.model_dump() for s in request.stock] if request.stock else None
    return Call(params={"sku_ids": list(request.sku_ids), "action": POLICY, "service_level": request.service_level,
                        "stock": stock})  # fmt: skip


ROUTES = (
    Route("/demand/forecast", ForecastRequest, ForecastResponse,
          "Demand quantiles per SKU and day for the next horizon days; cold-start SKUs flagged; unknown ids flagged.",
          forecast_call, id_field=c.SKU_ID, unknown_status=UNKNOWN),
    Route("/inventory/policy", PolicyRequest, PolicyResponse,
          "Safety stock, reorder point, order-up-to, order quantity and inventory warnings (zh + en) per SKU.",
          policy_call, id_field=c.SKU_ID, unknown_status=UNKNOWN),
)  # fmt: skip

SPEC = DecisionSpec(
    name="demand",
    entity="sku",
    feature_service=FEATURE_SERVICE,
    description="SKU demand quantiles (global LightGBM, NB intervals), safety stock, reorder point and warnings.",
    load=load,
    fit=fit,
    evaluate=evaluate,
    score=score,
    primary=("wql", "lower"),
    routes=ROUTES,
    horizon_days=HORIZON,
    requires=("products", "orders", "order_items"),
    decide_params={"action": FORECAST, "horizon": HORIZON},
    input_example=input_example,
    report=DEMAND_REPORT,
    typical_seconds=130,
)
