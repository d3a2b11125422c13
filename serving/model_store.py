"""Where the served models come from: the MLflow registry by alias, or the BentoML model store a Bento carries.

The registry is the source of truth (``models:/shopsense-churn@champion``). :func:`sync_champions` copies the
current champion of each decision into the BentoML model store, labelled with its MLflow name, version, alias and
run, so a built Bento serves without the tracking server and still reports the registry version. A restart (or
``POST /admin/reload``) after a sync is how a new champion reaches the service.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.settings import Settings, get_settings
from training import tracking

logger = logging.getLogger(__name__)

DECISIONS = ("churn", "tiering")
LABEL_NAME, LABEL_VERSION, LABEL_ALIAS, LABEL_RUN = "mlflow_name", "mlflow_version", "alias", "mlflow_run_id"


@dataclass(frozen=True)
class ServedModel:
    """A loaded decision model and where it came from (what responses report)."""

    decision: str
    name: str
    version: str
    alias: str
    model: Any  # training.pyfunc.ChurnDecisionModel | TieringDecisionModel
    source: str  # "models:/...@alias" or "bentoml:<tag>"


def store_tag(decision: str) -> str:
    """BentoML model-store name of a decision: the registry name (``shopsense-churn``)."""
    return tracking.registered_name(decision)


def use_bentoml_home(settings: Settings | None = None) -> Path:
    """Point BentoML at ``settings.bentoml_home`` (never ~/bentoml by default) before its stores are first used.

    Raises:
        RuntimeError: BentoML already opened another home in this process (the store is a process singleton).
    """
    home = (settings or get_settings()).bentoml_home
    current = os.environ.get("BENTOML_HOME")
    os.environ["BENTOML_HOME"] = str(home)
    from bentoml._internal.configuration.containers import BentoMLContainer

    resolved = Path(BentoMLContainer.bentoml_home.get()).resolve()
    if resolved != home:
        os.environ["BENTOML_HOME"] = current or ""
        raise RuntimeError(f"BentoML already uses {resolved} in this process; cannot switch to {home}")
    return home


def load_from_registry(decision: str, alias: str = tracking.CHAMPION, settings: Settings | None = None) -> ServedModel:
    """Load ``models:/shopsense-<decision>@<alias>`` straight from MLflow (needs the tracking store)."""
    import mlflow
    from mlflow import MlflowClient

    tracking.configure(settings)
    name = tracking.registered_name(decision)
    version = MlflowClient().get_model_version_by_alias(name, alias)
    uri = f"models:/{name}/{version.version}"
    model = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    return ServedModel(decision, name, str(version.version), alias, model, f"models:/{name}@{alias}")


def load_stored(decision: str, tag: str | None = None) -> Any:
    """The ``bentoml.Model`` of a decision in the store (``shopsense-churn:latest`` by default)."""
    import bentoml

    return bentoml.models.get(tag or f"{store_tag(decision)}:latest")


def load_from_store(decision: str, tag: str | None = None) -> ServedModel:
    """Load a decision from the BentoML model store (``shopsense-churn:latest`` by default; what a Bento holds)."""
    return served_from_stored(decision, load_stored(decision, tag))


def served_from_stored(decision: str, stored: Any) -> ServedModel:
    """A :class:`ServedModel` from a ``bentoml.Model`` imported by :func:`sync_champions` (labels carry MLflow ids)."""
    import bentoml

    labels = stored.info.labels
    missing = [k for k in (LABEL_NAME, LABEL_VERSION, LABEL_ALIAS) if k not in labels]
    if missing:
        raise ValueError(
            f"BentoML model {stored.tag} lacks label(s) {missing}: import it with `shopsense serve --sync`"
        )
    model = bentoml.mlflow.load_model(stored).unwrap_python_model()
    return ServedModel(
        decision, labels[LABEL_NAME], labels[LABEL_VERSION], labels[LABEL_ALIAS], model, f"bentoml:{stored.tag}"
    )


def _latest_stored(name: str) -> Any | None:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.models.get(f"{name}:latest")
    except NotFound:
        return None


def sync_champion(decision: str, alias: str = tracking.CHAMPION, settings: Settings | None = None) -> dict[str, Any]:
    """Import the model ``alias`` points at into the BentoML store unless the latest stored one is that version.

    A rollback (alias moved back to an older version) imports again, so ``:latest`` is always what the alias
    names. Returns what happened: name, version, alias, BentoML tag, ``imported`` (bool).
    """
    import bentoml
    from mlflow import MlflowClient

    settings = settings or get_settings()
    tracking.configure(settings)
    name = tracking.registered_name(decision)
    version = MlflowClient().get_model_version_by_alias(name, alias)
    latest = _latest_stored(name)
    same = latest is not None and (latest.info.labels.get(LABEL_VERSION), latest.info.labels.get(LABEL_RUN)) == (
        str(version.version),
        str(version.run_id),
    )
    if same and latest.info.labels.get(LABEL_ALIAS) == alias:
        return {
            "name": name,
            "version": str(version.version),
            "alias": alias,
            "tag": str(latest.tag),
            "imported": False,
        }
    labels = {LABEL_NAME: name, LABEL_VERSION: str(version.version), LABEL_ALIAS: alias, LABEL_RUN: str(version.run_id)}
    stored = bentoml.mlflow.import_model(
        name,
        f"models:/{name}/{version.version}",
        labels=labels,
        metadata={"tracking_uri": settings.tracking_uri, "source": str(version.source), "decision": decision},
    )
    logger.info("imported %s v%s (@%s) into the BentoML store as %s", name, version.version, alias, stored.tag)
    return {"name": name, "version": str(version.version), "alias": alias, "tag": str(stored.tag), "imported": True}


def sync_champions(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Sync the champion of every served decision into the BentoML store (see :func:`sync_champion`)."""
    return [sync_champion(decision, settings=settings) for decision in DECISIONS]
