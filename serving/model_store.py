"""Where the served models come from: the MLflow registry by alias, or the BentoML model store a Bento carries.

The registry is the source of truth (``models:/shopsense-churn@champion``). :func:`sync_champions` copies the
current champion of each decision into the BentoML model store, labelled with its MLflow name, version, alias and
run, so a built Bento serves without the tracking server and still reports the registry version. A restart (or
``POST /admin/reload``) after a sync is how a new champion reaches the service.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.settings import Settings, get_settings

logger = logging.getLogger(__name__)

CHAMPION = "champion"
LABEL_NAME, LABEL_VERSION, LABEL_ALIAS, LABEL_RUN = "mlflow_name", "mlflow_version", "alias", "mlflow_run_id"
INTEGRITY_DIR = "shopsense-integrity"  # under BENTOML_HOME: one JSON of file digests per stored model version


@dataclass(frozen=True)
class ServedModel:
    """A loaded decision model and where it came from (what responses report)."""

    decision: str
    name: str
    version: str
    alias: str
    model: Any  # a models.decision.DecisionModel (the pure object the pyfunc adapter carries)
    source: str  # "models:/...@alias" or "bentoml:<tag>"


def store_tag(decision: str) -> str:
    """BentoML model-store name of a decision (``shopsense-churn``), whichever dataset its champion came from.

    The labels of the stored model name the MLflow model and version it was synced from, so a store synced from
    another dataset's champions (``shopsense serve --dataset X``) still reports exactly what serves.
    """
    return f"shopsense-{decision}"


def _tracking(settings: Settings) -> None:
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)


class MissingChampion(LookupError):
    """No ``@champion`` for a decision: the message names the command that creates it."""


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


def _alias_version(name: str, alias: str, decision: str, settings: Settings) -> Any:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        dataset = settings.served_dataset
        raise MissingChampion(
            f"no @{alias} for {name}: create it with `shopsense train {decision} --dataset {dataset}` "
            f"(or `shopsense train all --dataset {dataset}`)"
        ) from None


def load_from_registry(decision: str, alias: str = CHAMPION, settings: Settings | None = None) -> ServedModel:
    """Load the served dataset's ``models:/shopsense-<decision>@<alias>`` straight from MLflow."""
    import mlflow

    settings = settings or get_settings()
    _tracking(settings)
    name = settings.registered_model_name(decision, settings.served_dataset)
    version = _alias_version(name, alias, decision, settings)
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}").unwrap_python_model().model
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
    model = bentoml.mlflow.load_model(stored).unwrap_python_model().model
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


def _manifest_path(stored: Any, settings: Settings) -> Path:
    """Where the SHA-256 of every file of a stored model is kept: outside the model's directory, so a damaged
    store cannot also damage the record it is checked against."""
    return settings.bentoml_home / INTEGRITY_DIR / stored.tag.name / f"{stored.tag.version}.json"


def file_digests(root: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``root``, by path relative to it (``__pycache__`` left out: loading a
    model's code writes bytecode there)."""
    digests = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digests[path.relative_to(root).as_posix()] = digest.hexdigest()
    return digests


def record_integrity(stored: Any, settings: Settings) -> Path:
    """Write the digests of a just-imported model (what :func:`integrity_problems` checks later)."""
    target = _manifest_path(stored, settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(file_digests(Path(stored.path)), indent=1, sort_keys=True))
    return target


def integrity_problems(stored: Any, settings: Settings) -> list[str]:
    """What differs between a stored model's files and the digests recorded at import (empty: intact)."""
    manifest = _manifest_path(stored, settings)
    try:
        expected = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return ["no integrity record"]
    actual = file_digests(Path(stored.path))
    problems = [f"{name} missing" for name in sorted(set(expected) - set(actual))]
    problems += [f"{name} changed" for name in sorted(set(expected) & set(actual)) if expected[name] != actual[name]]
    problems += [f"{name} unexpected" for name in sorted(set(actual) - set(expected))]
    return problems


def sync_champion(decision: str, alias: str = CHAMPION, settings: Settings | None = None) -> dict[str, Any]:
    """Import the model ``alias`` points at into the BentoML store unless the latest stored one is that version.

    A rollback (alias moved back to an older version) imports again, so ``:latest`` is always what the alias
    names. A stored copy whose files no longer match the digests recorded at its import (or that has no record)
    is deleted and imported again, so ``POST /admin/reload`` or a restart repairs a damaged store. Returns what
    happened: name, version, alias, BentoML tag, ``imported`` (bool) and ``repaired`` (what was wrong, if anything).
    """
    import bentoml

    settings = settings or get_settings()
    _tracking(settings)
    name = settings.registered_model_name(decision, settings.served_dataset)
    version = _alias_version(name, alias, decision, settings)
    tag = store_tag(decision)
    latest = _latest_stored(tag)
    same = latest is not None and (
        latest.info.labels.get(LABEL_NAME),
        latest.info.labels.get(LABEL_VERSION),
        latest.info.labels.get(LABEL_RUN),
    ) == (name, str(version.version), str(version.run_id))
    repaired: list[str] = []
    if same and latest.info.labels.get(LABEL_ALIAS) == alias:
        repaired = integrity_problems(latest, settings)
        if not repaired:
            return {"decision": decision, "name": name, "version": str(version.version), "alias": alias,
                    "tag": str(latest.tag), "imported": False, "repaired": []}  # fmt: skip
        logger.warning("stored %s fails its integrity check (%s): importing it again", latest.tag, "; ".join(repaired))
        bentoml.models.delete(latest.tag)
    labels = {LABEL_NAME: name, LABEL_VERSION: str(version.version), LABEL_ALIAS: alias, LABEL_RUN: str(version.run_id)}
    stored = bentoml.mlflow.import_model(
        tag,
        f"models:/{name}/{version.version}",
        labels=labels,
        metadata={"tracking_uri": settings.tracking_uri, "source": str(version.source), "decision": decision},
    )
    record_integrity(stored, settings)
    logger.info("imported %s v%s (@%s) into the BentoML store as %s", name, version.version, alias, stored.tag)
    return {"decision": decision, "name": name, "version": str(version.version), "alias": alias,
            "tag": str(stored.tag), "imported": True, "repaired": repaired}  # fmt: skip


def prepare_champion(decision: str, settings: Settings | None = None) -> dict[str, Any]:
    """Sync one champion and run its serving preparation now (e.g. the compiled ranker, into ``cache_dir``).

    Why: the demo does this beside the training still running, so the server that starts next finds the store and
    the cache ready instead of doing both while nothing else runs. Returns :func:`sync_champion`'s record (plus
    ``prepared``), or ``missing`` with the reason when the decision has no champion.
    """
    from models.decision import run_serving_preparation

    settings = settings or get_settings()
    use_bentoml_home(settings)
    try:
        result = sync_champion(decision, settings=settings)
    except MissingChampion as err:
        return {"decision": decision, "missing": str(err)}
    prepared = run_serving_preparation(load_from_store(decision, result["tag"]).model, settings.cache_dir)
    return result | {"prepared": prepared}


def sync_champions(settings: Settings | None = None, decisions: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Sync the champion of every registered decision (or the named ones) into the BentoML store.

    A decision without a champion is reported (``missing`` with the command that creates it), never fatal for the
    others: a shop whose data allows only some decisions still gets those served.
    """
    from training.decisions import DECISION_NAMES

    results = []
    for decision in decisions or DECISION_NAMES:
        try:
            results.append(sync_champion(decision, settings=settings))
        except MissingChampion as err:
            results.append({"decision": decision, "missing": str(err)})
    return results
