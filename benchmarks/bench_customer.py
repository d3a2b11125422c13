"""Quality of the customer decisions on time splits: churn vs baselines vs published anchors, tiering figures.

Prints one table per dataset. Not a test: run it when models or features change, and quote its output.

    .venv/bin/python benchmarks/bench_customer.py --datasets synthetic online_retail complete_journey

Each dataset is ingested (the synthetic world at the default preset) into ``--data-dir`` with its own MLflow
store, then ``shopsense train churn`` and ``shopsense train tiering`` run as they do for a user.
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
METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10")


def ingest(name: str, settings) -> float:
    """Load and ingest one dataset; return seconds."""
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


def hazard_agreement(result, settings) -> dict[str, float]:
    """Agreement of predicted churn with the latent truth on the test cutoff: rank correlation and AUC."""
    import mlflow

    from models.metrics import roc_auc, spearman
    from training.customer_data import load_customer_dataset
    from training.datasets import LabelConfig

    paths = settings.dataset(result.dataset)
    data = load_customer_dataset(paths, LabelConfig(), settings)
    test = data.part("test")
    model = mlflow.pyfunc.load_model(f"models:/{result.model_name}/{result.version}")
    predicted = model.predict(test[data.feature_names].astype("float64"))["churn_probability"]
    truth = true_churn_probability(paths, test["user_id"], data.split.test, data.config.horizon_days)
    latent = latent_churned(paths, test["user_id"], data.split.test, data.config.horizon_days)
    return {
        "Spearman(predicted, latent churn probability)": spearman(predicted.to_numpy(), truth.to_numpy()),
        "ROC-AUC of predicted vs latent churned by the window end": roc_auc(latent.to_numpy(), predicted.to_numpy()),
        "latent churned share": float(latent.mean()),
    }


def print_churn(result, extra: dict[str, float]) -> None:
    rows = {"LightGBM (calibrated)": result.metrics, **result.baselines}
    table = pd.DataFrame({name: {m: values[m] for m in METRICS} for name, values in rows.items()}).T
    print(table.round(4).to_string())
    for key, value in extra.items():
        print(f"  {key}: {value}")


def run(name: str, settings, horizon: int) -> None:
    from training import pipeline

    seconds = ingest(name, settings)
    print(f"\n=== {name}: ingested in {seconds:.1f} s")
    started = time.perf_counter()
    churn = pipeline.train_churn(name, horizon_days=horizon, settings=settings)
    churn_s = time.perf_counter() - started
    started = time.perf_counter()
    tiering = pipeline.train_tiering(name, settings=settings)
    tiering_s = time.perf_counter() - started
    extra = {
        "cutoffs": f"train {churn.extra['lineage']['cutoffs_train'][0]}..{churn.extra['lineage']['cutoffs_train'][-1]}, "
        f"validation {churn.extra['lineage']['cutoff_validation']}, test {churn.extra['lineage']['cutoff_test']}",
        "test rows / churn rate": f"{int(churn.metrics['n'])} / {churn.metrics['base_rate']:.3f}",
        "ROC-AUC vs anchor": f"{churn.metrics['roc_auc']:.4f} vs {ANCHOR}",
        "train time churn (incl. features) / tiering": f"{churn_s:.1f} s / {tiering_s:.1f} s",
    }
    if name == "synthetic":
        extra.update({k: f"{v:.4f}" for k, v in hazard_agreement(churn, settings).items()})
    print_churn(churn, extra)
    tiers = pd.DataFrame(tiering.extra["tier_report"]).T[["users", "user_share", "revenue_share"]]
    print(f"tiering: k={tiering.metrics['k']:.0f}, silhouette {tiering.metrics['silhouette']:.3f}, "
          f"stability ARI {tiering.metrics['stability_ari']:.3f}")  # fmt: skip
    print(tiers.to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["synthetic", "online_retail", "complete_journey"])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/shopsense-bench"))
    parser.add_argument("--horizon", type=int, default=90)
    args = parser.parse_args()
    os.environ["SHOPSENSE_DATA_DIR"] = str(args.data_dir)
    from features.settings import get_settings

    get_settings.cache_clear()
    for name in args.datasets:
        run(name, get_settings(), args.horizon)


if __name__ == "__main__":
    main()
