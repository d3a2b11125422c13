"""Assemble the customer dataset of a lake: user features at monthly cutoffs joined to churn/LTV labels.

Side effects stay here (reading the lake, building missing feature partitions); the labelling and splitting
logic is the pure code in :mod:`training.datasets`.
"""

from __future__ import annotations

import logging

import pandas as pd

from features import build, engine
from features import columns as c
from features.settings import DatasetPaths, Settings
from features.users import USER_FEATURES
from training.datasets import CustomerDataset, LabelConfig, customer_dataset, ltv_days_for, order_values

logger = logging.getLogger(__name__)

#: History a cutoff needs before it. Starting a month in instead (two more training cutoffs on a one-year shop)
#: was tried and lost on the validation cutoff of both Online Retail and The Complete Journey: the early cutoffs'
#: all-new customers behave unlike the established ones the model is scored on.
FIRST_CUTOFF_AFTER_DAYS = 90


def lake_order_values(paths: DatasetPaths) -> pd.DataFrame:
    """Order values from the lake (only the columns labels need, so large lakes stay cheap)."""
    orders = pd.read_parquet(paths.lake / "orders.parquet", columns=[c.ORDER_ID, c.USER_ID, c.ORDER_TS, c.STATUS])
    items = pd.read_parquet(paths.lake / "order_items.parquet", columns=[c.ORDER_ID, c.QUANTITY, c.UNIT_PRICE])
    return order_values(orders, items)


def training_cutoffs(
    ov: pd.DataFrame, min_history_days: int = FIRST_CUTOFF_AFTER_DAYS
) -> tuple[list[pd.Timestamp], pd.Timestamp]:
    """Monthly cutoffs from the month ``min_history_days`` after the first order to the last; and the data end."""
    first, last = ov[c.ORDER_TS].min(), ov[c.ORDER_TS].max()
    data_end = last.normalize() + pd.Timedelta(days=1)
    start = first + pd.Timedelta(days=min_history_days)
    return build.monthly_cutoffs(start, data_end), data_end


def ensure_user_features(paths: DatasetPaths, cutoffs: list[pd.Timestamp], settings: Settings) -> pd.DataFrame:
    """Build the user-feature partitions that are missing for ``cutoffs`` and return the rows for them."""
    missing = [t for t in cutoffs if not build.partition_path(paths, USER_FEATURES, t).exists()]
    if missing:
        build.build(USER_FEATURES, engine.connect(settings), paths, missing)
    frames = [pd.read_parquet(build.partition_path(paths, USER_FEATURES, t)) for t in cutoffs]
    return pd.concat(frames, ignore_index=True)


def load_customer_dataset(
    paths: DatasetPaths, config: LabelConfig, settings: Settings, split_days: int | None = None
) -> CustomerDataset:
    """Everything a customer decision (churn, tiering, LTV) trains and tests on, for one dataset.

    ``split_days`` is the label window the time split protects (default: the churn horizon).
    """
    ov = lake_order_values(paths)
    cutoffs, data_end = training_cutoffs(ov)
    features = ensure_user_features(paths, cutoffs, settings)
    names = [col for col in features.columns if col not in (c.USER_ID, c.AS_OF)]
    dataset = customer_dataset(features, names, ov, config, data_end, split_days)
    dataset.lineage.update({"dataset": paths.name, "lake": str(paths.lake), "feature_set": USER_FEATURES.name})
    return dataset


def load_ltv_dataset(paths: DatasetPaths, settings: Settings, ltv_days: int = 180) -> CustomerDataset:
    """The lifetime-value dataset: split on the LTV window, so every training label window ends by the test cutoff.

    The window is ``ltv_days`` or, when the history is too short for a leakage-free split with it, the longest
    shorter one that fits (``dataset.config.ltv_days`` and ``lineage["ltv_days"]`` say which). Train with
    ``dataset.xy(role, FUTURE_SPEND)`` for role in train / validation / test.
    """
    days = ltv_days_for(*training_cutoffs(lake_order_values(paths)), ltv_days)
    return load_customer_dataset(paths, LabelConfig(ltv_days=days), settings, split_days=days)
