"""Quality of the customer models on time splits: churn, lifetime value and tiering, each beside its baselines.

Prints three tables per dataset. Not a test: run it when models or features change, and quote its output.

    .venv/bin/python benchmarks/bench_customer.py --datasets synthetic online_retail complete_journey

Models are evaluated directly on the point-in-time datasets (``training.customer_data``), not through the MLflow
pipeline: churn is boosted on the training cutoffs, calibrated on the validation cutoff and scored on the test
cutoff; lifetime value is split on its own window (``load_ltv_dataset``: every training window ends by its test
cutoff); tiering is fitted at the last training and the validation cutoffs (two adjacent retrains) and both it and
the RFM-rules baseline are judged on the test cutoff's users. Nothing is chosen on the test cutoff.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ANCHOR = "0.72–0.75 (leakage-free transaction churn, published); goal ≥ 0.78"
CHURN_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10")
LTV_METRICS = ("normalized_gini", "spearman", "top_decile_capture", "rmse", "mae", "bias")
TIER_K_RANGE = (6, 8)


def ingest(name: str, settings) -> float:
    """Load and ingest one dataset (the synthetic world at the default preset); return seconds."""
    from features.lake import ingest as lake_ingest

    started = time.perf_counter()
    if name == "synthetic":
        from features.sources.synthetic import SynthConfig, generate

        batch = generate(SynthConfig.preset("default"), progress=False)
    else:
        from training.cli_data import Source, load_source

        batch = load_source(Source(name), None)
    lake_ingest(batch, settings.dataset(name), progress=False)
    return time.perf_counter() - started


def true_churn_probability(paths, users: pd.Series, as_of: pd.Timestamp, horizon_days: int) -> pd.Series:
    """Ground truth of the synthetic world: P(churn within the horizon) from the latent monthly hazard."""
    hazard = pd.read_parquet(paths.truth / "churn_hazard.parquet")
    truth_users = pd.read_parquet(paths.truth / "users.parquet").set_index("user_id")
    end = as_of + pd.Timedelta(days=horizon_days)
    window = hazard[(hazard["month"] >= as_of.to_period("M").to_timestamp()) & (hazard["month"] < end)]
    cumulative = (window["hazard"] * window["exposure_days"]).groupby(window["user_id"]).sum()
    p = 1.0 - np.exp(-users.map(cumulative).fillna(0.0))
    already = users.map(truth_users["churned_at"]) < as_of
    return p.where(~already.fillna(False), 1.0)


def latent_churned(paths, users: pd.Series, as_of: pd.Timestamp, horizon_days: int) -> pd.Series:
    """Ground truth: the user has latently churned by the end of the label window (and not been won back)."""
    truth = pd.read_parquet(paths.truth / "users.parquet").set_index("user_id")
    end = as_of + pd.Timedelta(days=horizon_days)
    churned = users.map(truth["churned_at"]) < end
    back = users.map(truth["reactivated_at"]).between(users.map(truth["churned_at"]), end)
    return (churned & ~back).astype(int)


def _table(rows: dict[str, dict[str, float]], columns: tuple[str, ...]) -> str:
    frame = pd.DataFrame({name: {m: values[m] for m in columns} for name, values in rows.items()}).T
    return frame.round(4).to_string()


def churn_section(data, seed: int, truth_paths=None) -> None:
    """The churn model vs the recency rule, RFM logistic regression and BG/NBD on the test cutoff."""
    from models import metrics
    from models.churn import BgNbdChurnBaseline, ChurnClassifier, RecencyBaseline, RfmLogisticBaseline

    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = (data.xy(r) for r in ("train", "validation", "test"))
    started = time.perf_counter()
    model = ChurnClassifier(random_state=seed, btyd_horizon_days=data.config.horizon_days)
    model.fit(x_tr, y_tr, x_val, y_val)
    seconds = time.perf_counter() - started
    baselines = {
        "recency_rule": RecencyBaseline(),
        "rfm_logreg": RfmLogisticBaseline(random_state=seed),
        "bgnbd_p_alive": BgNbdChurnBaseline(horizon_days=data.config.horizon_days),
    }
    p_test = model.predict_proba(x_te)[:, 1]
    rows = {"LightGBM (calibrated)": metrics.classification_report(y_te, p_test)}
    for name, baseline in baselines.items():
        rows[name] = metrics.classification_report(y_te, baseline.fit(x_tr, y_tr).predict_proba(x_te)[:, 1])
    print(f"churn ({data.config.horizon_days}-day window)")
    print(_table(rows, CHURN_METRICS))
    lin = data.lineage
    print(f"  cutoffs: train {lin['cutoffs_train'][0]}..{lin['cutoffs_train'][-1]} ({len(lin['cutoffs_train'])}), "
          f"validation {lin['cutoff_validation']}, test {lin['cutoff_test']}")  # fmt: skip
    print(f"  rows train/validation/test: {len(x_tr)}/{len(x_val)}/{len(x_te)}; churn rate "
          f"{y_tr.mean():.3f}/{y_val.mean():.3f}/{y_te.mean():.3f}; boosting rounds {model.best_iteration_}; "
          f"fit {seconds:.1f} s")  # fmt: skip
    print(f"  ROC-AUC vs anchor: {rows['LightGBM (calibrated)']['roc_auc']:.4f} vs {ANCHOR}")
    if truth_paths is not None:
        test = data.part("test")
        truth = true_churn_probability(truth_paths, test["user_id"], data.split.test, data.config.horizon_days)
        latent = latent_churned(truth_paths, test["user_id"], data.split.test, data.config.horizon_days)
        print(f"  Spearman(predicted, latent churn probability): {metrics.spearman(p_test, truth.to_numpy()):.4f}")
        print(f"  ROC-AUC vs latent churned by the window end: {metrics.roc_auc(latent.to_numpy(), p_test):.4f}")


def ltv_section(ltv_data, seed: int):
    """Lifetime value vs carried-forward spend and BG/NBD + Gamma-Gamma; returns the fitted model for tiering."""
    from models.ltv import BgNbdLtv, CarriedForwardLtv, LtvRegressor, ltv_report
    from training.datasets import FUTURE_SPEND
    from training.decisions.ltv import PRIMARY_METRIC

    days = ltv_data.config.ltv_days
    parts = [ltv_data.xy(r, FUTURE_SPEND) for r in ("train", "validation")]
    x_fit = pd.concat([p[0] for p in parts], ignore_index=True)
    y_fit = pd.concat([p[1] for p in parts], ignore_index=True)
    x_te, y_te = ltv_data.xy("test", FUTURE_SPEND)
    model = LtvRegressor(random_state=seed, btyd_horizon_days=days).fit(x_fit, y_fit)
    rows = {"LightGBM Tweedie": ltv_report(y_te, model.predict(x_te))}
    for name, baseline in {"carried_forward": CarriedForwardLtv(days), "bgnbd_gamma_gamma": BgNbdLtv(days)}.items():
        rows[name] = ltv_report(y_te, baseline.fit(x_fit, y_fit).predict(x_te))
    lin = ltv_data.lineage
    print(f"\nlifetime value (spend in the next {days} days; primary: {PRIMARY_METRIC[0]}, {PRIMARY_METRIC[1]})")
    print(_table(rows, LTV_METRICS))
    print(f"  cutoffs: train {lin['cutoffs_train'][0]}..{lin['cutoffs_train'][-1]}, validation "
          f"{lin['cutoff_validation']}, test {lin['cutoff_test']} (every training window ends by the test cutoff); "
          f"rows fit/test {len(x_fit)}/{len(x_te)}; mean future spend {y_te.mean():.1f}")  # fmt: skip
    return model


def tiering_section(data, ltv_model, seed: int) -> None:
    """K-means tiering vs the RFM rules, both refitted at two adjacent cutoffs and judged on the test users."""
    from models.tiering import RfmRuleTiering, TieringModel
    from models.tiering_eval import evaluate_tiering
    from training.datasets import HORIZON_SPEND

    def frame(part: pd.DataFrame) -> pd.DataFrame:
        x = part[data.feature_names].astype("float64")
        return x.assign(predicted_ltv=ltv_model.predict(x))

    train = data.part("train")
    earlier = frame(train[train["as_of"] == data.split.train[-1]])
    later, test = frame(data.part("validation")), data.part("test")
    held_out, revenue = frame(test), test[HORIZON_SPEND].to_numpy()
    k_min, k_max = TIER_K_RANGE
    first = TieringModel(k_min=k_min, k_max=k_max, random_state=seed).fit(earlier)
    model = TieringModel(k_min=k_min, k_max=k_max, random_state=seed, reference_centroids=first.centroids_)
    model.fit(later)
    kmeans_only = TieringModel(**(model.get_params() | {"fallback": "never"})).fit(later)
    first_only = TieringModel(**(first.get_params() | {"fallback": "never"})).fit(earlier)
    rules_first, rules = RfmRuleTiering().fit(earlier), RfmRuleTiering().fit(later)
    evaluations = {
        f"model ({model.method_})": evaluate_tiering(model, held_out, revenue, first, seed),
        "K-means alone": evaluate_tiering(kmeans_only, held_out, revenue, first_only, seed),
        "RFM rules": evaluate_tiering(rules, held_out, revenue, rules_first, seed),
    }
    print(f"\ntiering (fitted at {data.split.train[-1].date()} and {data.split.validation.date()}, judged on the "
          f"{len(test)} users of {data.split.test.date()}; revenue = their spend in the next "
          f"{data.config.horizon_days} days)")  # fmt: skip
    summary = pd.DataFrame({name: e.summary for name, e in evaluations.items()}).T
    print(summary.round(3).to_string())
    print(f"  fallback check on the training users: {_rounded(model.fallback_check_)}")
    shares = pd.concat(
        {name: e.table[["user_share", "revenue_share"]] for name, e in evaluations.items()}, axis=1
    ).round(3)
    print(shares.to_string())


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 3) for k, v in values.items()}


def run(name: str, settings, horizon: int, seed: int, reuse: bool) -> None:
    from training.customer_data import load_customer_dataset, load_ltv_dataset
    from training.datasets import LabelConfig

    paths = settings.dataset(name)
    if reuse and (paths.lake / "orders.parquet").exists():
        print(f"\n=== {name}: reusing the lake at {paths.lake}")
    else:
        print(f"\n=== {name}: ingested in {ingest(name, settings):.1f} s")
    started = time.perf_counter()
    data = load_customer_dataset(paths, LabelConfig(horizon_days=horizon), settings)
    ltv_data = load_ltv_dataset(paths, settings)
    print(f"datasets (features included) in {time.perf_counter() - started:.1f} s")
    truth = paths if name == "synthetic" and (paths.truth / "users.parquet").exists() else None
    churn_section(data, seed, truth)
    ltv_model = ltv_section(ltv_data, seed)
    tiering_section(data, ltv_model, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["synthetic", "online_retail", "complete_journey"])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/shopsense-bench"))
    parser.add_argument("--horizon", type=int, default=90)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reuse", action="store_true", help="skip the ingest when the dataset's lake exists")
    args = parser.parse_args()
    os.environ["SHOPSENSE_DATA_DIR"] = str(args.data_dir)
    from features.settings import get_settings

    get_settings.cache_clear()
    for name in args.datasets:
        run(name, get_settings(), args.horizon, args.seed, args.reuse)


if __name__ == "__main__":
    main()
