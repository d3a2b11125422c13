"""Moderators' verdicts: the contract table, its quarantine, the synthetic moderation team and the Ott adapter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import columns as c
from features.lake import ingest
from features.settings import DatasetPaths
from features.sources.base import SourceBatch
from features.sources.synthetic import SynthConfig, generate
from features.sources.synthetic import truth_columns as tc

pytestmark = pytest.mark.data

OPENED, NOW = pd.Timestamp("2024-01-01"), pd.Timestamp("2025-06-01")


def _shop() -> dict[str, pd.DataFrame]:
    return {
        "users": pd.DataFrame({c.USER_ID: ["u1", "u2"], c.SIGNUP_AT: ["2024-01-05", "2024-02-01"]}),
        "products": pd.DataFrame({c.SKU_ID: ["s1"], c.CATEGORY: ["服装"]}),
        "reviews": pd.DataFrame(
            {
                c.REVIEW_ID: ["r1", "r2", "r3"],
                c.USER_ID: ["u1", "u2", "u2"],
                c.SKU_ID: ["s1", "s1", "s1"],
                c.REVIEW_TS: ["2024-03-01 10:00", "2024-03-02 10:00", "2024-03-03 10:00"],
                c.RATING: [5, 1, 5],
                c.REVIEW_TEXT: ["很好", "Terrible.", "好评"],
            }
        ),
        "review_verdicts": pd.DataFrame(
            {
                c.REVIEW_ID: ["r1", "r2", "r9", "r3", "r1", "r2"],
                c.VERDICT: ["fake", "genuine", "fake", "spam", "genuine", "fake"],
                c.DECIDED_AT: ["2024-03-04", "2024-03-05", "2024-03-05", "2024-03-05", "2024-03-06", "2026-01-01"],
                c.VERDICT_SOURCE: ["manual_review", "user_report", None, "manual_review", "manual_review", None],
            }
        ),
    }


def test_verdicts_enter_through_the_contract_and_bad_rows_are_quarantined_with_reasons(tmp_path: Path) -> None:
    paths = DatasetPaths("shop", tmp_path / "shop")
    report = ingest(SourceBatch("shop", _shop(), OPENED), paths, now=NOW, progress=False, max_rejected=1.0)
    counts = report.tables["review_verdicts"]
    assert (counts.rows_in, counts.accepted, counts.quarantined) == (6, 2, 4)
    lake = pd.read_parquet(paths.lake / "review_verdicts.parquet")
    assert lake[c.REVIEW_ID].tolist() == ["r1", "r2"] and lake[c.VERDICT].tolist() == ["fake", "genuine"]
    assert str(lake[c.DECIDED_AT].dtype).startswith("datetime64")
    reasons = pd.read_parquet(paths.quarantine / "review_verdicts.parquet").set_index(c.REVIEW_ID)[c.REASON]
    joined = " ".join(reasons)
    assert "foreign key: review_id not found in reviews.review_id" in joined  # r9
    assert "value: verdict must be one of the allowed values" in joined  # spam
    assert "duplicate key: (review_id) repeats an earlier row" in joined  # a second verdict for r1
    assert "time: decided_at is in the future" in joined


@pytest.fixture(scope="module")
def tiny_batch() -> SourceBatch:
    return generate(SynthConfig.preset("tiny", seed=5), progress=False)


def test_the_synthetic_moderation_team_judges_a_sample_late_and_imperfectly(tiny_batch: SourceBatch) -> None:
    reviews, verdicts = tiny_batch.tables["reviews"], tiny_batch.tables["review_verdicts"]
    joined = verdicts.merge(reviews, on=c.REVIEW_ID).merge(tiny_batch.truth["reviews"], on=c.REVIEW_ID)
    assert len(joined) == len(verdicts) and 0.1 < len(verdicts) / len(reviews) < 0.3  # a sample, not everything
    assert (joined[c.DECIDED_AT] > joined[c.REVIEW_TS]).all()  # decided after posting ...
    assert (joined[c.DECIDED_AT] - joined[c.REVIEW_TS]).median() > pd.Timedelta(days=1)  # ... days later
    said_fake = joined[c.VERDICT] == "fake"
    assert 0.8 < (said_fake == joined[tc.IS_FAKE]).mean() < 1.0  # mostly right, never perfect
    reported = joined[c.VERDICT_SOURCE] == "user_report"
    assert joined.loc[reported, tc.IS_FAKE].mean() > 3 * joined.loc[~reported, tc.IS_FAKE].mean()
    assert set(joined[c.VERDICT_SOURCE]) == {"manual_review", "user_report"}


def test_verdicts_are_deterministic_and_leave_the_rest_of_the_world_unchanged(tiny_batch: SourceBatch) -> None:
    again = generate(SynthConfig.preset("tiny", seed=5), progress=False)
    pd.testing.assert_frame_equal(tiny_batch.tables["review_verdicts"], again.tables["review_verdicts"])
    other = generate(SynthConfig.preset("tiny", seed=6), progress=False)
    assert not np.array_equal(
        other.tables["review_verdicts"][c.REVIEW_ID], again.tables["review_verdicts"][c.REVIEW_ID]
    )


@pytest.mark.realdata
def test_the_ott_corpus_enters_as_reviews_with_verdicts(shared_dataset: Callable[[str], Path], tmp_path: Path) -> None:
    from features.sources import ott

    batch = ott.load(shared_dataset(ott.FOLDER))
    paths = DatasetPaths("ott", tmp_path / "ott")
    report = ingest(batch, paths, now=NOW, progress=False)
    assert {name: (r.rows_in, r.quarantined) for name, r in report.tables.items()} == {
        "users": (800, 0), "products": (20, 0), "reviews": (800, 0), "review_verdicts": (800, 0),
    }  # fmt: skip
    verdicts = pd.read_parquet(paths.lake / "review_verdicts.parquet")
    assert (verdicts[c.VERDICT] == "fake").sum() == 400
    folds = pd.read_parquet(paths.truth / "folds.parquet")  # the benchmark's, never the model's
    assert sorted(folds[ott.FOLD].value_counts().tolist()) == [160] * 5
    assert not (paths.lake / "folds.parquet").exists()
