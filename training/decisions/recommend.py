"""Recommendations (个性化推荐: 首页 feed, 详情页 similar items, 热销 lists) as a decision.

Three cutoffs ``train < validation < test``, ``horizon`` days apart (the test period is the last ``horizon`` days):
generators are tuned on the validation period, the ranker learns on the train and validation periods. The served
model is then built on everything up to the data's end; evaluation and the champion gate rebuild any version's
generators at the test cutoff (same params, same ranker) and score its lists on the test period's purchases of
users seen before it, beside every tuned generator alone.

The models are imported inside the functions that fit and score them: the service's BentoML arbiter imports every
spec for its routes alone (see training/decisions/__init__.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import columns as c
from features.settings import DatasetPaths, Settings
from models.recommend_names import FEATURE_SERVICE, MINIMAL_TABLES
from serving.schemas.recommend import (
    PopularRequest,
    PopularResponse,
    SimilarRequest,
    SimilarResponse,
    UserRequest,
    UserResponse,
)
from training.decisions.spec import Call, DecisionData, DecisionSpec, Evaluation, Route, TrainOptions
from training.reports.recommend_report import RECOMMEND_REPORT

if TYPE_CHECKING:
    from models.recommend import Recommender

HORIZON = 30
MIN_USERS = 20


def load(paths: DatasetPaths, settings: Settings, options: TrainOptions) -> DecisionData:
    """What is known at each cutoff and what users bought in the period after it (see the module docstring)."""
    from models.reco_inputs import build_matrices
    from models.reco_ranker import truth_users
    from training.reco_data import LakeReader

    reader = LakeReader(paths, settings)
    h = pd.Timedelta(days=options.horizon_days or HORIZON)
    end = reader.data_end()
    cuts = {"train": end - 3 * h, "validation": end - 2 * h, "test": end - h}
    extra, parts = {}, {}
    for role, t in cuts.items():
        inputs = reader.inputs(t)
        truth = reader.bought_between(t, t + h)
        m = build_matrices(inputs)
        users, _ = truth_users(m, truth, False)
        if len(users) < MIN_USERS:
            raise ValueError(f"only {len(users)} returning buyers after the {role} cutoff {t:%Y-%m-%d}")
        extra[role] = (inputs, m, truth)
        parts[role] = pd.DataFrame({c.USER_ID: m.user_ids[users].astype(str), c.AS_OF: t})
    extra["now"] = reader.inputs(end)
    lineage = {"dataset": paths.name, "lake": str(paths.lake), "feature_set": "interactions",
               "data_end": str(end.date()), "horizon_days": int(h.days),
               **{f"cutoff_{role}": str(t.date()) for role, t in cuts.items()}}  # fmt: skip
    return DecisionData(parts, [], lineage, holdout="test", extra=extra)


def fit(data: DecisionData, options: TrainOptions, champion: Recommender | None = None) -> Recommender:
    """Tune, train the ranker, and build the served model on all data up to the end."""
    from models.recommend import fit_recommender

    e = data.extra
    return fit_recommender(e["train"], e["validation"], e["now"], seed=options.seed, **dict(options.params))


def _at_test(model: Recommender, data: DecisionData) -> Recommender:
    """The same params and ranker, generators refitted strictly before the test cutoff (like for like)."""
    from models.recommend import Recommender

    return Recommender.build(data.extra["test"][0], model.params, model.ranker, exclude_bought=model.exclude_bought)


def _report(model: Recommender, data: DecisionData) -> tuple[dict[str, float], Recommender, tuple]:
    from models.metrics import ranking_report
    from models.reco_ranker import truth_users

    at_test = _at_test(model, data)
    m, truth = data.extra["test"][1], data.extra["test"][2]
    users, sets = truth_users(m, truth, model.exclude_bought)
    active = max(int((np.diff(m.weight.indptr) > 0).sum()), 1)
    popularity = dict(enumerate(np.asarray((m.weight > 0).sum(axis=0)).ravel() / active))
    recs = at_test.rank_positions(users, 20)
    return ranking_report(sets, recs, m.shape[1], popularity), at_test, (users, sets, popularity)


def evaluate(model: Recommender, data: DecisionData, options: TrainOptions) -> Evaluation:
    """The ranker and every tuned generator alone on the test period."""
    from models.metrics import ranking_report
    from models.reco_ranker import generator_lists

    ours, at_test, (users, sets, popularity) = _report(model, data)
    m = data.extra["test"][1]
    baselines = {
        name: ranking_report(sets, generator_lists(gen, m, users, 20, model.exclude_bought), m.shape[1], popularity)
        for name, gen in at_test.retrieval.generators.items()
    }
    table = pd.DataFrame({"ranker": ours, **baselines}).T.reset_index(names="model")
    params = {f"{name}_{k}": v for name, p in model.params.items() for k, v in p.items()}
    params["ranker_best_iteration"] = model.ranker.booster_.best_iteration
    tables = {"quality.json": table}
    if model.tuning is not None:
        tables["tuning.json"] = model.tuning.assign(params=model.tuning["params"].astype(str))
    return Evaluation(ours, baselines, params=params, tables=tables, score=ours["ndcg_at_10"])


def score(model: Recommender, data: DecisionData) -> float:
    return _report(model, data)[0]["ndcg_at_10"]


def input_example(model: Recommender, data: DecisionData) -> pd.DataFrame:
    """A made-up user id (not a real shopper's): it answers as a cold start."""
    return pd.DataFrame({c.USER_ID: ["U-EXAMPLE"]})


def _common(request) -> dict:
    return {"k": request.k, "filters": request.filters.model_dump() if request.filters else None,
            "stock": [s.model_dump() for s in request.stock] if request.stock else None}  # fmt: skip


def user_call(request: UserRequest) -> Call:
    context = request.context.model_dump(exclude_none=True) if request.context else {}
    params = {"mode": "user", "promo_slot": request.promo_slot, **context}
    # the user as the call's entity id: concurrent requests with the same params share one ranking call
    return Call(ids=[request.user_id], params={**params, **_common(request)})


def similar_call(request: SimilarRequest) -> Call:
    return Call(params={"mode": "similar", "sku_ids": [request.sku_id], **_common(request)})


def popular_call(request: PopularRequest) -> Call:
    context = {k: v for k, v in (("category", request.category), ("channel", request.channel),
                                 ("city", request.city)) if v is not None}  # fmt: skip
    return Call(params={"mode": "popular", **context, **_common(request)})


ROUTES = (
    Route("/recommend/user", UserRequest, UserResponse,
          "Personal recommendations with source and reason (zh + en) per item; unknown users get a flagged "
          "context-aware popular list; stock, filters, diversity and the promotion slot applied and counted.",
          user_call, id_field=c.USER_ID, unknown_status="cold_start"),
    Route("/recommend/similar", SimilarRequest, SimilarResponse,
          "Items similar to a SKU (co-purchase, co-view, content; new SKUs included); unknown SKUs flagged.",
          similar_call, id_field=c.SKU_ID, unknown_status="unknown_sku"),
    Route("/recommend/popular", PopularRequest, PopularResponse,
          "Recent best sellers, optionally per category, channel or city, with reasons.",
          popular_call, id_field="context", unknown_status="none"),
)  # fmt: skip

SPEC = DecisionSpec(
    name="recommend",
    entity="user",
    feature_service=FEATURE_SERVICE,
    description="Recommendations: tuned popularity/repeat/item-KNN/EASE/ALS candidates, LambdaRank, business rules.",
    load=load,
    fit=fit,
    evaluate=evaluate,
    score=score,
    primary=("ndcg_at_10", "higher"),
    routes=ROUTES,
    horizon_days=HORIZON,
    requires=MINIMAL_TABLES,
    decide_params={"mode": "user", "k": 10},
    input_example=input_example,
    report=RECOMMEND_REPORT,
    typical_seconds=165,
)
