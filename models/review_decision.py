"""The served review-authenticity decision: stored reviews by id and raw new reviews at submission time.

Stored reviews are scored on the features the batch layer computed when they were posted (kept with their text,
since the text model needs it); a raw new review gets the same features from :class:`ReviewContext` (reviewer,
product, device and order history plus a MinHash LSH index of recent texts), which it then joins, so the next
review of a burst sees it. Records say ``status`` per review: ``unknown_review`` for an id the model has never seen.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from features import columns as c
from models.review_evidence import float_column
from models.review_names import FEATURE_SERVICE, OK, UNKNOWN
from models.review_online import ReviewContext
from models.reviews import CAMPAIGN_COLUMNS, ReviewAuthenticityModel

RAW_COLUMNS = (c.REVIEW_ID, c.USER_ID, c.SKU_ID, c.REVIEW_TS, c.RATING, c.REVIEW_TEXT, c.DEVICE_ID, c.ORDER_ID)


class ReviewDecision:
    """A fitted :class:`ReviewAuthenticityModel` with the stored reviews it can score by id and the live context.

    ``feature_names`` is empty: the service looks nothing up for this decision; the context travels with the
    model (snapshot of the lake at training) and grows with every raw review scored.
    """

    feature_service = FEATURE_SERVICE

    def __init__(self, model: ReviewAuthenticityModel, stored: pd.DataFrame, context: ReviewContext) -> None:
        self.model = model
        self.stored = stored.set_index(c.REVIEW_ID, drop=False)
        self.context = context
        self.feature_names: list[str] = []
        self._lock = threading.Lock()
        self._prepare()

    def _prepare(self) -> None:
        """Built at load, not on the first request: the text views' array form, the MinHash permutations, the
        stored reviews' columns (half a second on the default world)."""
        self.model.prepare()
        self.context.prepare()
        self._stored_columns([])

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        state.pop("_stored_arrays", None)  # rebuilt from ``stored`` in each process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._prepare()

    def _stored_columns(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored rows of ``ids`` as columns by name: what :meth:`ReviewAuthenticityModel.decide_columns` reads.

        Why: slicing a frame with ``.loc`` and reading its columns back cost over a millisecond per request; each
        column is turned into an array once per process (numbers as float64, as the model reads them) and sliced.
        """
        cached = self.__dict__.get("_stored_arrays")
        if cached is None:
            arrays = {
                name: float_column(col) if is_numeric_dtype(col.dtype) and name not in CAMPAIGN_COLUMNS
                else col.to_numpy(dtype=object)
                for name, col in self.stored.items()
            }  # fmt: skip
            cached = self.__dict__["_stored_arrays"] = (arrays, {rid: r for r, rid in enumerate(self.stored.index)})
        arrays, row_of = cached
        rows = np.fromiter((row_of[i] for i in ids), dtype=np.intp, count=len(ids))
        return {name: values[rows] for name, values in arrays.items()}

    def _raw(self, reviews: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows of raw reviews (fields, features as of each one's own time), in arrival order; each then joins
        the context.

        A submitted review is an event the next one must see (the 10th copy of a text is a near-duplicate of 9),
        so the context keeps it; re-scoring the same review (same id and time) gives the same features.
        """
        rows = []
        with self._lock:
            for review in reviews:
                raw = {name: review.get(name) for name in RAW_COLUMNS}
                raw[c.REVIEW_TS] = pd.Timestamp(raw[c.REVIEW_TS])
                rows.append(self.context.submit(raw))
        return rows

    def decide(
        self,
        frame: pd.DataFrame,
        review_ids: list[str] | None = None,
        reviews: list[dict[str, Any]] | None = None,
        top_k: int = 4,
        campaigns: bool = True,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """Records for ``review_ids`` (stored), then ``reviews`` (raw), then the rows of ``frame`` (raw rows).

        Raw reviews are scored in the given order, each seeing the ones before it in the same call. Raw reviews
        alone (the submission-time call) are scored from their rows as columns, without a frame.
        """
        ids = [str(i) for i in (review_ids or [])]
        known = [i for i in ids if i in self.stored.index]
        given = [*(reviews or []), *(frame.to_dict("records") if len(frame) else [])]
        raw = self._raw(given) if given else []
        if known and not raw:
            records = self.model.decide_columns(self._stored_columns(known), len(known), params.get("rules"),
                                                campaigns, top_k)  # fmt: skip
        elif known:
            parts = [self.stored.loc[known].reset_index(drop=True), pd.DataFrame(raw)]
            records = self.model.decide(pd.concat(parts, ignore_index=True), top_k=top_k, campaigns=campaigns, **params)
        elif raw:
            columns = {name: [row.get(name) for row in raw] for name in raw[0]}
            records = self.model.decide_columns(columns, len(raw), params.get("rules"), campaigns, top_k)
        else:
            records = []
        out, it = [], iter(records)
        for rid in ids:
            out.append({c.REVIEW_ID: rid, "status": OK, **next(it)} if rid in self.stored.index
                       else {c.REVIEW_ID: rid, "status": UNKNOWN})  # fmt: skip
        out += [{"status": OK, **r} for r in it]
        return out


def decision_from_frames(
    model: ReviewAuthenticityModel,
    stored: pd.DataFrame,
    lake: dict[str, pd.DataFrame],
) -> ReviewDecision:
    """The served decision from a fitted model, the stored reviews' feature rows and the lake tables."""
    context = ReviewContext.from_frames(
        lake["reviews"], lake["users"], lake.get("orders"), lake.get("order_items"), keep_text_days=30
    )
    return ReviewDecision(model, stored, context)
