"""Top-k metrics against scikit-learn and hand-computed values; business rules on hand-made ranked lists."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from models import metrics
from models.reco_rules import Candidate, Filters, RuleConfig, apply_rules

pytestmark = pytest.mark.unit

TRUTH = [{"a", "c"}, {"x"}, {"b", "d", "e"}]
RECS = [["a", "b", "c", "d"], ["y", "z", "w", "v"], ["e", "q", "b", "r"]]  # full lists: no ties within k


def test_ndcg_agrees_with_scikit_learn() -> None:
    items = sorted({i for r in RECS for i in r} | {i for t in TRUTH for i in t})
    for k in (1, 2, 3, 4):
        ours = []
        for relevant, ranked in zip(TRUTH, RECS, strict=True):
            y_true = np.array([[float(i in relevant) for i in items]])
            y_score = np.array([[len(ranked) - ranked.index(i) if i in ranked else 0.0 for i in items]])
            ours.append(ndcg_score(y_true, y_score, k=k))
        assert metrics.ndcg_at_k(TRUTH, RECS, k) == pytest.approx(np.mean(ours))


def test_recall_map_hit_rate_coverage_novelty_by_hand() -> None:
    assert metrics.recall_at_k(TRUTH, RECS, 2) == pytest.approx((1 / 2 + 0 + 1 / 3) / 3)
    # AP@4: user 1 hits at 1 and 3 -> (1 + 2/3) / 2; user 3 hits at 1 and 3 -> (1 + 2/3) / 3
    assert metrics.map_at_k(TRUTH, RECS, 4) == pytest.approx(((1 + 2 / 3) / 2 + 0 + (1 + 2 / 3) / 3) / 3)
    assert metrics.hit_rate_at_k(TRUTH, RECS, 1) == pytest.approx(2 / 3)
    assert metrics.catalogue_coverage(RECS, 20, k=2) == pytest.approx(6 / 20)
    assert metrics.novelty_at_k([["a", "b"]], {"a": 0.5, "b": 0.25}, k=2) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="relevant"):
        metrics.ndcg_at_k([set()], [["a"]])


def _cand(i: int, category: str, price: float = 10.0) -> Candidate:
    return Candidate(i, f"s{i}", 1.0 - i / 100, category, price, "ease")


def test_rules_filter_stock_durables_diversity_and_slot_in_that_order() -> None:
    ranked = [_cand(i, "A" if i < 8 else "B", price=5.0 if i == 1 else 10.0) for i in range(12)]
    slot = Candidate(99, "s99", 0.0, "B", 10.0, "promotion")
    top, applied = apply_rules(
        ranked, 10, Filters(min_price=6.0, exclude=frozenset({"s2"})), {"s3": False, "s99": True, "s0": True},
        {"s4"}, slot, RuleConfig(max_per_category=3, slot_position=2),
    )  # fmt: skip
    skus = [x.sku for x in top]
    assert applied["filters"] == 2 and applied["in_stock"] == 1 and applied["just_bought_durable"] == 1
    assert not {"s1", "s2", "s3", "s4"} & set(skus) and skus[1] == "s99" and applied["slot"] == "s99"
    assert [x.category for x in top[:7]].count("A") <= 3 + 1  # at most 3 A before the B items, then deferred As
    assert "stock_unknown" in top[2].badges and "stock_unknown" not in top[0].badges


def test_a_reason_never_names_a_category_the_shop_did_not_give() -> None:
    from models.reco_rules import reason

    assert reason("popularity", category="美妆") == ("美妆 本周热销", "Top seller in 美妆 this week")
    assert reason("popularity", category="unknown") == ("本周热销", "Top seller this week")
    assert reason("new", category=None) == ("新品上架", "New arrival")


def test_live_stock_asks_for_on_hand_alone() -> None:
    """The in-stock rule needs one column of the 15-column SKU view: the lookup is asked for on-hand only."""
    import pandas as pd

    from features import columns as c
    from models.reco_rules import KNOWN, STOCK_SERVICE, LiveStock

    store = pd.DataFrame({c.SKU_ID: ["s1", "s2", "s3"], c.ON_HAND: [0.0, 4.0, None], "price": [1.0, 2.0, 3.0],
                          KNOWN: [True, True, False]})  # fmt: skip
    asked: list[tuple] = []

    def lookup(service: str, ids: list[str], columns: list[str] | None = None) -> pd.DataFrame:
        asked.append((service, tuple(ids), tuple(columns) if columns else None))
        frame = store.set_index(c.SKU_ID).loc[ids].reset_index()
        return frame[[c.SKU_ID, *(columns or [c.ON_HAND, "price"]), KNOWN]]

    assert LiveStock({"s2": 7.0}, lookup).current(["s1", "s2", "s3"]) == {"s1": 0.0, "s2": 7.0}  # s3 unknown online
    assert asked == [(STOCK_SERVICE, ("s1", "s3"), (c.ON_HAND,))]
