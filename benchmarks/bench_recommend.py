"""Recommendation quality and cost on a time split: the LambdaRank ranker against every tuned generator alone.

Prints one table per dataset and target. Not a test: run it when the recommender changes, and quote its output.

    .venv/bin/python benchmarks/bench_recommend.py --datasets synthetic online_retail complete_journey

Protocol: three cutoffs ``train < validation < test``. Each generator's hyper-parameters are chosen on the
validation cutoff's next period; the ranker learns on the train cutoff's next period (early-stopped on the
validation period); everything is then refitted on the data before the test cutoff and scored on the test
period's purchases of users seen before it. Two targets: every item bought, and only items the user never bought
before (recommendations then exclude the user's past purchases too). Lakes are read from ``--data-dir`` (ingest
them first with ``shopsense data``), never from the ground truth.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: dataset -> (test cutoff or None for "data end minus horizon", test horizon days, spacing of the cutoffs in days)
SPLITS: dict[str, tuple[str | None, int, int]] = {
    "synthetic": (None, 30, 30),
    "online_retail": ("2011-09-01", 91, 91),
    "complete_journey": (None, 30, 30),
}
ANCHOR = (
    "Online Retail anchor (train < 2011-09-01, test to 2011-11-30): repeat 0.386, tuned ALS 0.379, EASE 0.306, "
    "item-KNN 0.254, popularity 0.114, naive LambdaRank 0.384; new items EASE/ALS 0.118, item-KNN 0.114"
)


def cutoffs(reader, name: str) -> tuple[dict[str, pd.Timestamp], dict[str, int]]:
    test, horizon, step = SPLITS[name]
    day = pd.Timedelta(days=1)
    t = pd.Timestamp(test) if test else reader.data_end() - horizon * day
    return {"train": t - 2 * step * day, "valid": t - step * day, "test": t}, {
        "train": step,
        "valid": step,
        "test": horizon,
    }


def load(reader, name: str) -> dict[str, tuple]:
    from models.reco_inputs import build_matrices

    cuts, windows = cutoffs(reader, name)
    out = {}
    for role, t in cuts.items():
        inputs = reader.inputs(t)
        truth = reader.bought_between(t, t + pd.Timedelta(days=windows[role]))
        out[role] = (inputs, build_matrices(inputs), truth)
    return out


def item_popularity(m) -> dict[int, float]:
    active = max(int((np.diff(m.weight.indptr) > 0).sum()), 1)
    share = np.asarray((m.weight > 0).sum(axis=0)).ravel() / active
    return dict(enumerate(share))


def evaluate(model, parts: dict[str, tuple], exclude: bool) -> tuple[pd.DataFrame, dict[str, float]]:
    from models.metrics import ranking_report
    from models.reco_ranker import generator_lists, truth_users

    _, m, truth = parts["test"]
    users, sets = truth_users(m, truth, exclude)
    pop, size = item_popularity(m), m.shape[1]
    started = time.perf_counter()
    rows = {"ranker (LambdaRank)": ranking_report(sets, model.rank_positions(users, 20, exclude), size, pop)}
    rank_s = time.perf_counter() - started
    for name, gen in model.retrieval.generators.items():
        recs = generator_lists(gen, m, users, 20, exclude)
        rows[f"{name} {gen.params()}"] = ranking_report(sets, recs, size, pop)
    table = pd.DataFrame(rows).T
    sample = users[:1000]
    started = time.perf_counter()
    model.rank_positions(sample, 10, exclude)
    batch_s = time.perf_counter() - started
    started = time.perf_counter()
    model.recommend_users(list(m.user_ids[sample]), 10)
    rules_s = time.perf_counter() - started
    cost = {"rank_all_test_users_s": rank_s, "users": len(users), "sample": len(sample)}
    cost.update({"rank_1000_users_s": batch_s, "rank_rules_reasons_1000_users_s": rules_s})
    return table, cost


def run(name: str, settings, targets: list[str], seed: int) -> None:
    from models.recommend import fit_recommender
    from training.reco_data import LakeReader

    reader = LakeReader(settings.dataset(name), settings)
    started = time.perf_counter()
    parts = load(reader, name)
    load_s = time.perf_counter() - started
    cuts = {role: f"{p[0].cutoff:%Y-%m-%d}" for role, p in parts.items()}
    print(f"\n=== {name}: cutoffs {cuts}, matrices {parts['test'][1].shape}, inputs read in {load_s:.1f} s")
    for target in targets:
        exclude = target == "new"
        started = time.perf_counter()
        model = fit_recommender(parts["train"], parts["valid"], parts["test"][0], exclude_bought=exclude, seed=seed)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        model.prepare_serving(settings.cache_dir)  # ranked as the service ranks: compiled trees
        compile_s = time.perf_counter() - started
        table, cost = evaluate(model, parts, exclude)
        print(f"\n--- {name}, target: {'items not bought before' if exclude else 'all items bought'}")
        print(table.round(4).to_string())
        best = table.iloc[1:]["ndcg_at_10"].max()
        ratio = table.iloc[0]["ndcg_at_10"] / best if best > 0 else float("nan")
        print(f"ranker / best tuned baseline nDCG@10: {ratio:.3f} (goal >= 1.10)")
        print(f"fit (tune + ranker + serving refit) {fit_s:.1f} s + inputs {load_s:.1f} s + compile ranker "
              f"{compile_s:.1f} s; best iteration "
              f"{model.ranker.booster_.best_iteration}; cost {cost}")  # fmt: skip
    if name == "online_retail":
        print(ANCHOR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(SPLITS))
    parser.add_argument("--targets", nargs="+", default=["all", "new"], choices=["all", "new"])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/shopsense-bench"))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    os.environ["SHOPSENSE_DATA_DIR"] = str(args.data_dir)
    logging.basicConfig(level=logging.WARNING)
    from features.settings import get_settings

    get_settings.cache_clear()
    for name in args.datasets:
        run(name, get_settings(), args.targets, args.seed)


if __name__ == "__main__":
    main()
