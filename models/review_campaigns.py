"""Campaigns: suspicious reviews grouped into rings a moderator can act on at once.

Two suspicious reviews are linked when they are close in time (``window_hours``), are about the same SKU (by
default: a campaign targets one product) and share something a ring leaves behind: the burst itself, a device, or
near-identical text (the same rule as the near-duplicate
feature, :func:`features.review_text.similar_text_pairs`). Campaigns are the connected components of these links
(scipy's connected components; the pair rules are what no library knows), kept when they hold at least
``min_size`` reviews.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from features import columns as c
from features.review_text import similar_text_pairs

CAMPAIGN_ID = "campaign_id"
CAMPAIGN_SIZE = "campaign_size"


@dataclass(frozen=True)
class CampaignConfig:
    """Which links count and how close in time they must be."""

    window_hours: float = 48.0
    require_same_sku: bool = True
    same_sku: bool = True
    shared_device: bool = True
    near_duplicate: bool = True
    min_size: int = 3


def _within(times: np.ndarray, pairs: np.ndarray, window: float) -> np.ndarray:
    if len(pairs) == 0:
        return pairs
    return pairs[np.abs(times[pairs[:, 0]] - times[pairs[:, 1]]) <= window]


def _key_pairs(keys: pd.Series, times: np.ndarray, window: float) -> np.ndarray:
    """Consecutive-in-time pairs among rows sharing a key (a chain is enough for connected components)."""
    frame = pd.DataFrame({"k": keys.to_numpy(), "t": times, "i": np.arange(len(keys))}).dropna(subset=["k"])
    frame = frame.sort_values(["k", "t"], kind="stable")
    same = frame["k"].to_numpy()[1:] == frame["k"].to_numpy()[:-1]
    close = np.diff(frame["t"].to_numpy()) <= window
    idx = frame["i"].to_numpy()
    keep = same & close
    return np.column_stack([idx[:-1][keep], idx[1:][keep]])


def group_campaigns(frame: pd.DataFrame, config: CampaignConfig | None = None) -> pd.DataFrame:
    """Campaign id and size per row of ``frame`` (suspicious reviews); rows in no campaign get None and 0.

    ``frame`` needs review_id, sku_id, review_ts and, when present, device_id, text. Ids are stable for the
    same input: ``CMP-`` + the earliest review id of the campaign.
    """
    config = config or CampaignConfig()
    n = len(frame)
    out = pd.DataFrame({c.REVIEW_ID: frame[c.REVIEW_ID].to_numpy(), CAMPAIGN_ID: None, CAMPAIGN_SIZE: 0})
    if n == 0:
        return out
    times = frame[c.REVIEW_TS].to_numpy("datetime64[s]").astype(np.int64).astype(np.float64)
    window = config.window_hours * 3600.0
    parts = [np.empty((0, 2), dtype=np.int64)]
    if config.same_sku:
        parts.append(_key_pairs(frame[c.SKU_ID].reset_index(drop=True), times, window))
    if config.shared_device and c.DEVICE_ID in frame:
        parts.append(_key_pairs(frame[c.DEVICE_ID].reset_index(drop=True), times, window))
    if config.near_duplicate and c.REVIEW_TEXT in frame:
        parts.append(_within(times, similar_text_pairs(frame[c.REVIEW_TEXT].tolist()), window))
    pairs = np.concatenate(parts).astype(np.int64)
    if config.require_same_sku:  # a campaign targets one SKU; rings that reuse devices and scripts span several
        sku = frame[c.SKU_ID].to_numpy(dtype=object)
        pairs = pairs[sku[pairs[:, 0]] == sku[pairs[:, 1]]]
    graph = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    size = sizes[component]
    order = np.lexsort((frame[c.REVIEW_ID].to_numpy().astype(str), times))
    first = {}
    for i in order:
        first.setdefault(component[i], str(frame[c.REVIEW_ID].iloc[i]))
    member = size >= config.min_size
    out[CAMPAIGN_ID] = [f"CMP-{first[k]}" if m else None for k, m in zip(component, member, strict=True)]
    out[CAMPAIGN_SIZE] = np.where(member, size, 0)
    return out


def summarise_campaigns(frame: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign: size, SKUs targeted, accounts involved, devices, first and last review, span."""
    joined = frame.reset_index(drop=True).assign(**{CAMPAIGN_ID: campaigns[CAMPAIGN_ID].to_numpy()})
    joined = joined[joined[CAMPAIGN_ID].notna()]
    if joined.empty:
        return pd.DataFrame(columns=[CAMPAIGN_ID, "size", "skus", "accounts", "devices", "first_at", "last_at",
                                     "span_hours"])  # fmt: skip
    devices = joined[c.DEVICE_ID] if c.DEVICE_ID in joined else pd.Series(None, index=joined.index)
    grouped = joined.assign(_device=devices).groupby(CAMPAIGN_ID, sort=True)
    summary = grouped.agg(
        size=(c.REVIEW_ID, "size"),
        skus=(c.SKU_ID, lambda s: sorted(s.astype(str).unique())),
        accounts=(c.USER_ID, lambda s: sorted(s.astype(str).unique())),
        devices=("_device", "nunique"),
        first_at=(c.REVIEW_TS, "min"),
        last_at=(c.REVIEW_TS, "max"),
    ).reset_index()
    summary["span_hours"] = (summary["last_at"] - summary["first_at"]).dt.total_seconds() / 3600.0
    return summary
