"""Benchmark the review, reviewer and interaction features: wall time, and how well each review feature separates
fake from genuine reviews (ROC-AUC against the synthetic world's ``truth/``, which only this script reads).

Usage: ``.venv/bin/python benchmarks/bench_review_features.py --root data/synthetic [--cutoff 2025-12-01]``
(the root of an ingested synthetic dataset; not a test, prints figures).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from features import build, engine
from features import columns as c
from features.interactions import INTERACTION_FEATURES
from features.reviews import REVIEW_FEATURES, REVIEWER_FEATURES
from features.settings import DatasetPaths

EVIDENCE = (c.SKU_ID, c.REVIEWER_ID)


def _timed(feature_set, lake: engine.LakeTables, cutoff: pd.Timestamp) -> pd.DataFrame:
    started = time.perf_counter()
    frame = build.compute_frame(feature_set, lake, cutoff)
    print(f"{feature_set.name:<13} {len(frame):>10,} rows  {time.perf_counter() - started:6.1f} s")
    return frame


def _auc_table(frame: pd.DataFrame, label: pd.Series, columns: list[str]) -> pd.DataFrame:
    """Per feature: ROC-AUC on the rows where it is known (> 0.5: higher in fakes), coverage, means by class."""
    rows = []
    for col in columns:
        known = frame[col].notna()
        y, x = label[known], frame.loc[known, col].astype(float)
        auc = roc_auc_score(y, x) if y.nunique() == 2 else np.nan
        rows.append((col, auc, known.mean(), x[y].mean(), x[~y].mean()))
    table = pd.DataFrame(rows, columns=["feature", "roc_auc", "coverage", "mean_fake", "mean_genuine"])
    return table.assign(separation=(table.roc_auc - 0.5).abs()).sort_values("separation", ascending=False)


def _combined_auc(frame: pd.DataFrame, label: pd.Series, columns: list[str], times: pd.Series) -> float:
    """AUC of a small gradient-boosting model trained on the first 70 % of reviews in time, tested on the rest."""
    split = times.quantile(0.7)
    train, test = times < split, times >= split
    model = HistGradientBoostingClassifier(max_iter=200, random_state=0)
    model.fit(frame.loc[train, columns], label[train])
    return roc_auc_score(label[test], model.predict_proba(frame.loc[test, columns])[:, 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="dataset root holding lake/ and truth/")
    parser.add_argument("--cutoff", type=pd.Timestamp, default=None, help="default: just after the last review")
    args = parser.parse_args(argv)
    paths = DatasetPaths("synthetic", args.root)
    lake = engine.LakeTables(engine.connect(engine="duckdb"), paths)
    reviews = pd.read_parquet(paths.lake / "reviews.parquet", columns=[c.REVIEW_ID, c.REVIEW_TS])
    cutoff = args.cutoff or reviews[c.REVIEW_TS].max().floor("D") + pd.Timedelta(days=1)
    print(f"cutoff {cutoff:%Y-%m-%d}, {len(reviews):,} reviews in the lake")
    review = _timed(REVIEW_FEATURES, lake, cutoff)
    _timed(REVIEWER_FEATURES, lake, cutoff)
    _timed(INTERACTION_FEATURES, lake, cutoff)
    truth = pd.read_parquet(paths.truth / "reviews.parquet", columns=[c.REVIEW_ID, "is_fake"])
    frame = review.merge(truth, on=c.REVIEW_ID).merge(reviews, on=c.REVIEW_ID)
    label = frame["is_fake"].astype(bool)
    columns = [f.name for f in REVIEW_FEATURES.available(lake) if f.name not in EVIDENCE]
    print(f"\nfake share {label.mean():.1%} of {len(frame):,} reviews; per-feature ROC-AUC (0.5 = no signal):")
    print(_auc_table(frame, label, columns).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"\nall features, gradient boosting, time split 70/30: ROC-AUC {_combined_auc(frame, label, columns, frame[c.REVIEW_TS]):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
