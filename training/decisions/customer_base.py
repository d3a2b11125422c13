"""What the three customer decisions (lifetime value, tiering, churn) share: one point-in-time user dataset.

User features at monthly cutoffs joined to labels from the orders after each cutoff (training/datasets.py), wrapped
as :class:`DecisionData` with one part per time role, so the runner can join upstream outputs onto every part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.settings import DatasetPaths, Settings
from models.decision import feature_block
from training.datasets import LabelConfig
from training.decisions.spec import DecisionData

if TYPE_CHECKING:
    from training.datasets import CustomerDataset

ROLES = ("train", "validation", "test")
USER_TABLES = ("users", "orders", "order_items")


def customer_data(paths: DatasetPaths, settings: Settings, config: LabelConfig) -> DecisionData:
    """The user dataset of ``paths`` under ``config``'s label windows, one part per time role."""
    from training.customer_data import load_customer_dataset  # the feature builder: not for the service's arbiter

    return wrap(load_customer_dataset(paths, config, settings))


def wrap(dataset: CustomerDataset) -> DecisionData:
    """A customer dataset as :class:`DecisionData` (one part per time role; the dataset itself in ``extra``)."""
    parts = {role: dataset.part(role) for role in ROLES}
    lineage = dict(dataset.lineage) | {"rows_" + role: len(part) for role, part in parts.items()}
    return DecisionData(parts, list(dataset.feature_names), lineage, extra={"dataset": dataset})


def dataset_of(data: DecisionData) -> CustomerDataset:
    return data.extra["dataset"]


def features(data: DecisionData, role: str) -> pd.DataFrame:
    """The model's feature block of one role (float64, model order)."""
    return feature_block(data.part(role), data.feature_names)


def column(data: DecisionData, role: str, name: str) -> np.ndarray:
    return data.part(role)[name].to_numpy()
