"""Adapter for the Ott et al. (2011) deceptive opinion spam corpus, positive half, into the contract.

800 English hotel reviews of 20 Chicago hotels: 400 truthful (TripAdvisor) and 400 deceptive (written to order
by Mechanical Turk workers). It enters the lake like a shop's own labelled reviews would: ``reviews`` plus
``review_verdicts`` (deceptive = fake), so the review-authenticity model needs no Ott-specific code path.

What the corpus lacks is absent, not faked, and the model scores it with its text part alone:
- no reviewer, device, order or time: each review gets its own anonymous account (``ott:<review_id>``, no signup
  date), no device, no order; ``review_ts`` and ``decided_at`` are one nominal moment (``NOMINAL_TS``, the year
  the corpus was published), because the contract needs a posting time; no time split is possible on it.
- every review is positive: the truthful half was selected from 5-star TripAdvisor reviews and the deceptive
  half was written as positive, so ``rating`` is 5 throughout.
- one product per hotel (``sku_id`` = the corpus's hotel code, category ``hotel``).
The corpus's own cross-validation folds (hotel-disjoint) go to ``truth/folds`` for the benchmark only: training
code never reads them, so nothing is tuned to them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features import columns as c
from features.settings import get_settings
from features.sources.base import SourceBatch
from features.sources.realdata import contract_frame, file_sha256, require_file

logger = logging.getLogger(__name__)

DATASET = "ott"
FOLDER = "ott_deceptive_opinion_spam_positive"
FILE = "reviews.csv"
NOMINAL_TS = pd.Timestamp("2011-06-01")
OPENED_AT = pd.Timestamp("2011-01-01")
CATEGORY = "hotel"
RATING = 5
USER_PREFIX = "ott:"
SOURCE_MANUAL = "manual_review"

# source columns and values
LABEL, HOTEL, FOLD, TEXT, SOURCE_ID = "label", "hotel", "fold", "text", "review_id"
DECEPTIVE, TRUTHFUL = "deceptive", "truthful"
FOLDS_TABLE = "folds"


def default_path() -> Path:
    """``$SHOPSENSE_SHARED_DATA/ott_deceptive_opinion_spam_positive/reviews.csv``."""
    return get_settings().shared_data / FOLDER / FILE


def _csv(path: Path | None) -> Path:
    """The corpus file from a folder, a file or the default location."""
    path = Path(path) if path is not None else default_path()
    return require_file(path / FILE if path.is_dir() else path)


def read_corpus(path: Path | None = None) -> pd.DataFrame:
    """The corpus as shipped (review_id, label, hotel, source, fold, text), checked for its two labels."""
    path = _csv(path)
    frame = pd.read_csv(path, dtype={SOURCE_ID: str, LABEL: str, HOTEL: str, FOLD: "int64", TEXT: str})
    unknown = sorted(set(frame[LABEL]) - {DECEPTIVE, TRUTHFUL})
    if unknown:
        raise ValueError(f"{path}: unexpected label(s) {unknown}; expected {DECEPTIVE!r} or {TRUTHFUL!r}")
    return frame


def to_tables(corpus: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Contract tables users, products, reviews, review_verdicts from the corpus frame."""
    users = pd.DataFrame({c.USER_ID: USER_PREFIX + corpus[SOURCE_ID]})
    hotels = sorted(corpus[HOTEL].unique())
    products = pd.DataFrame({c.SKU_ID: hotels, c.PRODUCT_NAME: hotels, c.CATEGORY: CATEGORY})
    reviews = pd.DataFrame(
        {
            c.REVIEW_ID: corpus[SOURCE_ID],
            c.USER_ID: users[c.USER_ID],
            c.SKU_ID: corpus[HOTEL],
            c.REVIEW_TS: NOMINAL_TS,
            c.RATING: RATING,
            c.REVIEW_TEXT: corpus[TEXT],
        }
    )
    verdicts = pd.DataFrame(
        {
            c.REVIEW_ID: corpus[SOURCE_ID],
            c.VERDICT: corpus[LABEL].map({DECEPTIVE: "fake", TRUTHFUL: "genuine"}),
            c.DECIDED_AT: NOMINAL_TS,
            c.VERDICT_SOURCE: SOURCE_MANUAL,
        }
    )
    return {
        name: contract_frame(name, frame)
        for name, frame in (
            ("users", users), ("products", products), ("reviews", reviews), ("review_verdicts", verdicts)
        )
    }  # fmt: skip


def load(path: Path | None = None) -> SourceBatch:
    """Read the corpus into a SourceBatch named ``ott``; the folds go to ``truth`` (benchmark only)."""
    source = _csv(path)
    corpus = read_corpus(source)
    logger.info("ott: %d reviews (%d deceptive) of %d hotels", len(corpus), (corpus[LABEL] == DECEPTIVE).sum(),
                corpus[HOTEL].nunique())  # fmt: skip
    folds = pd.DataFrame({c.REVIEW_ID: corpus[SOURCE_ID], FOLD: corpus[FOLD].astype("int64")})
    return SourceBatch(
        name=DATASET,
        tables=to_tables(corpus),
        opened_at=OPENED_AT,
        truth={FOLDS_TABLE: folds},
        lineage={
            "path": str(source.resolve()),
            "sha256": file_sha256(source),
            "rows": len(corpus),
            "nominal_review_ts": str(NOMINAL_TS),
            "text_only": True,
        },
    )
