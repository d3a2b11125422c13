"""Review authenticity as a decision: stacked text views fed out-of-fold into LightGBM over behaviour, on moderators'
verdicts, judged against a red-flag rules baseline, the text model alone and a word TF-IDF logistic regression.

Served at ``POST /reviews/score`` for stored review ids and raw reviews at submission time. A dataset without
behaviour (only texts and verdicts, such as the Ott corpus) trains the text path alone, and says so; without posting
times it cannot be split by time, so a seeded stratified split is used and named in the lineage.

The models, scikit-learn and the review features are imported inside the functions that use them: the service's
BentoML arbiter imports every spec for its routes alone (see training/decisions/__init__.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import columns as c
from features.settings import DatasetPaths, Settings
from models.review_names import FEATURE_SERVICE, LABEL, UNKNOWN
from serving.schemas.reviews import EXAMPLE_RAW_REVIEW, ReviewScoreRequest, ReviewScoreResponse
from training.decisions.spec import Call, DecisionData, DecisionSpec, Evaluation, Route, TrainOptions
from training.reports.reviews_report import REVIEWS_REPORT

if TYPE_CHECKING:
    from models.review_decision import ReviewDecision
    from models.reviews import ReviewAuthenticityModel

LAKE_TABLES = ("reviews", "users", "orders", "order_items")
TEST_FRACTION = 0.25


def _lake(paths: DatasetPaths) -> dict[str, pd.DataFrame]:
    return {
        n: pd.read_parquet(paths.lake / f"{n}.parquet") for n in LAKE_TABLES if (paths.lake / f"{n}.parquet").exists()
    }


def load(paths: DatasetPaths, settings: Settings, options: TrainOptions) -> DecisionData:
    """Labelled reviews split by posting time (train: verdicts decided before the split; test: reviews after it)."""
    from sklearn.model_selection import train_test_split

    from training.review_dataset import load_review_data

    reviews = load_review_data(paths, engine=settings.engine)
    labelled = reviews.labelled()
    if reviews.frame[c.REVIEW_TS].nunique() > 1:
        train, after, split = reviews.time_split(TEST_FRACTION)
        test, how = after[after[LABEL].notna()], f"time: posted before / from {split:%Y-%m-%d}"
    else:
        train, test = train_test_split(labelled, test_size=TEST_FRACTION, stratify=labelled[LABEL],
                                       random_state=options.seed)  # fmt: skip
        how = "stratified, seeded (no posting times: one nominal moment)"
    for role, part in (("train", train), ("test", test)):
        if part[LABEL].nunique() < 2:
            raise ValueError(f"the {role} period needs both genuine and fake verdicts; it has {len(part)} verdicts")
    stored = reviews.frame.drop(columns=[LABEL, c.DECIDED_AT])
    lineage = {"split": how, "reviews": len(reviews.frame), "verdicts": len(labelled), "cutoff": str(reviews.cutoff)}
    return DecisionData({"train": train, "test": test}, [], lineage, extra={"stored": stored, "lake": _lake(paths)})


def fit(data: DecisionData, options: TrainOptions, champion: object = None) -> ReviewDecision:
    from models.review_decision import decision_from_frames
    from models.reviews import ReviewAuthenticityModel

    train = data.part("train")
    model = ReviewAuthenticityModel(random_state=options.seed, **dict(options.params)).fit(train, train[LABEL])
    return decision_from_frames(model, data.extra["stored"], data.extra["lake"])


def _baselines(data: DecisionData, model: ReviewAuthenticityModel, seed: int) -> dict[str, object]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from models.reviews import BehaviourRulesBaseline, ReviewAuthenticityModel

    train = data.part("train")
    y = train[LABEL].astype(int)
    word = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=1000))
    texts = train[c.REVIEW_TEXT].fillna("").astype(str)
    out: dict[str, object] = {"word_tfidf_logreg": _TextPipe(word.fit(texts, y))}
    if not model.text_only_:
        out["behaviour_rules"] = BehaviourRulesBaseline().fit(train)
        out["text_only"] = ReviewAuthenticityModel(use_behaviour=False, random_state=seed).fit(train, y)
    return out


class _TextPipe:
    """A text pipeline scored on the review frame's text column."""

    def __init__(self, pipe: object) -> None:
        self.pipe = pipe

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipe.predict_proba(frame[c.REVIEW_TEXT].fillna("").astype(str))  # type: ignore[attr-defined]


def _report(y: np.ndarray, p: np.ndarray, cuts: tuple[float, float] | None) -> dict[str, float]:
    from models import metrics

    out = metrics.classification_report(y, p)
    if cuts is not None:
        for name, cut in zip(("suspicious", "fake"), cuts, strict=True):
            hit = p >= cut
            out[f"precision_at_{name}"] = float(y[hit].mean()) if hit.any() else float("nan")
            out[f"recall_at_{name}"] = float(y[hit].sum() / max(y.sum(), 1))
    return out


def evaluate(model: ReviewDecision, data: DecisionData, options: TrainOptions) -> Evaluation:
    """Verdict-labelled test reviews: probability metrics and precision/recall at the labels' thresholds."""
    test = data.part("test")
    y = test[LABEL].to_numpy(dtype=float)
    inner = model.model
    p = inner.predict_proba(test)[:, 1]
    th = inner.thresholds_
    baselines = {
        name: _report(y, b.predict_proba(test)[:, 1], None) for name, b in _baselines(data, inner, options.seed).items()
    }
    params = {k: v for k, v in inner.get_params().items() if k not in ("rules", "campaign", "behaviour_features")}
    return Evaluation(
        _report(y, p, (th.suspicious, th.fake)),
        baselines,
        params={**params, "text_only": inner.text_only_, "calibration": inner.calibration_, "split": inner.split_},
        documents={
            "model_config.json": {
                "thresholds": th.as_dict(),
                "behaviour_features": inner.behaviour_features_,
                "text_only": inner.text_only_,
                "rules": [vars(r) for r in inner.rules],
                "evidence_importance": inner.importance_,
            }
        },
    )


def score(model: ReviewDecision, data: DecisionData) -> float:
    from models import metrics

    test = data.part("test")
    return metrics.pr_auc(test[LABEL].to_numpy(dtype=float), model.model.predict_proba(test)[:, 1])


def input_example(model: ReviewDecision, data: DecisionData) -> pd.DataFrame:
    """A made-up raw review (the documented example), never a real one."""
    row = {**EXAMPLE_RAW_REVIEW, "order_id": "O-example", "review_ts": pd.Timestamp(EXAMPLE_RAW_REVIEW["review_ts"])}
    return pd.DataFrame([row])


def reviews_call(request: ReviewScoreRequest) -> Call:
    params: dict[str, object] = {"top_k": request.top_k}
    if request.review_ids is not None:
        params["review_ids"] = list(request.review_ids)
    if request.reviews is not None:
        params["reviews"] = [r.model_dump() for r in request.reviews]
    return Call(params=params)


REVIEWS_ROUTE = Route(
    "/reviews/score",
    ReviewScoreRequest,
    ReviewScoreResponse,
    "Fake-review probability, label, moderation action, evidence (zh + en) and campaign per stored or new review.",
    reviews_call,
    id_field=c.REVIEW_ID,
    unknown_status=UNKNOWN,
)

SPEC = DecisionSpec(
    name="reviews",
    entity="review",
    feature_service=FEATURE_SERVICE,
    description="Review authenticity: fake-review probability, label, action, evidence and campaigns.",
    load=load,
    fit=fit,
    evaluate=evaluate,
    score=score,
    primary=("pr_auc", "higher"),
    routes=(REVIEWS_ROUTE,),
    requires=("reviews", "review_verdicts"),
    decide_params={"top_k": 4},
    input_example=input_example,
    report=REVIEWS_REPORT,
    typical_seconds=36,
)
