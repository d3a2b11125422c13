"""The serving hot path without HTTP: served decisions, the online reader, one model call per batch of jobs.

``Runtime.run(decision, jobs)`` does for a list of requests what each would do alone: one online lookup for all
their ids, the upstream decisions joined on as columns (as at training), one ``decide`` call per distinct set of
parameters. Which decisions exist, their entity, feature service and dependencies come from the decision registry;
nothing here names a decision. Unknown ids (no online row) are never scored: they come back with the route's
unknown status and null predictions.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.settings import Settings, get_settings
from features.store.layout import KNOWN, key_columns, known_mask
from models.decision import ArrayDecisionModel, join_upstream, run_serving_preparation
from serving.model_store import ServedModel

if TYPE_CHECKING:  # the reader imports Feast; the service module must import without it (BentoML's arbiter)
    from features.store.reader import Columns
from training import decisions

logger = logging.getLogger(__name__)

OK = "ok"


class InvalidInput(ValueError):
    """A request the models cannot score (e.g. a feature row without a model feature); ``loc`` names the field."""

    def __init__(self, loc: list[Any], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


@dataclass
class Job:
    """One request: ids to look up, or caller-given feature rows, or neither (a query such as a popular list)."""

    ids: list[str] | None = None
    frame: pd.DataFrame | None = None
    row_ids: list[str | None] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    unknown_status: str = "unknown"

    @property
    def size(self) -> int:
        if self.frame is not None:
            return len(self.frame)
        return len(self.ids) if self.ids is not None else 1

    @property
    def entity_ids(self) -> list[str | None]:
        if self.frame is not None:
            return list(self.row_ids) if self.row_ids is not None else [None] * len(self.frame)
        return list(self.ids or [])


@dataclass
class Outcome:
    """Records of one job in request order (``_id`` and ``status`` on each), and the models that produced them."""

    records: list[dict[str, Any]]
    models: dict[str, ServedModel]


@dataclass
class Plan:
    """A served decision resolved once at load: its upstream chain, the columns it reads, the lookups it makes."""

    served: ServedModel
    upstream: list[tuple[ServedModel, tuple[str, ...]]]
    columns: list[str]
    lookups: list[str]
    takes_lookup: bool
    #: Every model of the chain answers from arrays (``decide_array``): no frame is built per request.
    arrays: bool = False
    #: Per decision of the chain, its ``feature_names`` as indices into ``columns`` (resolved once, at load); a full
    #: slice when they are ``columns`` in order, so the model gets a view, not a copy (models never write to ``x``).
    positions: dict[str, np.ndarray | slice] = field(default_factory=dict)
    #: Per lookup service, the columns it fills (a column is read from one service): their indices in ``columns``
    #: (a full slice when it fills them all, in order) and their output names.
    fills: dict[str, tuple[np.ndarray | slice, list[str]]] = field(default_factory=dict)
    #: The entity's id column (``user_id``...): frame models get the ids of their rows in it, so a model that ranks
    #: by id (the recommender) answers many requests' ids in one call like the others. None: no entity.
    id_column: str | None = None

    @property
    def models(self) -> dict[str, ServedModel]:
        return {self.served.decision: self.served, **{m.decision: m for m, _ in self.upstream}}


class Runtime:
    """Every loaded decision and the online feature reader, shared by the threads of one worker process."""

    def __init__(self, served: dict[str, ServedModel], reader: Any, cache_dir: Path | None = None) -> None:
        """``cache_dir``: where models keep what they build for serving (compiled trees), across restarts."""
        self.reader = reader
        self.cache_dir = cache_dir
        self._raw = _raw_reader(reader)
        self._lock = threading.Lock()
        self.plans, self.unavailable = self._plan(served)

    def _plan(self, served: dict[str, ServedModel]) -> tuple[dict[str, Plan], dict[str, str]]:
        plans, unavailable = {}, {}
        for name in served:
            try:
                plans[name] = _resolve_arrays(self._plan_one(name, served), self.reader)
            except (KeyError, ValueError) as err:
                unavailable[name] = str(err)
                logger.warning("decision %s not served: %s", name, err)
        return plans, unavailable

    def _plan_one(self, name: str, served: dict[str, ServedModel]) -> Plan:
        spec = decisions.get(name)
        chain = [s for s in decisions.in_dependency_order(spec.depends_on) if s.name != name]
        missing = [s.name for s in chain if s.name not in served]
        if missing:
            raise ValueError(f"needs the decision(s) {', '.join(missing)}, which have no model loaded")
        upstream = [(served[s.name], tuple(s.provides)) for s in chain]
        models = [served[name].model, *(m.model for m, _ in upstream)]
        columns = list(dict.fromkeys(n for m in models for n in m.feature_names))
        services = list(dict.fromkeys(m.feature_service for m in models))
        lookups: list[str] = []
        if spec.entity not in ("none",) and columns:
            layouts = {s: self.reader.layout(s) for s in services}  # resolved now, not per request
            absent = {n for n in columns if not any(n in lay.columns for lay in layouts.values())}
            if absent:
                raise ValueError(f"feature services {services} do not provide {sorted(absent)}")
            # Services backed by the same views (churn_v1 and tiering_v1 are both the user view) are read once.
            lookups = list({tuple(v.name for v in lay.views): s for s, lay in layouts.items()}.values())
        takes_lookup = "lookup" in inspect.signature(served[name].model.decide).parameters
        for service in getattr(served[name].model, "lookup_services", ()) if takes_lookup else ():
            try:  # what decide() reads through ``lookup`` (e.g. current stock): resolved now, not per request
                self.reader.layout(service)
            except Exception as err:  # the model falls back to its own snapshot; say so at load, not per request
                logger.warning("decision %s: online service %s unavailable for lookups: %s", name, service, err)
        run_serving_preparation(served[name].model, self.cache_dir)  # load-time work, not the first request's
        id_column = None if spec.entity == "none" else f"{spec.entity}_id"
        return Plan(served[name], upstream, columns, lookups, takes_lookup, id_column=id_column)

    @classmethod
    def open_reader(cls, settings: Settings | None = None) -> Any:
        """The online reader of the serving dataset (fast SQLite path when configured and possible)."""
        from features.store import OnlineFeatureReader

        settings = settings or get_settings()
        paths = settings.dataset(settings.serving_dataset or settings.default_dataset)
        fast = settings.serving_fast_reader and settings.online_store == "sqlite"
        return OnlineFeatureReader(paths, settings=settings, fast=fast)

    def models(self) -> dict[str, ServedModel]:
        return {name: plan.served for name, plan in self.plans.items()}

    def swap(self, served: dict[str, ServedModel]) -> None:
        """Replace every model at once (reload); in-flight batches finish on the models they started with."""
        plans, unavailable = self._plan(served)
        with self._lock:
            self.plans, self.unavailable = plans, unavailable

    def plan(self, decision: str) -> Plan:
        with self._lock:
            plan = self.plans.get(decision)
        if plan is None:
            reason = self.unavailable.get(decision, "no champion loaded")
            raise LookupError(f"decision {decision!r} is not served: {reason}")
        return plan

    # -- features -------------------------------------------------------------------------------------------------

    def lookup(self, feature_service: str, ids: Sequence[str], columns: Sequence[str] | None = None) -> Columns:
        """Online features of ``ids`` from one service as arrays per column, plus ``known`` (for decisions that look
        up more than their entity); ``columns``: only these (the recommender's stock rule reads on-hand alone from
        the 15-column SKU view)."""
        return self.reader.get_columns(feature_service, list(ids), columns)

    def _lookup(self, plan: Plan, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Features of ``ids`` as one float64 block in the plan's column order, and the known mask."""
        known = np.ones(len(ids), dtype=bool)
        matrix = np.full((len(ids), len(plan.columns)), np.nan, dtype=np.float64)
        for service in plan.lookups:
            index, names = plan.fills[service]
            if self._raw is not None:  # the store's values straight into the block: no frame per request
                layout = self.reader.layout(service)
                values, found = self._raw.read(layout, key_columns(layout, ids), len(ids))
                known &= np.array(known_mask(layout, found, len(ids)), dtype=bool)
                if names:
                    matrix[:, index] = np.array([values[name] for name in names], dtype=np.float64).T
                continue
            frame = self.reader.get(service, ids)
            known &= frame[KNOWN].to_numpy(dtype=bool)
            for name, j in zip(names, np.arange(len(plan.columns))[index].tolist(), strict=True):
                matrix[:, j] = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        return matrix, known

    def rows_frame(self, decision: str, rows: Sequence[dict[str, float | None]]) -> pd.DataFrame:
        """Caller-given feature rows as the float64 frame the models take; every model feature must be present."""
        columns = self.plan(decision).columns
        allowed = set(columns)
        for i, row in enumerate(rows):
            missing = [name for name in columns if name not in row]
            unknown = sorted(set(row) - allowed)
            if missing:
                raise InvalidInput(["rows", i, "features", missing[0]], f"missing feature(s): {', '.join(missing)}")
            if unknown:
                raise InvalidInput(["rows", i, "features", unknown[0]], f"unknown feature(s): {', '.join(unknown)}")
            _check_counts(i, row)
        matrix = np.array([[np.nan if r[n] is None else r[n] for n in columns] for r in rows], dtype=np.float64)
        return pd.DataFrame(matrix.reshape(len(rows), len(columns)), columns=columns)

    def _features(self, plan: Plan, jobs: list[Job]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """All jobs' entity rows stacked (lookups in one call), the known mask and each job's start offset."""
        lookup_ids = [i for job in jobs if job.frame is None and job.ids is not None for i in job.ids]
        if lookup_ids:
            looked, looked_known = self._lookup(plan, lookup_ids)
        else:
            looked, looked_known = np.zeros((0, len(plan.columns)), dtype=np.float64), np.zeros(0, dtype=bool)
        blocks, known, starts, at, pos = [], [], [], 0, 0
        for job in jobs:
            starts.append(at)
            if job.frame is not None:
                blocks.append(job.frame.reindex(columns=plan.columns).to_numpy(dtype=np.float64, na_value=np.nan))
                known.append(np.ones(job.size, dtype=bool))
            elif job.ids is not None:
                blocks.append(looked[pos : pos + job.size])
                known.append(looked_known[pos : pos + job.size])
                pos += job.size
            at += job.size if (job.frame is not None or job.ids is not None) else 0
        if not blocks:  # queries only: no rows
            return looked, looked_known, starts
        if len(blocks) == 1:  # one job (an idle server's every request): its rows as they are
            return blocks[0], known[0], starts
        return np.concatenate(blocks), np.concatenate(known), starts

    # -- decisions ------------------------------------------------------------------------------------------------

    def run(self, decision: str, jobs: list[Job]) -> list[Outcome]:
        """Answer every job of one decision; equivalent to answering each alone (every record is per entity)."""
        plan = self.plan(decision)
        keys = [_params_key(job.params) for job in jobs]
        matrix, known, starts = self._features(plan, jobs)
        scored = known.nonzero()[0]  # np.flatnonzero of the 1-d mask, without its Python wrappers
        x = matrix if len(scored) == len(matrix) else matrix[scored]
        call = (
            self._array_call(plan, x) if plan.arrays else self._frame_call(plan, x, self._row_ids(plan, jobs, scored))
        )
        position = _row_positions(scored, len(matrix))
        decided = self._decide(plan, call, jobs, keys, starts, position)
        return [
            self._outcome(plan, index, job, key, start, position, decided)
            for index, (job, key, start) in enumerate(zip(jobs, keys, starts, strict=True))
        ]

    def _array_call(self, plan: Plan, x: np.ndarray) -> Any:
        """``call(rows, params)`` on arrays: each model gets its columns by index, upstream fields as lists."""
        upstream: dict[str, list[Any]] = {}
        if len(x):
            for model, fields in plan.upstream:
                records = model.model.decide_array(x[:, plan.positions[model.decision]], upstream)
                upstream.update({name: [r.get(name) for r in records] for name in fields})
        own = x[:, plan.positions[plan.served.decision]]

        def call(rows: list[int] | None, params: dict[str, Any]) -> list[dict[str, Any]]:
            if rows is None:
                return plan.served.model.decide_array(own[:0], {k: [] for k in upstream}, **params)
            if rows != list(range(len(own))):
                return plan.served.model.decide_array(
                    own[rows], {k: [v[i] for i in rows] for k, v in upstream.items()}, **params
                )
            return plan.served.model.decide_array(own, upstream, **params)

        return call

    @staticmethod
    def _row_ids(plan: Plan, jobs: list[Job], scored: np.ndarray) -> list[str | None] | None:
        """The entity id of each scored row (in the order :meth:`_features` stacked them); None without an entity."""
        if plan.id_column is None:
            return None
        ids = [i for job in jobs if job.frame is not None or job.ids is not None for i in job.entity_ids]
        return [ids[i] for i in scored.tolist()]

    def _frame_call(self, plan: Plan, x: np.ndarray, ids: list[str | None] | None) -> Any:
        """``call(rows, params)`` for models that take frames: one frame per call, upstream joined as columns, the
        rows' entity ids in the plan's id column."""
        with_ids = ids is not None and plan.id_column not in plan.columns
        if with_ids and not plan.columns:  # ids alone (the recommender): one constructor, no insert
            frame = pd.DataFrame({plan.id_column: np.array(ids, dtype=object)})
        else:
            frame = pd.DataFrame(x, columns=plan.columns)
            if with_ids:
                frame.insert(0, plan.id_column, np.array(ids, dtype=object))
        if len(frame) and plan.upstream:
            frame = join_upstream(frame, [(m.model, fields) for m, fields in plan.upstream])
        extra = {"lookup": self.lookup} if plan.takes_lookup else {}
        every_row = list(range(len(frame)))

        def call(rows: list[int] | None, params: dict[str, Any]) -> list[dict[str, Any]]:
            if rows is None:
                part = frame.iloc[:0]
            elif rows == every_row:  # one parameter set (the usual call): a shallow copy, not a row take
                part = frame.copy(deep=False)
            else:
                part = frame.iloc[rows].reset_index(drop=True)
            return plan.served.model.decide(part, **params, **extra)

        return call

    def _decide(
        self, plan: Plan, call: Any, jobs: list[Job], keys: list[str], starts: list[int], position: np.ndarray
    ) -> dict[Any, Any]:
        """Records by scored-row position (entity jobs), or by job index (queries); one call per parameter set
        (``keys``: each job's :func:`_params_key`)."""
        groups: dict[str, list[int]] = {}
        params: dict[str, dict[str, Any]] = {}
        out: dict[Any, Any] = {}
        for index, (job, key) in enumerate(zip(jobs, keys, strict=True)):
            if job.frame is None and job.ids is None:
                out[("query", index)] = call(None, job.params)
                continue
            rows = position[starts[index] : starts[index] + job.size].tolist()
            params.setdefault(key, job.params)
            groups.setdefault(key, []).extend(r for r in rows if r >= 0)
        for key, rows in groups.items():
            if not rows:
                continue
            unique = list(dict.fromkeys(rows))
            records = call(unique, dict(params[key]))
            out.update({(key, row): record for row, record in zip(unique, records, strict=True)})
        return out

    @staticmethod
    def _outcome(
        plan: Plan, index: int, job: Job, key: str, start: int, position: np.ndarray, decided: dict[Any, Any]
    ) -> Outcome:
        if job.frame is None and job.ids is None:
            records = [{"_id": None, "status": OK, **r} for r in decided[("query", index)]]
            return Outcome(records, plan.models)
        records = []
        for entity_id, pos in zip(job.entity_ids, position[start : start + job.size].tolist(), strict=True):
            if pos < 0:
                records.append({"_id": entity_id, "status": job.unknown_status})
            else:
                records.append({"_id": entity_id, "status": OK, **decided[(key, pos)]})
        return Outcome(records, plan.models)


def _row_positions(scored: np.ndarray, n: int) -> np.ndarray:
    """Each row's index among the scored rows; -1 for a row not scored (an unknown id)."""
    if len(scored) == n:
        return np.arange(n)
    position = np.full(n, -1)
    position[scored] = np.arange(len(scored))
    return position


def _raw_reader(reader: Any) -> Any | None:
    """The SQLite online table read directly (the reader's own fast path), for lookups without a frame; else None."""
    return getattr(reader, "fast_path", None)


def _resolve_arrays(plan: Plan, reader: Any) -> Plan:
    """Column indices per model and per lookup service, and whether the whole chain answers from arrays."""
    index = {name: j for j, name in enumerate(plan.columns)}
    chain = [plan.served, *(m for m, _ in plan.upstream)]
    plan.positions = {m.decision: _columns([index[n] for n in m.model.feature_names], len(index)) for m in chain}
    plan.arrays = all(isinstance(m.model, ArrayDecisionModel) for m in chain) and not plan.takes_lookup
    filled: set[str] = set()
    for service in plan.lookups:
        layout = set(reader.layout(service).columns)
        fills = [(j, n) for j, n in enumerate(plan.columns) if n in layout and n not in filled]
        plan.fills[service] = (_columns([j for j, _ in fills], len(index)), [n for _, n in fills])
        filled.update(n for _, n in fills)
    return plan


def _columns(indices: list[int], width: int) -> np.ndarray | slice:
    """Column indices into a block of ``width`` columns; a full slice when they are every column in order (a
    view instead of a copy per request)."""
    return slice(None) if indices == list(range(width)) else np.array(indices, dtype=np.intp)


@functools.cache
def count_features() -> frozenset[str]:
    """Features declared ``int64`` (counts and day spans, see features/spec.py): never negative, always whole."""
    from features import registry

    return frozenset(
        f.name for name in registry.FEATURE_SET_NAMES for f in registry.get(name).features if f.dtype == "int64"
    )


def _check_counts(i: int, row: dict[str, float | None]) -> None:
    """Caller-given values of count features must be possible ones (the declarations say which are counts)."""
    for name in count_features().intersection(row):
        value = row[name]
        if value is not None and (value < 0 or float(value) != int(value)):
            raise InvalidInput(["rows", i, "features", name], f"{name} is a count: a whole number >= 0")


#: json.dumps(params, sort_keys=True, default=repr), without building an encoder per call.
_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=repr)


def _params_key(params: dict[str, Any]) -> str:
    """Jobs with equal params share one model call; params may hold lists and dicts (filters, stock overrides)."""
    return _KEY_ENCODER.encode(params)
