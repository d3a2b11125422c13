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
from scipy.stats import rankdata
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import ThreadpoolController

from models.metrics import adjusted_rand

TIERS: tuple[str, ...] = ("high_value", "potential_high_value", "active", "new", "at_risk", "lost")
TIER_LABELS_ZH: dict[str, str] = {
    "high_value": "高价值",
    "potential_high_value": "潜在高价值",
    "active": "活跃",
    "new": "新用户",
    "at_risk": "流失风险",
    "lost": "已流失",
}
TIER_LABELS_EN: dict[str, str] = {
    "high_value": "high value",
    "potential_high_value": "potential high value",
    "active": "active",
    "new": "new",
    "at_risk": "at risk",
    "lost": "lost",
}
RECENCY, ORDERS, SPEND, TENURE, LTV = "recency_days", "orders_365d", "spend_365d", "tenure_days", "predicted_ltv"
FEATURES: tuple[str, ...] = (RECENCY, ORDERS, SPEND, TENURE, LTV)
TIER = "tier"


@functools.cache
def _threads() -> ThreadpoolController:
    """One controller per process: building one reads /proc/self/maps (~3 ms), too slow for a per-request call."""
    return ThreadpoolController()


def _quintile_score(values: np.ndarray) -> np.ndarray:
    """1..5 by rank (higher value, higher score); tied values share the lowest score their group reaches."""
    ranks = rankdata(values, method="min")
    return 1 + np.floor(5 * (ranks - 1) / len(values)).astype(int)


def rfm_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Recency, frequency and monetary scores in 1..5 (5 = best) by quintile of the users given.

    Recency is ``recency_days`` (fewer days is better; never-ordered users get r=1), frequency ``orders_365d`` and
    monetary ``spend_365d`` (missing counts as 0). Ties share a score, so a column with many zeros does not split
    identical users across scores by row order. Index follows ``frame``.
    """
    _require_columns(frame, (RECENCY, ORDERS, SPEND))
    out = pd.DataFrame(index=frame.index)
    if len(frame) == 0:
        return out.assign(r_score=pd.Series(dtype=int), f_score=pd.Series(dtype=int), m_score=pd.Series(dtype=int))
    recency = frame[RECENCY].to_numpy(dtype="float64")
    r_score = np.ones(len(frame), dtype=int)
    seen = ~np.isnan(recency)
    if seen.any():
        r_score[seen] = _quintile_score(-recency[seen])
    out["r_score"] = r_score
    out["f_score"] = _quintile_score(np.nan_to_num(frame[ORDERS].to_numpy(dtype="float64"), nan=0.0))
    out["m_score"] = _quintile_score(np.nan_to_num(frame[SPEND].to_numpy(dtype="float64"), nan=0.0))
    return out


class RfmScorer:
    """R, F and M scores in 1..5 against quintile cut points learned on a reference population.

    ``rfm_scores`` ranks the users it is given; a service scoring one user at a time needs fixed cut points instead,
    so a user's scores never depend on who else is in the request. A value on a cut point takes the lower score.
    """

    def fit(self, frame: pd.DataFrame) -> RfmScorer:
        _require_columns(frame, (RECENCY, ORDERS, SPEND))
        quantiles = [0.2, 0.4, 0.6, 0.8]
        values = self._values(frame)
        self.edges_ = {
            name: np.nanquantile(v, quantiles) if np.isfinite(v).any() else np.zeros(4) for name, v in values.items()
        }
        return self

    @staticmethod
    def _values(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {
            "r_score": -frame[RECENCY].to_numpy(dtype="float64"),
            "f_score": np.nan_to_num(frame[ORDERS].to_numpy(dtype="float64"), nan=0.0),
            "m_score": np.nan_to_num(frame[SPEND].to_numpy(dtype="float64"), nan=0.0),
        }

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Scores for any users; never-ordered users (no recency) get r=1."""
        out = pd.DataFrame(index=frame.index)
        for name, v in self._values(frame).items():
            score = 1 + np.searchsorted(self.edges_[name], v, side="left")
            out[name] = np.where(np.isnan(v), 1, score).astype(int)
        return out


def _require_columns(frame: Any, names: tuple[str, ...]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, got {type(frame).__name__}")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s): {', '.join(missing)}")


def _log_features(frame: pd.DataFrame) -> np.ndarray:
    """log1p of the clustering features, with never-ordered users silent since signup (recency = tenure)."""
    _require_columns(frame, FEATURES)
    x = frame.loc[:, list(FEATURES)].astype("float64")
    x[RECENCY] = x[RECENCY].fillna(x[TENURE])
    x[TENURE] = x[TENURE].fillna(x[RECENCY])
    x = x.fillna({RECENCY: 0.0, TENURE: 0.0, ORDERS: 0.0, SPEND: 0.0, LTV: 0.0})
    return np.log1p(x.clip(lower=0.0).to_numpy())


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
        self.rfm_ = RfmScorer().fit(frame)
        return self

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
        return self.tier_names_[self.cluster_ids(frame)].astype(str)

    def holdout_silhouette(self, frame: pd.DataFrame, random_state: int | None = None) -> float:
        """Silhouette, in [-1, 1], of this model's clusters on other users (e.g. a later cutoff); NaN if < 2 used.

        Scores how well the fitted centroids still separate new data, on a seeded sample of ``silhouette_sample``
        users, so two model versions can be compared on the same holdout.
        """
        z = self._z(frame)
        labels = self.cluster_ids(frame)
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


def tier_report(tiers: Any, revenue: Any) -> pd.DataFrame:
    """Users, user share, revenue and revenue share per tier (all tiers, in :data:`TIERS` order).

    ``revenue`` is per user (e.g. spend over the evaluation window), aligned with ``tiers`` by position. The
    handbooks expect high-value users to be 10-15% of users bringing most revenue; this shows where the data lands.
    """
    t = np.asarray(tiers).astype(str).ravel()
    r = np.asarray(revenue, dtype="float64").ravel()
    if t.shape != r.shape:
        raise ValueError(f"{t.size} tiers for {r.size} revenue values")
    unknown = sorted(set(t) - set(TIERS))
    if unknown:
        raise ValueError(f"unknown tier(s): {', '.join(unknown)}")
    frame = pd.DataFrame({TIER: t, "revenue": np.nan_to_num(r)})
    agg = frame.groupby(TIER).agg(users=("revenue", "size"), revenue=("revenue", "sum")).reindex(list(TIERS))
    agg = agg.fillna(0.0)
    agg["users"] = agg["users"].astype(int)
    agg.insert(0, "tier_zh", [TIER_LABELS_ZH[x] for x in agg.index])
    agg.insert(2, "user_share", agg["users"] / max(len(t), 1))
    total = agg["revenue"].sum()
    agg["revenue_share"] = agg["revenue"] / total if total > 0 else 0.0
    agg["revenue_per_user"] = agg["revenue"] / agg["users"].where(agg["users"] > 0)
    agg.index.name = TIER
    return agg


def tier_stability(tiers_a: Any, tiers_b: Any) -> float:
    """Adjusted Rand index of two tier assignments on the users both have, in [-0.5, 1] (1 = same grouping).

    Two Series are aligned on their index (user ids); plain arrays must be aligned by position. NaN without
    common users.
    """
    if isinstance(tiers_a, pd.Series) and isinstance(tiers_b, pd.Series):
        common = tiers_a.index.intersection(tiers_b.index)
        if len(common) == 0:
            return float("nan")
        return adjusted_rand(tiers_a.loc[common].astype(str), tiers_b.loc[common].astype(str))
    return adjusted_rand(np.asarray(tiers_a).astype(str), np.asarray(tiers_b).astype(str))
