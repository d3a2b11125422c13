"""Review-authenticity training data: point-in-time review features, the review's own content, moderators' verdicts.

Each review's features are as of its own posting time (:data:`features.reviews.REVIEW_FEATURES`), so a review's row
never changes once it exists. Labels are verdicts (``review_verdicts``). The time split mirrors what a platform
knows at the split moment ``T``: training rows are reviews posted before ``T`` whose verdict was decided before
``T``; test rows are reviews posted from ``T`` on (scored against their verdicts, or, on the synthetic world, by the
benchmark against ``truth/``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from features import build
from features import columns as c
from features.engine import LakeTables, connect
from features.reviews import REVIEW_FEATURES
from features.settings import DatasetPaths
from models.review_names import LABEL

logger = logging.getLogger(__name__)

FAKE = "fake"
CONTENT = (c.REVIEW_ID, c.USER_ID, c.REVIEW_TS, c.REVIEW_TEXT, c.DEVICE_ID)


@dataclass
class ReviewData:
    """All reviews with features and content; ``label`` is the verdict (NaN where none), ``decided_at`` its time."""

    frame: pd.DataFrame
    cutoff: pd.Timestamp

    def labelled(self) -> pd.DataFrame:
        return self.frame[self.frame[LABEL].notna()]

    def time_split(self, test_fraction: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
        """(train, test, T): T is the posting-time quantile leaving ``test_fraction`` of reviews to the test.

        Train = labelled reviews posted before T with the verdict decided before T; test = every review posted
        from T on (labelled or not). Without distinct posting times there is no time split: raises.
        """
        times = self.frame[c.REVIEW_TS]
        if times.nunique() < 2:
            raise ValueError("this dataset has no posting times to split on (one nominal moment)")
        split = times.quantile(1 - test_fraction)
        lab = self.labelled()
        train = lab[(lab[c.REVIEW_TS] < split) & (lab[c.DECIDED_AT] < split)]
        test = self.frame[times >= split]
        return train.sort_values(c.REVIEW_TS, kind="stable"), test, pd.Timestamp(split)


def load_review_data(paths: DatasetPaths, engine: str = "duckdb") -> ReviewData:
    """Compute review features at the day after the last review and join content and verdicts."""
    lake = LakeTables(connect(engine=engine), paths)
    reviews = lake.con.to_pandas(lake["reviews"].select(*CONTENT))
    cutoff = pd.Timestamp(reviews[c.REVIEW_TS].max()).normalize() + pd.Timedelta(days=1)
    features = build.compute_frame(REVIEW_FEATURES, lake, cutoff).drop(columns=[c.AS_OF])
    frame = features.merge(reviews, on=c.REVIEW_ID, how="inner", validate="one_to_one")
    if lake.has("review_verdicts"):
        verdicts = lake.con.to_pandas(lake["review_verdicts"].select(c.REVIEW_ID, c.VERDICT, c.DECIDED_AT))
        frame = frame.merge(verdicts, on=c.REVIEW_ID, how="left", validate="one_to_one")
        frame[LABEL] = frame[c.VERDICT].map({FAKE: 1.0, "genuine": 0.0})
        frame = frame.drop(columns=[c.VERDICT])
    else:
        frame[LABEL], frame[c.DECIDED_AT] = float("nan"), pd.NaT
    logger.info("reviews: %d rows, %d with a verdict", len(frame), frame[LABEL].notna().sum())
    return ReviewData(frame.sort_values([c.REVIEW_TS, c.REVIEW_ID], kind="stable").reset_index(drop=True), cutoff)
