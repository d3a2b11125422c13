"""User tiering (用户分层): RFM scores, and K-means on log-RFM + tenure + predicted value with rule-named tiers.

K-means finds the groups; rules on the centroids name them, and a retrain matches its clusters to the previous
model's named centroids, so "high_value" means the same kind of user from one month to the next. The model reports
where the data lands (e.g. what share of users is high-value) rather than forcing the handbooks' 10-15%.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import ThreadpoolController

from models.metrics import adjusted_rand
from models.rfm import (
    FEATURES,
    LTV,
    ORDERS,
    RECENCY,
    SCORES,
    SPEND,
    TENURE,
    TIER,
    TIER_LABELS_EN,
    TIER_LABELS_ZH,
    TIERS,
    RfmRuleTiering,
    RfmScorer,
    _require_columns,
    rfm_scores,
    tier_report,
    tier_stability,
)

__all__ = [
    "FEATURES",
    "SCORES",
    "TIER",
    "TIERS",
    "TIER_LABELS_EN",
    "TIER_LABELS_ZH",
    "RfmRuleTiering",
    "RfmScorer",
    "TieringModel",
    "rfm_scores",
    "tier_report",
    "tier_stability",
]


FALLBACKS = ("auto", "never", "always")


@functools.cache
def _threads() -> ThreadpoolController:
    """One controller per process: building one reads /proc/self/maps (~3 ms), too slow for a per-request call."""
    return ThreadpoolController()


def _log_features(frame: pd.DataFrame) -> np.ndarray:
    """log1p of the clustering features, with never-ordered users silent since signup (recency = tenure)."""
    _require_columns(frame, FEATURES)
    return _log_array(frame.loc[:, list(FEATURES)].astype("float64").to_numpy())


_RECENCY, _TENURE = FEATURES.index(RECENCY), FEATURES.index(TENURE)


def _log_array(x: np.ndarray) -> np.ndarray:
    """:func:`_log_features` of a float64 array whose columns are :data:`FEATURES` in order."""
    x = np.array(x, dtype=np.float64)  # a copy: the caller's block stays as it was
    recency, tenure = x[:, _RECENCY].copy(), x[:, _TENURE]
    x[:, _RECENCY] = np.where(np.isnan(recency), tenure, recency)
    x[:, _TENURE] = np.where(np.isnan(tenure), recency, tenure)
    return np.log1p(np.clip(np.where(np.isnan(x), 0.0, x), 0.0, None))


class TieringModel(BaseEstimator):
    """K-means tiers with k chosen by silhouette and clusters named by rules (or by the previous model's names).

    Naming rules on each centroid (original units; z = standardised log value), applied in order:
      1. new: tenure <= ``new_days`` (short tenure);
      2. lost: recency >= ``lost_days`` (very long silence), or recency >= ``at_risk_days`` with below-average
         purchase frequency (z of orders_365d <= 0: a light buyer gone quiet is gone);
      3. at_risk: recency >= ``at_risk_days`` with above-average frequency (a habitual buyer gone quiet: the
         one recall can still win back);
      4. high_value: among the remaining (recent) clusters, the one with the highest mean z of spend_365d and
         predicted_ltv, if above the population average (> 0);
      5. potential_high_value: remaining recent clusters whose predicted_ltv is above average (z > 0) and at least
         as high, relative to the population, as their current spend (z_ltv >= z_spend: value expected to grow);
      6. active: the rest (recent orders, ordinary value).
    With ``reference_centroids`` (a previous model's ``centroids_``) clusters are instead matched to the named
    reference centroids by the Hungarian algorithm on standardised distances and take their names; clusters left
    over (k above the reference's) take the name of their nearest reference centroid. When k equals the reference's,
    K-means also starts from the reference centroids, so the same kind of cluster is found again.

    Args:
        k_min, k_max: range of k tried; ``k_min == k_max`` pins k (e.g. 6 to get every tier a chance).
        random_state: seeds K-means and the silhouette sample (the only randomness).
        reference_centroids: the previous model's ``centroids_`` (original units plus ``tier``), for stable names.
        new_days, at_risk_days, lost_days: the naming rules' day thresholds.
        n_init: K-means restarts per k; silhouette_sample: users scored per k (silhouette is quadratic).
        n_jobs: threads for K-means and BLAS (1: fast on shared machines, where OpenMP spinning hurts, and
            reproducible across machines).
        fallback: "auto" (default) predicts with the handbooks' RFM rules (:class:`RfmRuleTiering`) when K-means is
            less stable than them or leaves more tiers empty on the training users (``fallback_`` says which
            happened, ``fallback_check_`` shows the figures); "never" / "always" force one method.
        stability_margin: how much more stable than the rules K-means must be to be kept.
    """

    def __init__(
        self,
        k_min: int = 4,
        k_max: int = 8,
        random_state: int = 42,
        reference_centroids: pd.DataFrame | None = None,
        new_days: float = 90.0,
        at_risk_days: float = 60.0,
        lost_days: float = 180.0,
        n_init: int = 4,
        silhouette_sample: int = 4000,
        n_jobs: int = 1,
        fallback: str = "auto",
        stability_margin: float = 0.0,
    ) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.random_state = random_state
        self.reference_centroids = reference_centroids
        self.new_days = new_days
        self.at_risk_days = at_risk_days
        self.lost_days = lost_days
        self.n_init = n_init
        self.silhouette_sample = silhouette_sample
        self.n_jobs = n_jobs
        self.fallback = fallback
        self.stability_margin = stability_margin

    def fit(self, frame: pd.DataFrame, y: Any = None) -> TieringModel:
        """Standardise, cluster for every k in [k_min, k_max], keep the best silhouette, then name the clusters."""
        with _threads().limit(limits=self.n_jobs):
            return self._fit(frame)

    def _fit(self, frame: pd.DataFrame) -> TieringModel:
        logs = _log_features(frame)
        if not 2 <= self.k_min <= self.k_max < len(logs):
            raise ValueError(f"need 2 <= k_min <= k_max < n_users, got {self.k_min}, {self.k_max}, {len(logs)}")
        self.mean_ = logs.mean(axis=0)
        self.scale_ = np.where(logs.std(axis=0) > 0, logs.std(axis=0), 1.0)
        z = (logs - self.mean_) / self.scale_
        reference = self._reference_z()
        rng = np.random.default_rng(self.random_state)
        sample = rng.choice(len(z), size=min(len(z), self.silhouette_sample), replace=False)
        self.silhouettes_: dict[int, float] = {}
        best: KMeans | None = None
        for k in range(self.k_min, self.k_max + 1):
            warm = reference is not None and len(reference) == k
            km = KMeans(
                n_clusters=k,
                init=reference if warm else "k-means++",
                n_init=1 if warm else self.n_init,
                random_state=self.random_state,
            ).fit(z)
            self.silhouettes_[k] = float(silhouette_score(z[sample], km.labels_[sample]))
            if best is None or self.silhouettes_[k] > self.silhouettes_[best.n_clusters]:
                best = km
        assert best is not None
        self.kmeans_ = best
        self.k_ = best.n_clusters
        self.silhouette_ = self.silhouettes_[self.k_]
        self._name_clusters(reference)
        self.profile_ = self._profile(frame, best.labels_)
        self.rules_ = RfmRuleTiering(new_days=self.new_days).fit(frame)
        self.rfm_ = self.rules_.rfm_  # one scorer: the served scores and the rules' tiers share their cut points
        self._choose_method(frame)
        return self

    def _choose_method(self, frame: pd.DataFrame) -> None:
        """Keep K-means only if it is at least as stable as the RFM rules and leaves no more tiers empty.

        Stability is measured on the training users alone: both methods are refitted on two random halves (the
        second K-means fit named after the first's centroids, as a retrain is) and the adjusted Rand index of the
        two fits' tiers on all users is compared. Sets ``fallback_`` (True = predictions come from the rules) and
        ``fallback_check_`` (the figures behind the choice).
        """
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        self.fallback_check_: dict[str, float] = {}
        if self.fallback == "auto":
            check = self._split_half_check(frame)
            self.fallback_check_ = check
            worse = check["kmeans_stability"] < check["rules_stability"] + self.stability_margin
            emptier = check["kmeans_empty_tiers"] > check["rules_empty_tiers"]
            self.fallback_ = bool(worse or emptier)
        else:
            self.fallback_ = self.fallback == "always"
        self.method_ = "rules" if self.fallback_ else "kmeans"

    def _split_half_check(self, frame: pd.DataFrame) -> dict[str, float]:
        order = np.random.default_rng(self.random_state).permutation(len(frame))
        half_a, half_b = frame.iloc[order[: len(order) // 2]], frame.iloc[order[len(order) // 2 :]]
        params = self.get_params() | {"fallback": "never", "reference_centroids": None}
        first = TieringModel(**params).fit(half_a)
        second = TieringModel(**params | {"reference_centroids": first.centroids_}).fit(half_b)
        rules_a, rules_b = (RfmRuleTiering(new_days=self.new_days).fit(h) for h in (half_a, half_b))
        own, rules = self._kmeans_tiers(frame), self.rules_.predict(frame)
        return {
            "kmeans_stability": adjusted_rand(first.predict(frame), second.predict(frame)),
            "rules_stability": adjusted_rand(rules_a.predict(frame), rules_b.predict(frame)),
            "kmeans_empty_tiers": float(len(set(TIERS) - set(own))),
            "rules_empty_tiers": float(len(set(TIERS) - set(rules))),
        }

    def rfm(self, frame: pd.DataFrame) -> pd.DataFrame:
        """R/F/M scores against the cut points of the population this model was fitted on."""
        return self.rfm_.transform(frame)

    def _reference_z(self) -> np.ndarray | None:
        """The reference centroids in this fit's standardised space (None without a reference)."""
        ref = self.reference_centroids
        if ref is None:
            return None
        _require_columns(ref, (*FEATURES, TIER))
        unknown = sorted(set(ref[TIER]) - set(TIERS))
        if unknown:
            raise ValueError(f"reference_centroids has unknown tier(s): {', '.join(map(str, unknown))}")
        return (_log_features(ref) - self.mean_) / self.scale_

    def _name_clusters(self, reference: np.ndarray | None) -> None:
        z = self.kmeans_.cluster_centers_
        centroids = pd.DataFrame(np.expm1(z * self.scale_ + self.mean_), columns=list(FEATURES))
        if reference is None:
            self.naming_ = "rules"
            names = self._rule_names(centroids, z)
        else:
            self.naming_ = "reference"
            names = _match_names(z, reference, self.reference_centroids[TIER].tolist())
        self.tier_names_ = np.array(names, dtype=object)
        centroids.index.name = "cluster"
        self.centroids_ = centroids.assign(**{TIER: names})

    def _rule_names(self, centroids: pd.DataFrame, z: np.ndarray) -> list[str]:
        """Apply the documented naming rules (see the class docstring) to each centroid."""
        names: list[str | None] = [None] * len(centroids)
        col = {f: j for j, f in enumerate(FEATURES)}
        for i, row in centroids.iterrows():
            if row[TENURE] <= self.new_days:
                names[i] = "new"
            elif row[RECENCY] >= self.lost_days:
                names[i] = "lost"
            elif row[RECENCY] >= self.at_risk_days:
                names[i] = "at_risk" if z[i, col[ORDERS]] > 0 else "lost"
        recent = [i for i, n in enumerate(names) if n is None]
        value = (z[:, col[SPEND]] + z[:, col[LTV]]) / 2
        if recent:
            top = max(recent, key=lambda i: value[i])
            if value[top] > 0:
                names[top] = "high_value"
        for i in recent:
            if names[i] is None:
                growing = z[i, col[LTV]] > 0 and z[i, col[LTV]] >= z[i, col[SPEND]]
                names[i] = "potential_high_value" if growing else "active"
        return [str(n) for n in names]

    def _profile(self, frame: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
        """Per-cluster size and arithmetic means of the features in original units (never-ordered: NaN recency)."""
        x = frame.loc[:, list(FEATURES)].astype("float64").reset_index(drop=True)
        prof = x.groupby(labels).mean()
        prof.insert(0, "users", np.bincount(labels, minlength=self.k_)[prof.index])
        prof.insert(1, "user_share", prof["users"] / len(labels))
        prof.insert(0, "tier_zh", [TIER_LABELS_ZH[t] for t in self.tier_names_[prof.index]])
        prof.insert(0, TIER, self.tier_names_[prof.index])
        prof.index.name = "cluster"
        return prof

    def _z(self, frame: pd.DataFrame) -> np.ndarray:
        return (_log_features(frame) - self.mean_) / self.scale_

    def cluster_ids(self, frame: pd.DataFrame) -> np.ndarray:
        """Nearest-centroid cluster index per user."""
        with _threads().limit(limits=self.n_jobs):
            return self.kmeans_.predict(self._z(frame))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Standardised distance of each user to each centroid, shape (n, k)."""
        with _threads().limit(limits=self.n_jobs):
            return self.kmeans_.transform(self._z(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Tier name per user."""
        if self.fallback_:
            return self.rules_.predict(frame)
        return self._kmeans_tiers(frame)

    def _kmeans_tiers(self, frame: pd.DataFrame) -> np.ndarray:
        return self.tier_names_[self.cluster_ids(frame)].astype(str)

    def predict_array(self, x: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
        """:meth:`predict` on a float64 array whose columns are :data:`FEATURES` in order (the serving path).

        The nearest centroid is computed as K-means' own ``predict`` does (squared norms minus twice the dot
        product), without its per-call input validation and thread-pool set-up, which cost milliseconds per call.
        ``scores``: :meth:`rfm_array` of ``x`` when the caller has it; the rules tiering reads it rather than scoring
        the users again when its cut points are this model's (one scorer since fit shares it; models pickled before
        that hold two scorers fitted on the same users, compared here).
        """
        if self.fallback_:
            shared = scores is not None and self.rules_.rfm_.same_cuts(self.rfm_)
            return self.rules_.predict_array(x, scores if shared else None)
        z = (_log_array(x) - self.mean_) / self.scale_
        centers = self.kmeans_.cluster_centers_
        distances = (centers * centers).sum(axis=1) - 2.0 * (z @ centers.T)
        return self.tier_names_[distances.argmin(axis=1)].astype(str)

    def rfm_array(self, x: np.ndarray) -> np.ndarray:
        """:meth:`rfm` on a :data:`FEATURES`-ordered array: scores (n, 3), columns ``r_score, f_score, m_score``."""
        return self.rfm_.transform_array(x)

    def holdout_silhouette(self, frame: pd.DataFrame, random_state: int | None = None) -> float:
        """Silhouette, in [-1, 1], of this model's clusters on other users (e.g. a later cutoff); NaN if < 2 used.

        Scores how well the fitted centroids still separate new data, on a seeded sample of ``silhouette_sample``
        users, so two model versions can be compared on the same holdout.
        """
        z = self._z(frame)
        labels = self.predict(frame) if self.fallback_ else self.cluster_ids(frame)
        seed = self.random_state if random_state is None else random_state
        sample = np.random.default_rng(seed).choice(len(z), size=min(len(z), self.silhouette_sample), replace=False)
        if len(np.unique(labels[sample])) < 2:
            return float("nan")
        with _threads().limit(limits=self.n_jobs):
            return float(silhouette_score(z[sample], labels[sample]))


def _match_names(z: np.ndarray, reference: np.ndarray, ref_names: list[str]) -> list[str]:
    """Hungarian match of clusters to reference centroids; unmatched clusters take their nearest reference's name."""
    cost = cdist(z, reference)
    rows, cols = linear_sum_assignment(cost)
    names = [ref_names[j] for j in cost.argmin(axis=1)]
    for i, j in zip(rows, cols, strict=True):
        names[i] = ref_names[j]
    return names
