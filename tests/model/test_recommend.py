"""Recommender behaviour on the tiny world: stock, filters, category focus, determinism, similar items, cold start,
no leakage, and a shop that has only users, products, orders and order lines."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from features import columns as c
from features.settings import DatasetPaths
from models import candidates as cg
from models import reco_features, reco_inputs, recommend
from models.reco_features import DERIVED, ITEM, ROW, candidates, features
from models.reco_inputs import build_matrices
from models.reco_ranker import LambdaRanker
from models.reco_rules import STOCK_SERVICE
from models.recommend import Filters, Recommender, RuleConfig, fit_recommender
from models.recommend_names import MINIMAL_TABLES
from tests.worlds import known_at
from training.reco_data import LakeReader

pytestmark = pytest.mark.model

STEP = pd.Timedelta(days=30)
GRID = {
    "popularity": [{"window_days": 28.0}],
    "repeat": [{"half_life_days": 60.0}],
    "knn_purchase": [{"shrink": 10.0, "neighbours": 50, "min_buyers": 3}],
    "knn_view": [{"shrink": 10.0, "neighbours": 50, "min_buyers": 3}],
    "knn_recent": [{"half_life_days": 30.0, "neighbours": 50, "min_buyers": 3}],
    "ease": [{"l2": 100.0, "min_buyers": 3}, {"l2": 500.0, "min_buyers": 3}],
    "als": [{"factors": 16, "iterations": 5, "min_buyers": 3}],
}


def _parts(reader: LakeReader):
    test = reader.data_end() - STEP
    out = []
    for t in (test - 2 * STEP, test - STEP):
        inputs = reader.inputs(t)
        out.append((inputs, build_matrices(inputs), reader.bought_between(t, t + STEP)))
    return out[0], out[1], reader.inputs(test)


def _small_ranker() -> LambdaRanker:
    """Few rounds and users: the tests check behaviour, the benchmark checks quality."""
    return LambdaRanker(learning_rate=0.1, min_child_samples=50, max_rounds=60, max_users=600, random_state=3)


@pytest.fixture(scope="module")
def fitted(tiny_world: DatasetPaths):
    reader = LakeReader(tiny_world)
    train, valid, serve = _parts(reader)
    return fit_recommender(train, valid, serve, GRID, seed=3, ranker=_small_ranker()), serve


def _heavy_users(model: Recommender, n: int = 20) -> list[str]:
    counts = pd.Series((model.m.weight > 0).sum(axis=1).A1, index=model.m.user_ids)
    return list(counts.sort_values(ascending=False, kind="stable").index[:n])


def _skus(answer: dict) -> list[str]:
    return [item[c.SKU_ID] for item in answer["items"]]


def test_every_item_has_a_source_and_a_reason_in_both_languages(fitted) -> None:
    model, _ = fitted
    answers = model.recommend_users(_heavy_users(model, 5), k=10)
    items = [item for a in answers for item in a["items"]]
    assert len(items) == 50
    assert all(item["reason_zh"] and item["reason_en"] and item["source"] for item in items)
    assert {"filters", "in_stock", "just_bought_durable", "diversity_deferred", "slot"} <= set(answers[0]["rules"])


def test_out_of_stock_skus_are_never_returned(fitted) -> None:
    model, _ = fitted
    users = _heavy_users(model)
    first = model.recommend_users(users, k=10)
    gone = {sku: 0.0 for a in first for sku in _skus(a)[:5]}
    again = model.recommend_users(users, k=10, stock=gone)
    assert all(not set(_skus(a)) & set(gone) for a in again)
    assert sum(a["rules"]["in_stock"] for a in again) >= len(gone)
    empty_in_snapshot = {s for s, units in model.snapshot_.items() if units <= 0}
    assert all(not set(_skus(a)) & empty_in_snapshot for a in first)


def test_the_in_stock_rule_reads_current_on_hand_from_the_online_store(fitted) -> None:
    model, _ = fitted
    users = _heavy_users(model, 6)
    first = model.decide(pd.DataFrame(), mode="user", user_ids=users, k=10)
    best_sellers = _skus(model.decide(pd.DataFrame(), mode="popular", k=10)[0])
    gone = {sku for a in first for sku in _skus(a)[:3]} | set(best_sellers[:3])
    calls: list[tuple[str, list[str]]] = []

    def online(service: str, skus: list[str], columns: list[str] | None = None) -> pd.DataFrame:
        """The online store: the snapshot's stock, except the ``gone`` SKUs sold out since the cutoff."""
        calls.append((service, list(skus)))
        units = [0.0 if s in gone else model.snapshot_.get(s, float("nan")) for s in skus]
        return pd.DataFrame({c.SKU_ID: skus, c.ON_HAND: units, "known": [s in model.snapshot_ for s in skus]})

    now = model.decide(pd.DataFrame(), mode="user", user_ids=users, k=10, lookup=online)
    assert [service for service, _ in calls] == [STOCK_SERVICE]  # one read for every user's candidates
    assert all(len(a["items"]) == 10 and not set(_skus(a)) & gone for a in now)
    assert sum(a["rules"]["in_stock"] for a in now) >= len(gone)
    restocked = [{c.SKU_ID: s, "on_hand": 2} for s in gone]  # the caller's override beats the online store
    assert model.decide(pd.DataFrame(), mode="user", user_ids=users, k=10, lookup=online, stock=restocked) == first

    def down(service: str, skus: list[str], columns: list[str] | None = None) -> pd.DataFrame:
        raise ConnectionError("online store unavailable")

    assert model.decide(pd.DataFrame(), mode="user", user_ids=users, k=10, lookup=down) == first
    popular = model.decide(pd.DataFrame(), mode="popular", k=10, lookup=online)[0]
    assert len(popular["items"]) == 10 and not set(_skus(popular)) & gone and popular["rules"]["in_stock"] >= 3


def test_caller_filters_are_always_respected(fitted) -> None:
    model, _ = fitted
    users = _heavy_users(model)
    exclude = frozenset(_skus(model.recommend_users(users[:1], k=10)[0])[:3])
    filters = Filters(categories=("美妆", "家居"), min_price=20.0, max_price=400.0, exclude=exclude)
    answers = [*model.recommend_users(users, k=10, filters=filters), model.popular_list(10, filters)]
    items = [item for a in answers for item in a["items"]]
    assert items
    assert all(i[c.CATEGORY] in ("美妆", "家居") and 20.0 <= i["price"] <= 400.0 for i in items)
    assert not {i[c.SKU_ID] for i in items} & exclude


def test_diversity_caps_each_category_in_the_top_ten(fitted) -> None:
    model, _ = fitted
    for answer in model.recommend_users(_heavy_users(model), k=10):
        counts = pd.Series([i[c.CATEGORY] for i in answer["items"]]).value_counts()
        assert counts.max() <= model.rules.max_per_category or len(counts) * model.rules.max_per_category < 10


def test_a_shopper_who_bought_only_baby_products_gets_mostly_baby_products(fitted) -> None:
    model, serve = fitted
    baby = serve.products.loc[serve.products[c.CATEGORY] == "母婴", c.SKU_ID].head(6).tolist()
    when = serve.cutoff - pd.to_timedelta([3, 9, 15, 20, 25, 28], unit="D")
    log = pd.DataFrame({c.USER_ID: "mum", c.SKU_ID: baby, c.ORDER_TS: when, c.QUANTITY: 1, c.UNIT_PRICE: 50.0})
    inter = pd.DataFrame({c.USER_ID: "mum", c.SKU_ID: baby, "weight": 4.0, "purchases": 1, "views": 2,
                          "carts": 0, "favourites": 0, "days_since_last": 3.0})  # fmt: skip
    inputs = serve.__class__(**{**serve.__dict__})
    inputs.purchases = pd.concat([serve.purchases, log], ignore_index=True)
    inputs.interactions = pd.concat([serve.interactions, inter[serve.interactions.columns]], ignore_index=True)
    one = Recommender.build(inputs, model.params, model.ranker, rules=RuleConfig(max_per_category=10))
    items = one.recommend_users(["mum"], k=10)[0]["items"]
    assert sum(i[c.CATEGORY] == "母婴" for i in items) >= 6


def test_a_shopper_who_only_viewed_gets_a_personal_list(fitted) -> None:
    """No purchase yet: the repeat generator has nothing for them, the co-view and content paths still answer."""
    model, serve = fitted
    viewed = serve.products[c.SKU_ID].head(3).tolist()
    inter = pd.DataFrame({c.USER_ID: "browser", c.SKU_ID: viewed, "weight": 1.0, "purchases": 0, "views": 3,
                          "carts": 0, "favourites": 0, "days_since_last": 2.0})  # fmt: skip
    inputs = serve.__class__(**{**serve.__dict__})
    inputs.interactions = pd.concat([serve.interactions, inter[serve.interactions.columns]], ignore_index=True)
    answer = Recommender.build(inputs, model.params, model.ranker).recommend_users(["browser"], k=10)[0]
    assert not answer["cold_start"] and len(answer["items"]) == 10


def test_the_same_request_twice_gives_the_same_list(fitted) -> None:
    model, _ = fitted
    users = [*_heavy_users(model, 8), "nobody-knows-me"]
    assert model.recommend_users(users, k=10, promo_slot=True) == model.recommend_users(users, k=10, promo_slot=True)


def test_similar_items_of_a_phone_are_digital_and_a_new_phone_without_sales_appears(fitted) -> None:
    model, serve = fitted
    phones = serve.products[serve.products[c.PRODUCT_NAME].str.contains("手机", na=False)]
    phone = phones.iloc[0]
    clone = phones.iloc[:1].assign(**{c.SKU_ID: "NEW-PHONE"})
    inputs = serve.__class__(**{**serve.__dict__})
    inputs.products = pd.concat([serve.products, clone], ignore_index=True)
    rebuilt = Recommender.build(inputs, model.params, model.ranker)
    answer = rebuilt.similar(phone[c.SKU_ID], k=10)
    cats = [i[c.CATEGORY] for i in answer["items"]]
    assert answer["known"] and cats.count("数码") >= 6
    assert "NEW-PHONE" in _skus(answer)
    assert rebuilt.similar("NEW-PHONE", k=5)["items"]
    assert not model.similar("no-such-sku")["known"]


def test_an_unknown_user_gets_a_flagged_popular_list_for_the_context(fitted) -> None:
    model, serve = fitted
    channel = serve.users[c.CHANNEL].dropna().iloc[0]
    answer = model.decide(pd.DataFrame({c.USER_ID: ["new-shopper"]}), mode="user", channel=channel)[0]
    assert answer["cold_start"] and answer["context"] == f"channel={channel}"
    assert len(answer["items"]) == 10 and all(i["source"] == "popularity" for i in answer["items"])
    by_cat = model.decide(pd.DataFrame(), mode="popular", k=5, category="美妆")[0]
    assert [i[c.CATEGORY] for i in by_cat["items"]] == ["美妆"] * 5


def test_nothing_at_or_after_the_cutoff_reaches_the_model(fitted, tiny_world: DatasetPaths, tmp_path: Path) -> None:
    model, serve = fitted
    assert serve.purchases[c.ORDER_TS].max() < serve.cutoff
    past = LakeReader(known_at(tiny_world, serve.cutoff, tmp_path)).inputs(serve.cutoff)
    users = _heavy_users(model, 10)
    same = Recommender.build(past, model.params, model.ranker, seed=3)
    assert same.recommend_users(users, k=10) == model.recommend_users(users, k=10)


def test_a_shop_with_only_users_products_orders_and_order_lines(tiny_world: DatasetPaths, tmp_path: Path) -> None:
    minimal = DatasetPaths("minimal", tmp_path / "minimal")
    minimal.lake.mkdir(parents=True)
    for name in MINIMAL_TABLES:
        shutil.copy(tiny_world.lake / f"{name}.parquet", minimal.lake)
    train, valid, serve = _parts(LakeReader(minimal))
    grid = {k: v[:1] for k, v in GRID.items()}
    model = fit_recommender(train, valid, serve, grid, seed=3, ranker=_small_ranker())
    assert "knn_view" not in model.retrieval.generators and serve.stock is None
    answer = model.recommend_users(_heavy_users(model, 1), k=10)[0]
    assert len(answer["items"]) == 10 and all("stock_unknown" in i["badges"] for i in answer["items"])


def _requests(model: Recommender, n: int) -> tuple[list[str], list[dict]]:
    """``n`` users (and one unknown) and parameter sets that exercise every rule."""
    users = list(model.m.user_ids[np.random.default_rng(0).choice(model.m.shape[0], n, replace=False)])
    cats = sorted(set(model.m.category))[:2]
    skus = list(model.skus_[:30])
    price = float(np.median(model.m.price))
    params = [
        {},
        {"promo_slot": True, "filters": {"categories": cats}},
        {"filters": {"min_price": price / 2, "max_price": price * 2, "exclude": skus[:10]}},
        {"stock": [{"sku_id": s, "on_hand": 0.0} for s in skus]},
    ]
    return [*users, "nobody-knows-me"], params


def _answers(model: Recommender, users: list[str], params: list[dict], singles: int) -> list:
    out = []
    for p in params:
        out.append([model.decide(pd.DataFrame(), "user", 10, user_ids=[u], **p) for u in users[:singles]])
        out.append(model.decide(pd.DataFrame(), "user", 10, user_ids=users, **p))
    return [*out, model.rank_positions(np.arange(200), 20), model.rank_positions(np.arange(200), 20, True)]


def test_the_array_serving_path_answers_exactly_as_scipy_indexing(fitted, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows, pairs, user positions and every product through scipy, the load-time arrays derived through scipy, and
    one generator at a time (as before the array shortcuts and the stacked top-n): the same items, order, scores,
    sources and reasons for 200 users, one at a time and in one batch."""
    model, _ = fitted
    users, params = _requests(model, 200)
    fast = _answers(model, users, params, singles=60)

    def rows(matrix, at):
        sub = matrix[np.asarray(at, dtype=int)]
        return cg.CsrRows(sub.indptr, sub.indices, sub.data)

    def pairs(matrix, r, cols, groups=None):
        return np.asarray(matrix[r, cols]).ravel() if len(r) else np.zeros(0, matrix.dtype)

    def product(rows, dense):
        return sp.csr_matrix((rows.data, rows.indices, rows.indptr), (len(rows.indptr) - 1, len(dense))) @ dense

    monkeypatch.setattr(cg, "row_entries", rows)
    monkeypatch.setattr(cg, "rows_times_dense", product)
    monkeypatch.setattr(reco_features, "pair_values", pairs)
    monkeypatch.setattr(recommend, "pair_values", pairs)
    monkeypatch.setattr(reco_features, "_restricted_rows", lambda m, r, col, w: m[r][:, np.flatnonzero(col >= 0)])
    monkeypatch.setattr(reco_inputs, "FEW_IDS", 0)
    slow = pickle.loads(pickle.dumps(model))  # derives the load-time arrays again, through the patches
    slow.retrieval.shared_universe_ = {name: name for name in slow.retrieval.shared_universe_}
    for gen in slow.retrieval.generators.values():
        if isinstance(gen, cg.ItemKNN):
            gen.dense_ = None
    assert len(set(model.retrieval.shared_universe_.values())) < len(model.retrieval.shared_universe_)  # stacked
    assert _answers(slow, users, params, singles=60) == fast


def test_serving_ranks_candidates_as_the_scored_frame_sorts_them(fitted) -> None:
    model, _ = fitted
    users = np.arange(0, model.m.shape[0], 7)
    frame = features(model.retrieval, candidates(model.retrieval, users))
    frame["_score"] = model.ranker.predict(frame)
    frame = frame.sort_values([ROW, "_score", ITEM], ascending=[True, False, True], kind="stable")
    rows, items, scores, _ = model._ranked(users)
    assert np.array_equal(rows, frame[ROW]) and np.array_equal(items, frame[ITEM])
    assert np.array_equal(scores, frame["_score"])
    assert model.scored(users)[[ROW, ITEM, "_score"]].equals(frame[[ROW, ITEM, "_score"]])


def test_a_pickled_model_leaves_out_derived_arrays_and_answers_the_same(fitted) -> None:
    model, _ = fitted
    users, params = _requests(model, 30)
    state = model.retrieval.__getstate__()
    assert not set(DERIVED) & set(state) and set(DERIVED) <= set(model.retrieval.__dict__)
    loaded = pickle.loads(pickle.dumps(model))
    assert _answers(loaded, users, params, singles=10) == _answers(model, users, params, singles=10)


def test_a_one_user_request_ranks_exactly_as_that_user_in_a_batch(fitted) -> None:
    """Serving ranks one user per request (a plain max for the relative scores, universe positions resolved at
    load); the batch path (evaluation, coalesced requests) must give each user the same items, scores, sources."""
    model, _ = fitted
    users = np.arange(0, model.m.shape[0], max(model.m.shape[0] // 40, 1))
    rows, items, scores, sources = model._ranked(users)
    for r, user in enumerate(users):
        _, one_items, one_scores, one_sources = model._ranked(np.array([user]))
        at = rows == r
        assert np.array_equal(one_items, items[at]) and np.array_equal(one_scores, scores[at])
        assert one_sources.tolist() == sources[at].tolist()


def test_the_compiled_ranker_scores_as_the_booster_and_is_not_pickled(fitted, tmp_path: Path) -> None:
    """Serving compiles the ranker's trees (lleaves): every candidate's score within 1e-12 of LightGBM's, the same
    lists and reasons, the object code cached on disk and never inside the pickled model."""
    model, _ = fitted
    users, params = _requests(model, 40)
    plain = pickle.loads(pickle.dumps(model))
    rows = reco_features.feature_columns(
        model.retrieval, reco_features.candidate_columns(model.retrieval, np.arange(300))
    )
    booster_scores = plain.ranker.predict(rows)
    compiled = pickle.loads(pickle.dumps(model))
    compiled.prepare_serving(tmp_path)
    assert compiled.ranker.forest_ is not None and list(tmp_path.glob("forest-*.o"))
    assert np.abs(compiled.ranker.predict(rows) - booster_scores).max() < 1e-12
    assert _answers(compiled, users, params, singles=10) == _answers(plain, users, params, singles=10)
    assert pickle.loads(pickle.dumps(compiled)).ranker.forest_ is None
    again = pickle.loads(pickle.dumps(model)).ranker.compile(tmp_path)  # from the cache: same scores
    assert np.array_equal(again.predict(rows), compiled.ranker.predict(rows))


def test_the_due_feature_is_days_since_the_last_purchase_over_the_pairs_own_gap(fitted) -> None:
    """``pair_due_ratio`` (1 = due now) against a pandas reading of the purchase log; pairs bought on one day have
    none, and the ranker sees it as a feature."""
    model, _ = fitted
    m = model.m
    log = pd.DataFrame({"u": m.log_user, "i": m.log_item, "day": np.floor(m.log_age), "age": m.log_age})
    pairs = log.groupby(["u", "i"]).agg(days=("day", "nunique"), first=("age", "max"), last=("age", "min"))
    due = model.retrieval.pair_due.tocsr()
    repeat = pairs[pairs["days"] >= 2]
    assert len(repeat) >= 20
    for (u, i), row in repeat.head(200).iterrows():
        gap = (row["first"] - row["last"]) / (row["days"] - 1)
        assert due[u, i] - 1.0 == pytest.approx(row["last"] / max(gap, 1.0))
    assert all(due[u, i] == 0 for u, i in pairs[pairs["days"] == 1].head(200).index)
    assert "pair_due_ratio" in model.ranker.feature_names_


@pytest.mark.parametrize("dense_dtype", [np.float32, np.float64])
def test_rows_times_dense_is_scipys_product_to_the_bit(dense_dtype: type) -> None:
    """The generators' products call scipy's kernel directly: the same bits and dtype as ``csr @ dense``, for one row,
    several (one empty) and none, from a matrix's rows or from column positions remapped as int64."""
    rng = np.random.default_rng(0)
    matrix = sp.random(30, 40, density=0.3, format="csr", dtype=np.float32, random_state=1)
    matrix.data += 0.25
    dense = rng.normal(size=(40, 25)).astype(dense_dtype)
    for rows in ([4], [0, 7, 7, 29], [], list(range(30))):
        at = np.array(rows, dtype=int)
        ours = cg.rows_times_dense(cg.row_entries(matrix, at), dense)
        theirs = matrix[at] @ dense
        assert ours.dtype == theirs.dtype and ours.tobytes() == np.ascontiguousarray(theirs).tobytes()
    wide = cg.row_entries(matrix, np.array([3, 5]))
    remapped = cg.CsrRows(wide.indptr, wide.indices.astype("int64"), wide.data)
    assert cg.rows_times_dense(remapped, dense).tobytes() == (matrix[[3, 5]] @ dense).tobytes()
