"""One MLflow pyfunc adapter for every decision: it carries the pure model and calls its ``decide``.

A loaded ``models:/shopsense-<decision>@champion`` takes feature rows (plus upstream columns such as ``tier``) and
returns one row per record; ``unwrap_python_model().model`` is the pure object the service calls directly.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import infer_signature
from mlflow.types.schema import ColSpec, Schema

from models.decision import DecisionModel


class DecisionPyfunc(mlflow.pyfunc.PythonModel):
    """Any :class:`models.decision.DecisionModel` as a pyfunc (no decision-specific code here)."""

    def __init__(self, model: DecisionModel) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.model.decide(model_input, **(params or {})))


def input_example(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One made-up row: each numeric column's median, each other column's most common value.

    An aggregate, not a customer: models and Bentos travel, and five real rows would travel with them.
    """
    row: dict[str, Any] = {}
    for name in columns:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values):
            row[name] = float(values.median()) if values.notna().any() else 0.0
        else:
            mode = values.dropna().astype(str).mode()
            row[name] = mode.iat[0] if len(mode) else ""
    return pd.DataFrame([row])


@functools.cache
def requirements() -> list[str]:
    """The project's runtime dependencies pinned to the installed versions, for every logged model.

    Passing them saves MLflow's requirement inference (tens of seconds per model when it falls back to capturing
    imports) and states exactly what the model needs; uv.lock remains the source of the versions.
    """
    from importlib import metadata

    from features.settings import PROJECT_ROOT

    with (PROJECT_ROOT / "pyproject.toml").open("rb") as handle:
        declared = tomllib.load(handle)["project"]["dependencies"]
    pinned = []
    for requirement in declared:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pinned.append(requirement)
    return pinned


def signature(example: pd.DataFrame, optional: set[str], params: Mapping[str, Any]):
    """Inputs inferred from ``example`` with ``optional`` columns (upstream outputs, ids) not required."""
    inferred = infer_signature(example, params=dict(params) or None)
    specs = [ColSpec(s.type, s.name, required=s.name not in optional) for s in inferred.inputs.inputs]
    inferred.inputs = Schema(specs)
    return inferred
