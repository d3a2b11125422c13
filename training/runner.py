"""Run any registered decision end to end: dataset -> fit -> evaluate vs baselines -> log -> register -> gate.

This is the one place with side effects for training (MLflow, the lake); what a decision does is in its spec
(``training/decisions/``) and its pure model (``models/``). Upstream decisions come from the registry (their
``@champion`` on the same dataset) and are joined onto every part of the data before fitting, exactly as the
service joins them before deciding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.settings import DatasetPaths, Settings, get_settings
from models.decision import DecisionModel, join_upstream, run_serving_preparation
from training import decisions, parallel, pyfunc, quiet, tracking
from training.decisions.spec import DecisionData, DecisionSpec, Evaluation, TrainOptions

logger = logging.getLogger(__name__)

ID_COLUMNS = ("user_id", "sku_id", "review_id")


class DecisionUnavailable(RuntimeError):
    """A decision cannot train on this dataset; the message says what is missing and what to do."""


@dataclass
class TrainResult:
    """What a training run produced and where to find it."""

    decision: str
    dataset: str
    run_id: str
    model_name: str
    version: str
    alias: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    tracking_uri: str = ""
    seconds: float = 0.0


def check_inputs(spec: DecisionSpec, paths: DatasetPaths) -> None:
    """Fail before any work with one sentence naming what the dataset lacks and the command that fixes it."""
    if not paths.lake.is_dir():
        raise DecisionUnavailable(
            f"dataset {paths.name!r} has no lake at {paths.lake}: create it first with `shopsense data ingest` "
            f"(or `shopsense data synth` for the synthetic world)"
        )
    missing = [t for t in spec.requires if not (paths.lake / f"{t}.parquet").exists()]
    if missing:
        raise DecisionUnavailable(
            f"{spec.name} needs the table(s) {', '.join(missing)}, which dataset {paths.name!r} does not have; "
            f"ingest them (see `shopsense data contract`) or train a decision this dataset supports"
        )
    empty = [t for t in spec.requires if _rows(paths.lake / f"{t}.parquet") == 0]
    if empty:
        raise DecisionUnavailable(
            f"{spec.name} needs rows in {', '.join(empty)}, which are empty in dataset {paths.name!r}; "
            f"see what was rejected with `shopsense data quarantine --dataset {paths.name}`"
        )


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def upstream_models(spec: DecisionSpec, dataset: str, settings: Settings) -> list[tuple[DecisionModel, tuple]]:
    """The champions of every decision ``spec`` depends on (transitively), dependencies first."""
    chain = [s for s in decisions.in_dependency_order(spec.depends_on) if s.name != spec.name]
    if chain:  # read the configured registry, never MLflow's default ./mlflow.db (notebooks call this directly)
        tracking.configure(settings)
    out = []
    for dep in chain:
        name = tracking.registered_name(dep.name, dataset, settings)
        model = tracking.champion_model(name)
        if model is None:
            raise DecisionUnavailable(
                f"{spec.name} uses {dep.name}, which has no champion for dataset {dataset!r} yet: run "
                f"`shopsense train {dep.name} --dataset {dataset}` first (or `shopsense train all --dataset {dataset}`)"
            )
        out.append((model, dep.provides))
    return out


def prepare(spec: DecisionSpec, paths: DatasetPaths, settings: Settings, options: TrainOptions) -> DecisionData:
    """The decision's data with upstream outputs joined on (what notebooks use to look before fitting)."""
    check_inputs(spec, paths)
    upstream = upstream_models(spec, paths.name, settings)
    try:
        data = spec.load(paths, settings, options)
    except ValueError as err:  # the dataset builders say what is short (history, labels) in their message
        raise DecisionUnavailable(f"{spec.name} cannot train on dataset {paths.name!r}: {err}") from err
    if upstream:
        data.parts = {role: join_upstream(part, upstream) for role, part in data.parts.items()}
    return data


def run_decision(
    name: str,
    dataset: str | None = None,
    options: TrainOptions | None = None,
    settings: Settings | None = None,
) -> TrainResult:
    """Train, evaluate against baselines, log, register and gate decision ``name`` on one dataset."""
    started = time.perf_counter()
    spec, options = decisions.get(name), options or TrainOptions()
    settings = settings or get_settings()
    paths = settings.dataset(dataset or settings.default_dataset)
    uri = tracking.configure(settings)
    data = prepare(spec, paths, settings, options)
    registered = tracking.registered_name(spec.name, paths.name, settings)
    model = as_served(spec.fit(data, options, tracking.champion_model(registered)), settings)
    evaluation = spec.evaluate(model, data, options)
    tracking.experiment(spec.name, paths.name, settings)
    with mlflow.start_run(run_name=f"{spec.name}-{paths.name}") as run:
        _log_run(spec, data, evaluation, options, settings)
        example = _input_example(spec, model, data)
        info = _log_model(spec, model, data, registered, example)
        new_score = evaluation.score if evaluation.score is not None else spec.score(model, data)
        gate = tracking.gate_alias(
            registered,
            str(info.registered_model_version),
            new_score,
            lambda version: champion_score(
                spec, as_served(tracking.load_model(registered, version), settings), data, example
            ),
            higher_is_better=spec.higher_is_better,
        )
        mlflow.set_tags({"alias": gate.alias, "registered_version": gate.version})
    return TrainResult(
        spec.name,
        paths.name,
        run.info.run_id,
        registered,
        gate.version,
        gate.alias,
        evaluation.metrics,
        evaluation.baselines,
        {"gate": asdict(gate), "lineage": data.lineage, "primary": spec.primary},
        uri,
        time.perf_counter() - started,
    )


def train_many(
    names: Iterable[str],
    dataset: str | None = None,
    options: TrainOptions | None = None,
    settings: Settings | None = None,
    on_done: Callable[[parallel.Outcome], None] | None = None,
    also: Iterable[parallel.Job] = (),
) -> dict[str, parallel.Outcome]:
    """Train the named decisions and their upstream ones, side by side where dependencies allow.

    ``settings.train_workers`` processes at a time (see :mod:`training.parallel`); an outcome's ``value`` is the
    :class:`TrainResult`, or its ``error`` the :class:`DecisionUnavailable` that says why a decision was skipped.
    ``also`` runs more jobs in the same pool (the demo's feature steps).
    """
    settings = settings or get_settings()
    options = options or TrainOptions()
    tracking.create_store(settings)  # once, here: workers creating the SQLite schema at the same time would race
    jobs = [
        parallel.Job(spec.name, partial(run_decision, spec.name, dataset, options, settings), spec.depends_on,
                     spec.typical_seconds)
        for spec in decisions.in_dependency_order(names)
    ]  # fmt: skip
    return parallel.run_jobs(
        [*jobs, *also],
        train_workers(settings),
        expected=(DecisionUnavailable,),
        on_done=on_done,
        initializer=quiet.replay,
    )


def train_workers(settings: Settings) -> int:
    """Processes :func:`train_many` uses: ``SHOPSENSE_TRAIN_WORKERS``, or one per core (at most 4) when 0."""
    return settings.train_workers or parallel.default_workers()


def _finite(prefix: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in values.items() if v is not None and np.isfinite(v)}


def _log_run(
    spec: DecisionSpec, data: DecisionData, evaluation: Evaluation, options: TrainOptions, settings: Settings
) -> None:
    """Params, metrics of the model and every baseline, tables, figures and the dataset's lineage."""
    rows = {f"rows_{role}": len(part) for role, part in data.parts.items()}
    params = {"seed": options.seed, "horizon_days": options.horizon_days or spec.horizon_days, **rows}
    params |= {"n_features": len(data.feature_names), "feature_service": spec.feature_service}
    mlflow.log_params(params | {f"model_{k}": v for k, v in evaluation.params.items()})
    mlflow.log_metrics(_finite("test_", evaluation.metrics))
    for baseline, values in evaluation.baselines.items():
        mlflow.log_metrics(_finite(f"baseline_{baseline}_test_", values))
    for file, table in evaluation.tables.items():
        mlflow.log_table(table, file)
    for file, figure in evaluation.figures.items():
        mlflow.log_figure(figure, file)
    for file, document in evaluation.documents.items():
        mlflow.log_dict(document, file)
    lineage = _relative(data.lineage, settings.data_dir)
    mlflow.log_dict({"features": data.feature_names, "lineage": lineage}, "dataset.json")
    name = f"{lineage.get('dataset', 'data')}-{data.holdout}"
    mlflow.log_input(mlflow.data.from_pandas(data.part(data.holdout), name=name), "testing")


def _relative(lineage: dict[str, Any], root: Path) -> dict[str, Any]:
    """Lineage with paths under the data dir made relative, so artifacts do not leak a machine's layout."""
    out = {}
    for key, value in lineage.items():
        if isinstance(value, str) and value.startswith(str(root)):
            value = str(Path(value).relative_to(root))
        out[key] = value
    return out


def as_served(model: DecisionModel, settings: Settings) -> DecisionModel:
    """The model after its serving preparation (e.g. the recommender's ranker compiled into ``cache_dir``).

    Why: the gate then scores what the service will answer with, and the compiled ranker scores the evaluation's
    candidates ~15x faster than LightGBM's predict; its object code stays in ``cache_dir`` for the server to load.
    Preparation state is never pickled with the model (see each model's ``__getstate__``).
    """
    run_serving_preparation(model, settings.cache_dir)
    return model


def champion_score(spec: DecisionSpec, champion: DecisionModel, data: DecisionData, example: pd.DataFrame) -> float:
    """The current champion's score on the new holdout, once it has shown it still answers a request.

    Why: a model pickled by older code can keep scoring through one path while its serving path fails on state the
    code gained since (a recommender without a newer retrieval field); such a champion must yield, not win the gate.
    Any exception here makes it yield (``tracking.gate_alias``).
    """
    champion.decide(example, **spec.decide_params)
    return spec.score(champion, data)


def _upstream_columns(spec: DecisionSpec, holdout: pd.DataFrame) -> list[str]:
    upstream = [c for dep in decisions.in_dependency_order(spec.depends_on) for c in dep.provides]
    return [c for c in dict.fromkeys(upstream) if c in holdout.columns]


def _input_example(spec: DecisionSpec, model: DecisionModel, data: DecisionData) -> pd.DataFrame:
    """A made-up request the model must answer (logged with it, and put to the champion at the gate)."""
    if spec.input_example is not None:
        return spec.input_example(model, data)
    holdout = data.part(data.holdout)
    return pyfunc.input_example(holdout, [*model.feature_names, *_upstream_columns(spec, holdout)])


def _log_model(spec: DecisionSpec, model: DecisionModel, data: DecisionData, registered: str, example: pd.DataFrame):
    """The pure model behind the generic pyfunc adapter, with a signature and a made-up input example."""
    upstream = _upstream_columns(spec, data.part(data.holdout))
    signature = pyfunc.signature(example, set(upstream), spec.decide_params)
    with quiet.registry_lines_dropped():
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc.DecisionPyfunc(model),
            signature=signature,
            input_example=example,
            registered_model_name=registered,
            pip_requirements=pyfunc.requirements(),
            tags={"feature_service": spec.feature_service, "decision": spec.name},
        )
