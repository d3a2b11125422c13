"""MLflow helpers: one experiment per decision, a SQLite-backed store locally, and the champion alias gate.

Pointing ``SHOPSENSE_MLFLOW_TRACKING_URI`` at a tracking server is the only change needed to scale out.
Registry stages are deprecated; only aliases (``champion``, ``challenger``) are used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from features.settings import Settings, get_settings

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


def registered_name(decision: str, dataset: str | None = None, settings: Settings | None = None) -> str:
    """Registry name of a decision's model (see :meth:`Settings.registered_model_name`)."""
    return (settings or get_settings()).registered_model_name(decision, dataset)


def configure(settings: Settings | None = None) -> str:
    """Point MLflow at the configured store (creating the local SQLite folder) and return the tracking URI."""
    import mlflow

    settings = settings or get_settings()
    if settings.mlflow_tracking_uri is None:
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return settings.tracking_uri


def create_store(settings: Settings | None = None) -> str:
    """Configure MLflow and make its store answer once (a new SQLite store gets its schema here); returns the URI."""
    import mlflow

    uri = configure(settings)
    mlflow.search_experiments(max_results=1)
    return uri


def experiment(decision: str, dataset: str, settings: Settings | None = None) -> str:
    """Create or reuse the experiment ``shopsense/<decision>/<dataset>``; artifacts live beside the local store."""
    import mlflow

    settings = settings or get_settings()
    name = f"shopsense/{decision}/{dataset}"
    found = mlflow.get_experiment_by_name(name)
    if found is None:
        location = None if settings.mlflow_tracking_uri else settings.artifact_root
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@dataclass(frozen=True)
class GateResult:
    """What the alias gate decided for a newly registered version."""

    name: str
    version: str
    alias: str
    new_score: float
    champion_score: float | None
    champion_version: str | None


def champion_version(name: str) -> str | None:
    """The version the ``champion`` alias points at, or None when there is none yet."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def gate_alias(
    name: str,
    version: str,
    new_score: float,
    score_version: Callable[[str], float],
    higher_is_better: bool = True,
) -> GateResult:
    """Point ``champion`` at ``version`` only if it beats the current champion on the same holdout.

    ``score_version(v)`` loads version ``v`` and scores it on the holdout the new model was scored on, so the
    comparison is like for like even when the champion was trained on older data. A loser becomes ``challenger``.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    current = champion_version(name)
    current_score = None if current is None else _champion_score(name, current, score_version)
    better = current_score is None or (new_score > current_score if higher_is_better else new_score < current_score)
    alias = CHAMPION if better else CHALLENGER
    client.set_registered_model_alias(name, alias, version)
    logger.info("%s v%s -> @%s (new %.4f vs champion %s)", name, version, alias, new_score, current_score)
    return GateResult(name, str(version), alias, float(new_score), current_score, current)


def _champion_score(name: str, version: str, score_version: Callable[[str], float]) -> float | None:
    """The champion's holdout score; None when it can no longer load or score it (features or code gone): it yields."""
    try:
        return float(score_version(version))
    except Exception as err:  # a champion that cannot load or score (code moved on under it) must yield
        logger.warning("champion %s v%s cannot score the new holdout (%s); it will be replaced", name, version, err)
        return None


def model_uri(decision: str, alias: str = CHAMPION, dataset: str | None = None) -> str:
    """``models:/shopsense-<decision>@<alias>`` (of the served dataset unless another is named)."""
    return f"models:/{registered_name(decision, dataset)}@{alias}"


def load_model(name: str, version: str) -> Any:
    """The pure decision model of one registered version (what the pyfunc adapter carries)."""
    import mlflow

    return mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model().model


def champion_model(name: str) -> Any | None:
    """The pure model behind ``@champion``, or None when there is no champion yet."""
    version = champion_version(name)
    return None if version is None else load_model(name, version)
