"""Moderators' verdicts: the labels a platform really has for review authenticity, with their flaws.

A moderation team sees only some reviews: a random audit of everything posted, plus the reviews shoppers report
(fakes get reported far more often than genuine ones). Verdicts arrive days after posting and are sometimes wrong
(a well-made fake passes, an odd genuine review is taken down). Models train on these; the ground truth in
``truth/reviews`` stays for measuring only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import columns as c
from features.sources.synthetic.frames import to_contract

DAY = 86_400
HOUR = 3_600
VERDICT_STREAM = 1011  # own random stream: adding verdicts leaves every other table of a seed unchanged


@dataclass(frozen=True)
class ModerationConfig:
    """How the synthetic moderation team works.

    Attributes:
        audit_share: share of all reviews pulled at random for manual review.
        report_fake, report_genuine: chance that shoppers report a fake / a genuine review.
        miss_fake: chance a moderator judges a fake review genuine (label noise).
        false_alarm: chance a moderator judges a genuine review fake.
        audit_delay_days, report_delay_days: mean of the exponential delay from posting to verdict.
    """

    audit_share: float = 0.15
    report_fake: float = 0.30
    report_genuine: float = 0.01
    miss_fake: float = 0.04
    false_alarm: float = 0.005
    audit_delay_days: float = 3.0
    report_delay_days: float = 6.0


def moderation_verdicts(
    reviews: pd.DataFrame,
    is_fake: np.ndarray,
    seed: int,
    start_ns: int,
    days: int,
    config: ModerationConfig | None = None,
) -> pd.DataFrame:
    """The ``review_verdicts`` contract table for ``reviews`` (rows aligned with ``is_fake``).

    Reported reviews go to a moderator through the report (source ``user_report``); of the rest, an audit sample
    is judged (``manual_review``). Verdicts not yet made by the end of the window are absent.
    """
    config = config or ModerationConfig()
    rng = np.random.default_rng([seed, VERDICT_STREAM])
    n = len(reviews)
    posted = ((reviews[c.REVIEW_TS].to_numpy("datetime64[ns]").astype(np.int64) - start_ns) // 1_000_000_000).astype(
        np.int64
    )
    reported = rng.random(n) < np.where(is_fake, config.report_fake, config.report_genuine)
    audited = ~reported & (rng.random(n) < config.audit_share)
    mean_delay = np.where(reported, config.report_delay_days, config.audit_delay_days) * DAY
    decided = posted + HOUR + rng.exponential(mean_delay).astype(np.int64)
    flip = rng.random(n) < np.where(is_fake, config.miss_fake, config.false_alarm)
    judged_fake = is_fake ^ flip
    keep = np.flatnonzero((reported | audited) & (decided < days * DAY))
    keep = keep[np.argsort(decided[keep], kind="stable")]
    return to_contract(
        "review_verdicts",
        {
            c.REVIEW_ID: reviews[c.REVIEW_ID].to_numpy(dtype=object)[keep],
            c.VERDICT: np.where(judged_fake[keep], "fake", "genuine").astype(object),
            c.DECIDED_AT: decided[keep],
            c.VERDICT_SOURCE: np.where(reported[keep], "user_report", "manual_review").astype(object),
        },
        start_ns,
    )
