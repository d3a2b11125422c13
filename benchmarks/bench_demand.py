"""Demand forecast quality vs statsforecast baselines, the reorder-policy backtest, and cost.

    SHOPSENSE_DATA_DIR=/tmp/demand_data .venv/bin/python benchmarks/bench_demand.py \
        --datasets synthetic carparts complete_journey

Needs the synthetic default world and Complete Journey ingested with ``sku_daily`` built (``shopsense data synth``,
``shopsense data ingest --source complete_journey``, ``shopsense features build -e sku_daily``); carparts is read
from the shared data folder. Windows: the last ``--windows`` rolling origins of ``h`` periods each (carparts: the
published protocol, last 12 months held out, h = 12). Every model and baseline forecasts the same windows from
the same history; the synthetic world is scored against its true, unconstrained demand (``truth/``), which no model
sees. All settings were fixed before looking at the last window (carparts: chosen on the 12 months before it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from features import columns as c
from models.demand import DemandForecaster
from models.demand_baselines import baseline_forecasts, rolling_cutoffs, rolling_origin, zero_share
from models.forecast_metrics import quantile_column, revenue_weights, score_windows
from models.inventory import GRID

QS = tuple(round(0.1 * i, 1) for i in range(1, 10))
MODEL = "LightGBM-NB (ours)"
CARPARTS_ANCHORS = {
    "SeasonalNaive (published)": (1.201, 1.600),
    "AutoETS (published)": (1.220, 1.340),
    "Chronos-Bolt-Base (published)": (0.855, 0.995),
    "all-zero (measured in issue)": (0.796, 1.000),
    "direct quantile LightGBM (issue)": (0.798, 0.878),
}
CJ_TOP = 2000
BASELINE_DAYS = 182  # daily baselines fit on the last half year of each window (as `shopsense train demand`)


def make_forecasters(h: int, freq: str, season: int, static, grids: dict | None, baseline_tail: int = 0, **model_kw):
    """The rolling-origin callback: our model (timed) and every baseline on the same training rows."""
    timings: dict[str, float] = {}

    def run(train: pd.DataFrame, cutoff: pd.Timestamp) -> dict[str, pd.DataFrame]:
        started = time.perf_counter()
        model = DemandForecaster(h=h, freq=freq, **model_kw).fit(train, static)
        timings[f"fit {cutoff:%Y-%m-%d}"] = time.perf_counter() - started
        out = {MODEL: model.predict(quantiles=QS)}
        if grids is not None:
            grids[cutoff] = model.predict(quantiles=GRID)
        started = time.perf_counter()
        recent = train if not baseline_tail else train[train[c.DS] > cutoff - pd.Timedelta(days=baseline_tail)]
        out |= baseline_forecasts(recent, h, freq, season, QS)
        timings[f"baselines {cutoff:%Y-%m-%d}"] = time.perf_counter() - started
        return out

    return run, timings


def quality_table(cv: dict[str, pd.DataFrame], history: pd.DataFrame, season: int, weights) -> pd.DataFrame:
    rows = []
    for name, frame in cv.items():
        s = score_windows(frame, history, point="q50", quantiles=QS, m=season, revenue=weights, intervals=[(0.1, 0.9)])
        rows.append(
            {"model": name}
            | {k: s[k] for k in ("mase", "rmsse", "wrmsse", "wql", "bias")}
            | {"cover80": s["coverage_q10_q90"], "windows": int(s["n_windows"])}
        )
    table = pd.DataFrame(rows).set_index("model")
    return table


def synthetic(data_dir: Path, windows: int, backtest: bool, model_kw: dict, max_skus: int = 0) -> None:
    from features.settings import DatasetPaths
    from training.demand_data import load_lead_times, load_sku_daily, load_static

    paths = DatasetPaths("synthetic", data_dir / "synthetic")
    panel, static = load_sku_daily(paths), load_static(paths)
    if max_skus:
        keep = pd.Series(panel[c.UNIQUE_ID].unique()).sample(max_skus, random_state=0)
        panel = panel[panel[c.UNIQUE_ID].isin(set(keep))].reset_index(drop=True)
    truth = pd.read_parquet(paths.truth / "demand.parquet")
    actuals = truth.rename(columns={c.SKU_ID: c.UNIQUE_ID, c.DATE: c.DS, "true_demand": c.Y})
    actuals[c.DS] = actuals[c.DS].astype("datetime64[ns]").dt.normalize()
    cutoffs = rolling_cutoffs(panel[c.DS], 28, windows, "D")
    grids: dict = {}
    run, timings = make_forecasters(28, "D", 7, static, grids, BASELINE_DAYS, **model_kw)
    cv = rolling_origin(panel, cutoffs, run, actuals=actuals)
    weights = revenue_weights(panel[panel[c.DS] <= cutoffs[0]], "price", 28)
    print(
        f"\n## synthetic (default world): {panel[c.UNIQUE_ID].nunique()} SKUs, {windows} windows of 28 days, "
        f"scored on true demand; zero share {zero_share(panel):.2f}"
    )
    print(quality_table(cv, panel, 7, weights).round(3).to_markdown())
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
    if backtest:
        from demand_backtest import backtest as run_backtest

        leads_at = {k: load_lead_times(paths, k + pd.Timedelta(days=1)) for k in cutoffs}
        old = panel.groupby(c.UNIQUE_ID)[c.DS].min() <= cutoffs[0] - pd.Timedelta(days=91)
        sold = panel[panel[c.DS] > cutoffs[0] - pd.Timedelta(days=91)].groupby(c.UNIQUE_ID)[c.Y].sum() > 0
        ids = sorted(set(old[old].index) & set(sold[sold].index))
        table = run_backtest(grids, panel, actuals, ids, leads_at, 28)
        print(f"\n## policy backtest, synthetic true demand, {len(ids)} SKUs, {windows} x 28 days")
        print(table.round(3).to_markdown(index=False))


def carparts(model_kw: dict) -> None:
    from features.sources.carparts import load_panel

    panel = load_panel()
    cutoffs = rolling_cutoffs(panel[c.DS], 12, 1, "MS")
    run, timings = make_forecasters(12, "MS", 12, None, None, min_history=0, **model_kw)
    cv = rolling_origin(panel, cutoffs, run)
    table = quality_table(cv, panel, 12, None)
    print(
        f"\n## carparts: {panel[c.UNIQUE_ID].nunique()} series, last 12 months held out, h=12, m=12, "
        f"zero share {zero_share(panel):.2f}"
    )
    print(table[["mase", "wql", "rmsse", "bias", "cover80"]].round(3).to_markdown())
    print("anchors (MASE / WQL):", CARPARTS_ANCHORS)
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})


def complete_journey(data_dir: Path, windows: int, model_kw: dict) -> None:
    from features.settings import DatasetPaths
    from training.demand_data import load_sku_daily, load_static

    paths = DatasetPaths("complete_journey", data_dir / "complete_journey")
    panel = load_sku_daily(paths)
    cutoffs = rolling_cutoffs(panel[c.DS], 28, windows, "D")
    first = panel[panel[c.DS] <= cutoffs[0]]
    top = first.groupby(c.UNIQUE_ID)[c.Y].sum().nlargest(CJ_TOP).index  # chosen on the first training window
    panel = panel[panel[c.UNIQUE_ID].isin(set(top))]
    run, timings = make_forecasters(28, "D", 7, load_static(paths), None, BASELINE_DAYS, **model_kw)
    cv = rolling_origin(panel, cutoffs, run)
    weights = revenue_weights(panel[panel[c.DS] <= cutoffs[0]], "price", 28)
    print(
        f"\n## complete_journey: top {len(top)} products by units before the first window, {windows} windows "
        f"of 28 days, zero share {zero_share(panel):.2f}"
    )
    print(quality_table(cv, panel, 7, weights).round(3).to_markdown())
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})


def cost(data_dir: Path, model_kw: dict) -> None:
    from features.settings import DatasetPaths
    from training.demand_data import load_sku_daily, load_static

    paths = DatasetPaths("synthetic", data_dir / "synthetic")
    panel, static = load_sku_daily(paths), load_static(paths)
    started = time.perf_counter()
    model = DemandForecaster(**model_kw).fit(panel, static)
    fit_s = time.perf_counter() - started
    model.predict()  # warm-up
    started = time.perf_counter()
    pred = model.predict(h=28)
    pred_s = time.perf_counter() - started
    print(
        f"\n## cost (default world, {panel[c.UNIQUE_ID].nunique()} SKUs, {len(panel):,} rows, "
        f"n_jobs={model.n_jobs})\n| step | seconds |\n|---|---|\n| fit (incl. dispersion window) | {fit_s:.1f} |\n"
        f"| forecast all SKUs x 28 days, 5 quantiles | {pred_s:.2f} |  ({len(pred):,} rows)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["synthetic", "carparts", "complete_journey"])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--max-skus", type=int, default=0, help="synthetic: a seeded sample of SKUs (0 = all)")
    parser.add_argument("--no-backtest", action="store_true")
    parser.add_argument("--cost", action="store_true", help="also time training and forecasting (default world)")
    args = parser.parse_args()
    from features.settings import get_settings

    data_dir = args.data_dir or get_settings().data_dir
    kw = {"n_jobs": args.n_jobs}
    if "synthetic" in args.datasets:
        synthetic(data_dir, args.windows, not args.no_backtest, kw, args.max_skus)
    if "carparts" in args.datasets:
        carparts(kw)
    if "complete_journey" in args.datasets:
        complete_journey(data_dir, args.windows, kw)
    if args.cost:
        cost(data_dir, kw)
    _ = (np, quantile_column)


if __name__ == "__main__":
    main()
