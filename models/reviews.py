"""Review authenticity: a text model stacked out-of-fold into a LightGBM over behaviour, calibrated, with labels,
campaigns, evidence and a moderation action per review.

Inputs are one row per review: the review features of :mod:`features.reviews` (each as of its own posting time),
optionally reviewer features joined point in time, plus the review's ``text`` (and ``review_ts``, ``device_id``,
``user_id`` for campaigns). Labels are moderators' verdicts (1 = fake). A dataset without behaviour (only text and
verdicts, like the Ott corpus) is scored by the text model alone: ``text_only_`` says so and every record carries
it. Time order matters: the latest ``calib_fraction`` of the training rows calibrate the probability and choose
the thresholds, so both are read on reviews the models did not see.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from features import columns as c
from models._lgbm import booster_params, feature_matrix, require_frame, select_features
from models.churn import CentredIsotonic
from models.review_campaigns import CAMPAIGN_ID, CAMPAIGN_SIZE, CampaignConfig, group_campaigns
from models.review_evidence import DEFAULT_RULES, FACTS, TEXT_PROBABILITY, ActionRule, actions, evidence, float_column
from models.review_text_model import ReviewTextModel
from models.review_thresholds import LabelThresholds, choose_thresholds

logger = logging.getLogger(__name__)

TEXT_LOG_ODDS = "text_log_odds"
#: Columns that identify or carry raw content; never behaviour features.
NON_FEATURES: tuple[str, ...] = (
    c.REVIEW_ID, c.REVIEWER_ID, c.USER_ID, c.SKU_ID, c.AS_OF, c.REVIEW_TS, c.REVIEW_TEXT, c.DEVICE_ID, c.ORDER_ID,
)  # fmt: skip
MIN_ISOTONIC_POSITIVES = 30
#: What scoring reads: a frame, or equal-length columns by name (a request's raw reviews, no frame built).
Columns: TypeAlias = pd.DataFrame | Mapping[str, Any]
#: The columns :func:`group_campaigns` reads.
CAMPAIGN_COLUMNS = (c.REVIEW_ID, c.SKU_ID, c.REVIEW_TS, c.DEVICE_ID, c.REVIEW_TEXT, c.USER_ID)
#: Style statistics of the text itself: useful beside behaviour, but on their own they are more text, not behaviour.
TEXT_STYLE: frozenset[str] = frozenset(
    {"text_length", "punct_share", "exclaim_share", "digit_share", "latin_share", "max_char_run", c.RATING}
)


def _labels(y: Any, n: int) -> np.ndarray:
    arr = np.asarray(y, dtype=float).ravel()
    if arr.shape[0] != n or np.isnan(arr).any() or not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"y must hold {n} values in {{0 (genuine), 1 (fake)}}")
    if arr.min() == arr.max():
        raise ValueError("y holds a single class; the model needs genuine and fake verdicts")
    return arr.astype(int)


def _campaign_frame(columns: Columns, rows: np.ndarray) -> pd.DataFrame:
    """The flagged rows :func:`group_campaigns` groups (built only when enough rows are flagged to form one)."""
    if isinstance(columns, pd.DataFrame):
        return columns.iloc[rows].reset_index(drop=True)
    picked = {name: [columns[name][i] for i in rows] for name in CAMPAIGN_COLUMNS if name in columns}
    picked[c.REVIEW_TS] = pd.to_datetime(picked[c.REVIEW_TS])
    return pd.DataFrame(picked)


def _has_text(X: pd.DataFrame) -> bool:
    return c.REVIEW_TEXT in X and X[c.REVIEW_TEXT].map(lambda t: isinstance(t, str) and t.strip() != "").any()


class ReviewAuthenticityModel(ClassifierMixin, BaseEstimator):
    """Text NB-LR (out-of-fold) -> LightGBM over behaviour + text score -> calibration -> thresholds.

    Args:
        use_text, use_behaviour: ablation switches; a part the data cannot support is dropped (and said).
        behaviour_features: behaviour columns to learn from; None = the declared review features
            (:data:`features.reviews.REVIEW_FEATURES`) that the frame has and that vary.
        target_precision: validation precision "fake" must reach (default 0.95).
        suspicious_precision: validation precision the "suspicious" (hold) band must reach (default 0.5).
        n_folds: inner folds of the text model (its per-view C, its stacker and the out-of-fold text score).
        n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda:
            LightGBM's.
        calib_fraction: share of the latest training rows used for calibration and thresholds.
        campaign: how suspicious reviews are grouped into campaigns in :meth:`decide`.
        rules: moderation-action rules, first match wins.
        n_jobs, random_state: LightGBM threads and the only source of randomness.
    """

    def __init__(
        self,
        use_text: bool = True,
        use_behaviour: bool = True,
        behaviour_features: Sequence[str] | None = None,
        target_precision: float = 0.95,
        suspicious_precision: float = 0.5,
        n_folds: int = 5,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        calib_fraction: float = 0.25,
        campaign: CampaignConfig | None = None,
        rules: Sequence[ActionRule] = DEFAULT_RULES,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.use_text = use_text
        self.use_behaviour = use_behaviour
        self.behaviour_features = behaviour_features
        self.target_precision = target_precision
        self.suspicious_precision = suspicious_precision
        self.n_folds = n_folds
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.calib_fraction = calib_fraction
        self.campaign = campaign
        self.rules = rules
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ----------------------------------------------------------------------------------------------- fitting
    def _split(self, X: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latest rows calibrate; without usable times (one nominal moment) a seeded stratified split is used."""
        idx = np.arange(len(X))
        times = X.get(c.REVIEW_TS)
        if times is not None and times.nunique() > 1:
            order = np.argsort(times.to_numpy(), kind="stable")
            cut = round(len(X) * (1 - self.calib_fraction))
            self.split_ = "time"
            return order[:cut], order[cut:]
        self.split_ = "stratified (no posting times)"
        fit, cal = train_test_split(idx, test_size=self.calib_fraction, stratify=y, random_state=self.random_state)
        return np.sort(fit), np.sort(cal)

    def _behaviour_columns(self, X: pd.DataFrame) -> list[str]:
        """The declared review features (or ``behaviour_features``) present in X and not constant there.

        An explicit list, never "every numeric column": a label or a verdict time riding along must not be learned.
        """
        if not self.use_behaviour:
            return []
        if self.behaviour_features is None:
            from features.reviews import REVIEW_FEATURES

            wanted = [f.name for f in REVIEW_FEATURES.features if f.dtype != "string"]
        else:
            wanted = list(self.behaviour_features)
        present = [n for n in wanted if n in X.columns and n not in NON_FEATURES]
        numeric = select_features(X[present]) if present else []
        varying = [n for n in numeric if X[n].astype("float64").nunique(dropna=True) > 1]
        return varying if set(varying) - TEXT_STYLE else []  # only style varies: a text-only dataset

    def fit(self, X: pd.DataFrame, y: Any) -> ReviewAuthenticityModel:
        X = require_frame(X).reset_index(drop=True)
        y_arr = _labels(y, len(X))
        self.behaviour_features_ = self._behaviour_columns(X)
        self.uses_text_ = bool(self.use_text and _has_text(X))
        if not self.behaviour_features_ and not self.uses_text_:
            raise ValueError("nothing to learn from: no usable text and no behaviour feature")
        self.text_only_ = not self.behaviour_features_
        if self.text_only_ and self.use_behaviour:  # a deliberately text-only model (a baseline) is not news
            logger.warning("reviews: no behaviour features in this dataset; scoring with the text model alone")
        fit, cal = self._split(X, y_arr)
        if y_arr[cal].min() == y_arr[cal].max():
            raise ValueError("the calibration rows hold a single class; more verdicts are needed")
        x_fit = X.iloc[fit].reset_index(drop=True)
        if self.uses_text_:
            self.text_model_ = ReviewTextModel(n_folds=self.n_folds, random_state=self.random_state)
            self.text_model_.fit(x_fit[c.REVIEW_TEXT], y_arr[fit])
        if not self.text_only_:
            # the booster learns on text scores from views that never saw the row (in-sample ones are overconfident)
            oof = self.text_model_.oof_log_odds_ if self.uses_text_ else None
            self.booster_ = self._train_booster(self._matrix(x_fit, oof), y_arr[fit])
        raw_cal = self.decision_function(X.iloc[cal])
        self._fit_calibrator(raw_cal, y_arr[cal])
        p_cal = self._calibrate(raw_cal)
        self.thresholds_: LabelThresholds = choose_thresholds(
            y_arr[cal], p_cal, self.target_precision, self.suspicious_precision
        )
        self.importance_ = self._importance()
        self.feature_names = [*self.behaviour_features_, *([c.REVIEW_TEXT] if self.uses_text_ else [])]
        self.classes_ = np.array([0, 1])
        return self

    def _matrix(self, X: pd.DataFrame, text_log_odds: np.ndarray | None) -> pd.DataFrame:
        frame = feature_matrix(X, self.behaviour_features_)
        if self.uses_text_:
            frame[TEXT_LOG_ODDS] = text_log_odds
        return frame

    def _train_booster(self, matrix: pd.DataFrame, y: np.ndarray) -> lgb.Booster:
        params = booster_params(self, "binary")
        data = lgb.Dataset(matrix, y, feature_name=list(matrix.columns), params={"verbosity": -1})
        return lgb.train(params, data, self.n_estimators)

    def _fit_calibrator(self, raw: np.ndarray, y: np.ndarray) -> None:
        """Centred isotonic with enough fakes to fit it; Platt scaling on the raw score otherwise."""
        if y.sum() >= MIN_ISOTONIC_POSITIVES:
            self.calibrator_: Any = CentredIsotonic().fit(raw, y)
            self.calibration_ = "isotonic"
        else:
            self.calibrator_ = LogisticRegression().fit(raw[:, None], y)
            self.calibration_ = "sigmoid"

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibration_ == "isotonic":
            return np.clip(self.calibrator_.predict(raw), 0.0, 1.0)
        return self.calibrator_.predict_proba(raw[:, None])[:, 1]

    def _importance(self) -> dict[str, float]:
        """Share of total split gain per feature (the text score under ``text_probability``), for evidence order."""
        if self.text_only_:
            return {TEXT_PROBABILITY: 1.0}
        gain = self.booster_.feature_importance(importance_type="gain")
        total = gain.sum() or 1.0
        names = [TEXT_PROBABILITY if n == TEXT_LOG_ODDS else n for n in self.booster_.feature_name()]
        return {n: float(g / total) for n, g in zip(names, gain, strict=True)}

    # ----------------------------------------------------------------------------------------------- scoring
    def prepare(self) -> ReviewAuthenticityModel:
        """Build what scoring one review at a time needs now (at load) rather than on the first request."""
        if getattr(self, "uses_text_", False):
            self.text_model_.prepare()
        return self

    def text_log_odds(self, X: Columns) -> np.ndarray | None:
        """The text model's log-odds per row, or None when the model does not use text."""
        if not self.uses_text_:
            return None
        if c.REVIEW_TEXT not in X:
            raise ValueError(f"X lacks the {c.REVIEW_TEXT!r} column the text model needs")
        return self.text_model_.log_odds(X[c.REVIEW_TEXT])

    def _booster_input(self, X: Columns, n: int, text: np.ndarray | None) -> np.ndarray:
        """The booster's float64 matrix (behaviour features in fitted order, then the text log-odds).

        The same values as :meth:`_matrix`, without a frame: LightGBM takes an array as is, while a frame is
        converted on every call (half a millisecond for one row).
        """
        missing = [name for name in self.behaviour_features_ if name not in X]
        if missing:
            raise ValueError(f"X lacks fitted feature column(s): {', '.join(missing)}")
        matrix = np.empty((n, len(self.behaviour_features_) + int(self.uses_text_)))
        for j, name in enumerate(self.behaviour_features_):
            matrix[:, j] = float_column(X[name])
        if self.uses_text_:
            matrix[:, -1] = text
        return matrix

    def _raw_scores(self, X: Columns, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Uncalibrated score and text log-odds per row."""
        text = self.text_log_odds(X)
        if self.text_only_:
            return np.asarray(text, dtype=np.float64), text
        matrix = self._booster_input(X, n, text)
        return np.asarray(self.booster_.predict(matrix, raw_score=True, num_threads=self.n_jobs)), text

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated score (log-odds scale): the booster's raw score, or the text log-odds when text-only."""
        X = require_frame(X)
        return self._raw_scores(X, len(X))[0]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self._calibrate(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the label is "fake" (the 95 %-precision threshold), else 0."""
        return (self.predict_proba(X)[:, 1] >= self.thresholds_.fake).astype(int)

    def _scores(self, X: Columns, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability, label and text probability per row."""
        raw, text = self._raw_scores(X, n)
        p = self._calibrate(raw)
        return p, self.thresholds_.labels(p), expit(text) if text is not None else np.full(n, np.nan)

    def score_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Probability, label and text probability per row (index of ``X``)."""
        X = require_frame(X)
        p, labels, text_p = self._scores(X, len(X))
        return pd.DataFrame({"probability": p, "label": labels, TEXT_PROBABILITY: text_p}, index=X.index)

    def decide(
        self,
        frame: pd.DataFrame,
        rules: Sequence[ActionRule] | None = None,
        campaigns: bool = True,
        top_k: int = 4,
        **_: Any,
    ) -> list[dict[str, Any]]:
        """One record per review: probability, label, action, evidence (zh + en, with numbers), campaign.

        Campaigns are grouped among the non-genuine reviews of ``frame`` (score a day's or a SKU's reviews
        together to see rings); ``rules`` overrides the fitted action table for this call.
        """
        frame = require_frame(frame).reset_index(drop=True)
        return self.decide_columns(frame, len(frame), rules, campaigns, top_k)

    def decide_columns(
        self,
        columns: Columns,
        n: int,
        rules: Sequence[ActionRule] | None = None,
        campaigns: bool = True,
        top_k: int = 4,
    ) -> list[dict[str, Any]]:
        """:meth:`decide` on ``n`` rows given as a frame or as columns by name (lists or arrays of length ``n``).

        A request's few raw reviews come as columns: no frame is built unless enough reviews are flagged to form
        a campaign (a campaign holds at least ``min_size`` of them).
        """
        p, labels, text_p = self._scores(columns, n)
        campaign_id: list[str | None] = [None] * n
        campaign_size = np.zeros(n, dtype=int)
        flagged = np.flatnonzero(labels != "genuine")
        enough = len(flagged) > 0 and len(flagged) >= (self.campaign or CampaignConfig()).min_size
        if campaigns and enough and c.SKU_ID in columns and c.REVIEW_TS in columns:
            grouped = group_campaigns(_campaign_frame(columns, flagged), self.campaign)
            for i, cid, size in zip(flagged, grouped[CAMPAIGN_ID], grouped[CAMPAIGN_SIZE], strict=True):
                campaign_id[i], campaign_size[i] = cid, size
        stated = {f.feature: columns[f.feature] for f in FACTS if f.feature in columns}
        facts = evidence({**stated, TEXT_PROBABILITY: text_p, CAMPAIGN_SIZE: campaign_size}, self.importance_,
                         top_k, n)  # fmt: skip
        chosen_actions = actions(labels.tolist(), p, campaign_size, self.rules if rules is None else rules)
        ids = [str(i) for i in columns[c.REVIEW_ID]] if c.REVIEW_ID in columns else [None] * n
        return [
            {
                c.REVIEW_ID: ids[i],
                "probability": float(p[i]),
                "label": str(labels[i]),
                "action": chosen_actions[i],
                "text_only": bool(self.text_only_),
                "evidence": facts[i],
                CAMPAIGN_ID: campaign_id[i],
                CAMPAIGN_SIZE: int(campaign_size[i]),
            }
            for i in range(n)
        ]


class BehaviourRulesBaseline:
    """What a moderation team does without a model: count red flags (shared device, duplicates, burst, no purchase,
    young account), probability = flags / flags possible. The baseline the combined model must beat."""

    FLAGS: tuple[tuple[str, str, float], ...] = (
        ("device_shared_accounts", ">=", 3),
        ("near_duplicate_count_30d", ">=", 2),
        ("product_reviews_24h", ">=", 10),
        ("verified_purchase", "==", 0),
        ("account_age_days", "<=", 14),
    )

    def fit(self, X: pd.DataFrame, y: Any = None) -> BehaviourRulesBaseline:
        self.flags_ = [f for f in self.FLAGS if f[0] in X.columns]
        if not self.flags_:
            raise ValueError("no behaviour feature for the rules baseline")
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        hits = np.zeros(len(X))
        for name, op, bound in self.flags_:
            v = X[name].astype("float64").to_numpy()
            hits += np.nan_to_num({">=": v >= bound, "<=": v <= bound, "==": v == bound}[op].astype(float))
        p = hits / len(self.flags_)
        return np.column_stack([1 - p, p])
