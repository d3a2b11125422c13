"""Review text features that SQL cannot express well: style statistics and near-duplicate counts.

Pure pandas/numpy/scikit-learn over one frame of reviews; :mod:`features.reviews` joins the result back into Ibis.
Every value depends only on the review itself and on earlier reviews (similarity is pairwise, hashing is seeded
and keyed on the text, never on a corpus vocabulary), so a review's values do not change as later reviews arrive.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

logger = logging.getLogger(__name__)

_NOT_WORD = re.compile(r"[\W_]+")
_PRIME = (1 << 31) - 1  # Mersenne prime: a * id (< 2**53) wraps around it, which is what permutes the ids
_N_FEATURES = 1 << 22  # hashed shingle space; collisions only ever add similarity


@dataclass(frozen=True)
class DuplicateConfig:
    """How "near-identical" is decided (defaults tuned for short Chinese reviews).

    Attributes:
        ngram: character n-gram size of the shingles.
        min_chars: texts shorter than this after normalisation ("好评", "不错") are never counted as duplicates:
            genuine buyers write them all the time.
        jaccard: minimum Jaccard similarity of the shingle sets.
        bands, rows: MinHash LSH banding; a pair at the threshold is a candidate with probability
            ``1 - (1 - jaccard**rows)**bands`` (0.988 at 0.7, 0.9997 at 0.8 with 16 x 4); candidates are then
            checked exactly, so there are no false positives.
        max_bucket: LSH buckets with more distinct texts than this are skipped (a common phrase, not a copy):
            the guard that keeps pathological corpora from producing quadratically many candidates.
        seed: seeds the hash functions, so results are reproducible.
        platform_defaults: texts the platform fills in when the buyer writes nothing (compared after
            normalisation); the reviewer did not write them, so they are never duplicates.
    """

    ngram: int = 3
    min_chars: int = 6
    jaccard: float = 0.7
    bands: int = 16
    rows: int = 4
    max_bucket: int = 1000
    seed: int = 20240618
    platform_defaults: tuple[str, ...] = ("此用户没有填写评价。", "系统默认好评", "该用户觉得商品较好，给出了5星好评")


_CLASSES = {"punct": 1, "exclaim": 2, "digit": 4, "latin": 8}  # bit per character class


@cache
def _class_table() -> np.ndarray:
    """Class bits per code point (punctuation, exclamation mark, digit, Latin letter); BMP only, the rest is 0."""
    table = np.zeros(0x110000, dtype=np.uint8)
    for code in range(0x10000):  # the BMP holds every CJK, Latin and punctuation mark reviews use
        ch = chr(code)
        cat = unicodedata.category(ch)
        bits = _CLASSES["punct"] if cat.startswith("P") else 0
        bits |= _CLASSES["digit"] if cat == "Nd" else 0
        if cat[0] == "L" and unicodedata.name(ch, "").startswith(("LATIN", "FULLWIDTH LATIN")):
            bits |= _CLASSES["latin"]
        table[code] = bits
    table[[ord("!"), ord("！")]] |= _CLASSES["exclaim"]
    return table


def _segment_sum(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Sums of ``values`` over consecutive segments delimited by ``bounds`` (empty segments give 0)."""
    csum = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    return csum[bounds[1:]] - csum[bounds[:-1]]


def _max_runs(points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Longest run of one repeated character per text (0 for an empty text)."""
    n = len(bounds) - 1
    out = np.zeros(n, dtype=np.int64)
    if len(points) == 0:
        return out
    starts = np.ones(len(points), dtype=bool)
    starts[1:] = points[1:] != points[:-1]
    starts[bounds[:-1][bounds[:-1] < len(points)]] = True  # a text boundary always starts a run
    run_id = np.cumsum(starts) - 1
    run_len = np.bincount(run_id)
    filled = bounds[1:] > bounds[:-1]
    out[filled] = np.maximum.reduceat(run_len, run_id[bounds[:-1][filled]])
    return out


def text_statistics(texts: pd.Series) -> pd.DataFrame:
    """Length and style statistics per text; shares are null for an empty or missing text.

    Fake templated reviews tend to be longer, heavier on exclamation marks and repeated characters (好好好!!!).
    Works on all texts' code points at once (one UTF-32 buffer), so 100k reviews take a fraction of a second.
    """
    return pd.DataFrame(text_statistics_arrays(texts.fillna("").astype(str).tolist()), index=texts.index)


def text_statistics_arrays(values: list[str]) -> dict[str, np.ndarray]:
    """:func:`text_statistics` of plain strings as arrays by name (a review being submitted needs no frame)."""
    length = np.fromiter((len(s) for s in values), dtype=np.int64, count=len(values))
    bounds = np.concatenate([[0], np.cumsum(length)])
    points = np.frombuffer("".join(values).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    bits = _class_table()[points]
    denom = np.where(length > 0, length, np.nan)
    out: dict[str, np.ndarray] = {"text_length": length}
    for name, bit in _CLASSES.items():
        out[f"{name}_share"] = _segment_sum((bits & bit) > 0, bounds) / denom
    out["max_char_run"] = _max_runs(points, bounds)
    return out


def _normalise(text: object) -> str:
    """NFKC, lower case, and only letters and digits: templates vary spacing and punctuation, not words."""
    if not isinstance(text, str):
        return ""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


def _shingles(texts: list[str], ngram: int) -> sp.csr_matrix:
    """Binary hashed character n-gram sets, one row per text (hashing is per shingle, not per corpus)."""
    vec = HashingVectorizer(
        analyzer="char",
        ngram_range=(ngram, ngram),
        n_features=_N_FEATURES,
        alternate_sign=False,
        norm=None,
        binary=True,
        lowercase=False,
        dtype=np.float32,
    )
    matrix = vec.transform(texts).tocsr()
    matrix.sum_duplicates()
    return matrix


def _minhash(matrix: sp.csr_matrix, n_hashes: int, seed: int) -> np.ndarray:
    """MinHash signatures (rows x n_hashes) with hashes ``(a*x + b) mod p`` over the shingle ids."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _PRIME, size=n_hashes, dtype=np.int64)
    b = rng.integers(0, _PRIME, size=n_hashes, dtype=np.int64)
    ids = matrix.indices.astype(np.int64)
    starts = matrix.indptr[:-1]
    sig = np.empty((matrix.shape[0], n_hashes), dtype=np.int64)
    for k in range(n_hashes):
        sig[:, k] = np.minimum.reduceat((a[k] * ids + b[k]) % _PRIME, starts)
    return sig


def _pairs_within_groups(keys: np.ndarray, max_group: int) -> np.ndarray:
    """All pairs (i < j) of positions that share a key, skipping groups larger than ``max_group``."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    new_group = np.ones(len(keys), dtype=bool)
    new_group[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(keys)), 0))
    sizes = np.bincount(np.cumsum(new_group) - 1)
    if (sizes > max_group).any():
        logger.info("near-duplicates: skipped %d LSH bucket(s) above %d texts", (sizes > max_group).sum(), max_group)
    size = np.repeat(sizes, sizes)
    partners = np.where(size <= max_group, size - (np.arange(len(keys)) - group_start) - 1, 0)
    first = np.repeat(np.arange(len(keys)), partners)
    second = first + 1 + np.arange(len(first)) - np.repeat(np.cumsum(partners) - partners, partners)
    i, j = order[first], order[second]
    return np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1)


def _jaccard(matrix: sp.csr_matrix, pairs: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Exact Jaccard similarity of the binary rows of each pair, in chunks to bound memory."""
    sizes = np.diff(matrix.indptr)
    out = np.empty(len(pairs), dtype=np.float64)
    for lo in range(0, len(pairs), chunk):
        i, j = pairs[lo : lo + chunk, 0], pairs[lo : lo + chunk, 1]
        inter = np.asarray(matrix[i].multiply(matrix[j]).sum(axis=1)).ravel()
        out[lo : lo + chunk] = inter / (sizes[i] + sizes[j] - inter)
    return out


def _similar_pairs(matrix: sp.csr_matrix, config: DuplicateConfig) -> np.ndarray:
    """Pairs (i < j) of distinct texts that agree on one LSH band and whose exact Jaccard reaches the threshold.

    Candidates are verified band by band, so memory stays bounded by one band's candidates; a bucket larger
    than ``max_bucket`` says more about a common phrase than about copying and is skipped (logged).
    """
    n = np.int64(matrix.shape[0])
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    rows = config.rows
    sig = _minhash(matrix, config.bands * rows, config.seed).astype(np.uint64)
    multipliers = np.random.default_rng(config.seed + 1).integers(1, 1 << 62, rows, dtype=np.uint64) | np.uint64(1)
    found = [np.empty(0, dtype=np.int64)]
    for band in range(config.bands):
        key = (sig[:, band * rows : (band + 1) * rows] * multipliers).sum(axis=1)  # a hash of the band, mod 2**64
        pairs = _pairs_within_groups(key, config.max_bucket)
        keep = pairs[_jaccard(matrix, pairs) >= config.jaccard]
        found.append(keep[:, 0] * n + keep[:, 1])
    flat = np.unique(np.concatenate(found))
    return np.stack([flat // n, flat % n], axis=1)


def near_duplicate_counts(
    texts: pd.Series,
    seconds: np.ndarray,
    window_seconds: int,
    config: DuplicateConfig | None = None,
) -> np.ndarray:
    """Per review: earlier reviews (``s - window <= s' < s``, whole seconds) with near-identical text.

    Identical texts are collapsed first, so only distinct texts go through MinHash LSH; a review then counts the
    earlier reviews of its own text and of every text similar to it.
    """
    config = config or DuplicateConfig()
    norm = [_normalise(t) for t in texts]
    defaults = {_normalise(t) for t in config.platform_defaults}
    eligible = np.fromiter((len(s) >= config.min_chars and s not in defaults for s in norm), bool, len(norm))
    counts = np.zeros(len(norm), dtype=np.int64)
    if eligible.sum() < 2:
        return counts
    codes, uniques = pd.factorize(pd.Series(norm)[eligible], sort=True)
    pairs = _similar_pairs(_shingles(list(uniques), config.ngram), config)
    counts[eligible] = _count_in_window(codes, np.asarray(seconds)[eligible], pairs, len(uniques), window_seconds)
    return counts


def _count_in_window(
    codes: np.ndarray, seconds: np.ndarray, pairs: np.ndarray, n_texts: int, window: int
) -> np.ndarray:
    """For review i: reviews of texts in {code_i} ∪ neighbours(code_i) in ``[s_i - window, s_i)``, by binary search.

    Reviews are sorted on one int64 key ``text << 32 | relative second``; each (review, neighbour text) query is
    then two searchsorted calls.
    """
    rel = (seconds - seconds.min()).astype(np.int64)
    keys = np.sort((codes.astype(np.int64) << 32) | rel)
    src = np.concatenate([np.arange(n_texts), pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([np.arange(n_texts), pairs[:, 1], pairs[:, 0]])
    adjacency = sp.csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_texts, n_texts))
    degree = np.diff(adjacency.indptr)[codes]
    review = np.repeat(np.arange(len(codes)), degree)
    offsets = np.arange(len(review)) - np.repeat(np.cumsum(degree) - degree, degree)
    neighbour = adjacency.indices[adjacency.indptr[codes][review] + offsets].astype(np.int64)
    hi = (neighbour << 32) | rel[review]
    lo = (neighbour << 32) | np.maximum(rel[review] - window, 0)
    found = np.searchsorted(keys, hi, side="left") - np.searchsorted(keys, lo, side="left")
    return np.bincount(review, weights=found, minlength=len(codes)).astype(np.int64)


def normalise_text(text: object) -> str:
    """The normalisation near-duplicate detection compares (public for the online index of recent reviews)."""
    return _normalise(text)


def similar_text_pairs(texts: list[str], config: DuplicateConfig | None = None) -> np.ndarray:
    """Pairs (i < j) of positions whose texts are near-identical (same rule as :func:`near_duplicate_counts`).

    Texts too short or platform defaults never pair. Used to group fake reviews into campaigns.
    """
    config = config or DuplicateConfig()
    norm = [_normalise(t) for t in texts]
    defaults = {_normalise(t) for t in config.platform_defaults}
    eligible = np.flatnonzero([len(s) >= config.min_chars and s not in defaults for s in norm])
    if len(eligible) < 2:
        return np.empty((0, 2), dtype=np.int64)
    codes, uniques = pd.factorize(pd.Series([norm[i] for i in eligible]), sort=True)
    text_pairs = _similar_pairs(_shingles(list(uniques), config.ngram), config)
    same = pd.DataFrame({"pos": eligible, "code": codes})
    by_code = same.groupby("code")["pos"].apply(list)
    pairs = [(a, b) for group in by_code if len(group) > 1 for i, a in enumerate(group) for b in group[i + 1 :]]
    for u, v in text_pairs:
        pairs += [(a, b) for a in by_code[u] for b in by_code[v]]
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    arr = np.array(pairs, dtype=np.int64)
    return np.unique(np.sort(arr, axis=1), axis=0)
