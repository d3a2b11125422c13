"""The serving hot path without HTTP: models and the online reader loaded once, one call per batch of jobs.

``Runtime.run(jobs)`` does for a list of requests what each would do alone (one online lookup, one tiering call,
one churn call, reasons only for the rows that asked), so the service can coalesce concurrent requests into one
model call without changing any answer. Unknown ids (the store has no row: ``known == False``) are never scored:
they come back with ``status: unknown_user`` and null predictions.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features import columns as c
from features.settings import Settings, get_settings
from features.store.layout import KNOWN
from models.tiering import TIER_LABELS_EN
from serving.model_store import ServedModel
from training.pyfunc import TIER

logger = logging.getLogger(__name__)

OK, UNKNOWN = "ok", "unknown_user"


class InvalidInput(ValueError):
    """A request the models cannot score (e.g. a feature row without a model feature); ``loc`` names the field."""

    def __init__(self, loc: list[Any], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


@dataclass
class Job:
    """One request: ids to look up (or a ready feature frame), which decision, and whether to explain."""

    decision: str  # "churn" | "tier"
    ids: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = None  # feature rows given by the caller (then ids are their optional user ids)
    explain: bool = False
    top_k: int = 3

    @property
    def size(self) -> int:
        return len(self.ids) if self.frame is None else len(self.frame)


@dataclass
class Outcome:
    """Per-user records of one job, in request order, plus the model refs that produced them."""

    records: list[dict[str, Any]]
    models: dict[str, ServedModel]


class Runtime:
    """Both decision models and the online feature reader, shared by the threads of one worker process."""

    def __init__(self, churn: ServedModel, tiering: ServedModel, reader: Any) -> None:
        self.churn = churn
        self.tiering = tiering
        self.reader = reader
        self._lock = threading.Lock()
        self._configure(churn, tiering)

    def _configure(self, churn: ServedModel, tiering: ServedModel) -> None:
        """The columns both models need and the fewest feature services that provide them."""
        self.columns = list(dict.fromkeys([*churn.model.feature_names, *tiering.model.feature_names]))
        services = list(dict.fromkeys([churn.model.feature_service, tiering.model.feature_service]))
        layouts = {service: self.reader.layout(service) for service in services}  # resolved now, not per request
        missing = {n for n in self.columns if not any(n in lay.columns for lay in layouts.values())}
        if missing:
            raise ValueError(f"feature services {services} do not provide {sorted(missing)}")
        # Services with the same views (churn_v1 and tiering_v1 are both the user view) are looked up once.
        self._lookups = list({tuple(v.name for v in lay.views): s for s, lay in layouts.items()}.values())

    @classmethod
    def open_reader(cls, settings: Settings | None = None) -> Any:
        """The online reader of the serving dataset (fast SQLite path when configured and possible)."""
        from features.store import OnlineFeatureReader

        settings = settings or get_settings()
        paths = settings.dataset(settings.serving_dataset or settings.default_dataset)
        fast = settings.serving_fast_reader and settings.online_store == "sqlite"
        return OnlineFeatureReader(paths, settings=settings, fast=fast)

    def models(self) -> dict[str, ServedModel]:
        return {"churn": self.churn, "tiering": self.tiering}

    def swap(self, churn: ServedModel, tiering: ServedModel) -> None:
        """Replace both models at once (reload); in-flight batches finish on the models they started with."""
        with self._lock:
            self._configure(churn, tiering)
            self.churn, self.tiering = churn, tiering

    # -- features -------------------------------------------------------------------------------------------------

    def _lookup(self, ids: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
        """Features of ``ids`` as one float64 block in model column order, and the known mask."""
        known = np.ones(len(ids), dtype=bool)
        matrix = np.empty((len(ids), len(self.columns)), dtype=np.float64)
        filled: set[str] = set()
        for service in self._lookups:
            frame = self.reader.get(service, ids)
            known &= frame[KNOWN].to_numpy(dtype=bool)
            for j, name in enumerate(self.columns):
                if name not in filled and name in frame.columns:
                    matrix[:, j] = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
                    filled.add(name)
        return pd.DataFrame(matrix, columns=self.columns), known

    def rows_frame(self, rows: Sequence[dict[str, float | None]]) -> pd.DataFrame:
        """Caller-given feature rows as the float64 frame the models take; every model feature must be present."""
        columns = set(self.columns)
        for i, row in enumerate(rows):
            missing = [name for name in self.columns if name not in row]
            unknown = sorted(set(row) - columns)
            if missing:
                raise InvalidInput(["rows", i, "features", missing[0]], f"missing feature(s): {', '.join(missing)}")
            if unknown:
                raise InvalidInput(["rows", i, "features", unknown[0]], f"unknown feature(s): {', '.join(unknown)}")
        matrix = np.array([[np.nan if r[n] is None else r[n] for n in self.columns] for r in rows], dtype=np.float64)
        return pd.DataFrame(matrix, columns=self.columns)

    def _features(self, jobs: list[Job]) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
        """All jobs' rows stacked (lookups in one call), the known mask and each job's start offset."""
        lookup_ids = [i for job in jobs if job.frame is None for i in job.ids]
        looked, looked_known = self._lookup(lookup_ids) if lookup_ids else (None, np.zeros(0, dtype=bool))
        frames, known, starts, at, pos = [], [], [], 0, 0
        for job in jobs:
            starts.append(at)
            if job.frame is None:
                frames.append(looked.iloc[pos : pos + job.size])
                known.append(looked_known[pos : pos + job.size])
                pos += job.size
            else:
                frames.append(job.frame)
                known.append(np.ones(job.size, dtype=bool))
            at += job.size
        stacked = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return stacked.reset_index(drop=True), np.concatenate(known), starts

    # -- decisions ------------------------------------------------------------------------------------------------

    def run(self, jobs: list[Job]) -> list[Outcome]:
        """Score every job; equivalent to scoring each job alone (every score is per user)."""
        with self._lock:
            churn, tiering = self.churn, self.tiering
        frame, known, starts = self._features(jobs)
        scored = np.flatnonzero(known)
        x = frame.iloc[scored].reset_index(drop=True)
        tiers = tiering.model.decide(x) if len(x) else None
        churn_rows = self._churn_rows(jobs, starts, scored, len(frame))
        churn_out = self._churn(churn, x, tiers, churn_rows, jobs)
        position = np.full(len(frame), -1)
        position[scored] = np.arange(len(scored))
        outcomes = []
        for job, start in zip(jobs, starts, strict=True):
            rows = position[start : start + job.size]
            if job.decision == "tier":
                records = _tier_records(job, rows, tiers)
                outcomes.append(Outcome(records, {"tiering": tiering}))
            else:
                records = _churn_records(job, rows, churn_out, tiers)
                outcomes.append(Outcome(records, {"churn": churn, "tiering": tiering}))
        return outcomes

    @staticmethod
    def _churn_rows(jobs: list[Job], starts: list[int], scored: np.ndarray, total: int) -> dict[bool, np.ndarray]:
        """Positions (in the scored frame) of churn rows without and with reasons."""
        want = np.zeros(total, dtype=np.int8)  # 0: not a churn row, 1: plain, 2: with reasons
        for job, start in zip(jobs, starts, strict=True):
            if job.decision == "churn":
                want[start : start + job.size] = 2 if job.explain else 1
        flags = want[scored]
        return {False: np.flatnonzero(flags == 1), True: np.flatnonzero(flags == 2)}

    @staticmethod
    def _churn(
        churn: ServedModel, x: pd.DataFrame, tiers: pd.DataFrame | None, rows: dict[bool, np.ndarray], jobs: list[Job]
    ) -> dict[int, dict[str, Any]]:
        """Churn decisions keyed by scored-row position; one model call without and one with reasons."""
        out: dict[int, dict[str, Any]] = {}
        top_k = max((job.top_k for job in jobs if job.decision == "churn" and job.explain), default=0)
        for explain, positions in rows.items():
            if not len(positions):
                continue
            part = x.iloc[positions].assign(**{TIER: tiers[TIER].to_numpy()[positions]})
            decided = churn.model.decide(part, explain=explain, top_k=max(top_k, 1))
            for pos, record in zip(positions.tolist(), decided.to_dict("records"), strict=True):
                out[pos] = record
        return out


def _tier_records(job: Job, rows: np.ndarray, tiers: pd.DataFrame | None) -> list[dict[str, Any]]:
    """R/F/M come from the tiering model's fitted cut points, so they do not depend on the rest of the batch."""
    records = []
    for user_id, pos in zip(_job_ids(job), rows.tolist(), strict=True):
        if pos < 0:
            records.append({c.USER_ID: user_id, "status": UNKNOWN})
            continue
        t = tiers.iloc[pos]
        r, f, m = int(t["r_score"]), int(t["f_score"]), int(t["m_score"])
        records.append(
            {
                c.USER_ID: user_id, "status": OK, "tier": t[TIER], "tier_zh": t["tier_zh"],
                "tier_en": TIER_LABELS_EN.get(t[TIER], t[TIER]), "r_score": r, "f_score": f, "m_score": m,
                "predicted_ltv": float(t["predicted_ltv"]),
            }
        )  # fmt: skip
    return records


def _churn_records(
    job: Job, rows: np.ndarray, decided: dict[int, dict[str, Any]], tiers: pd.DataFrame | None
) -> list[dict[str, Any]]:
    records = []
    for user_id, pos in zip(_job_ids(job), rows.tolist(), strict=True):
        if pos < 0:
            records.append({c.USER_ID: user_id, "status": UNKNOWN})
            continue
        d = decided[pos]
        reasons = json.loads(d["reasons"])[: job.top_k] if job.explain else []
        records.append(
            {
                c.USER_ID: user_id, "status": OK, "churn_probability": float(d["churn_probability"]),
                "risk_band": d["risk_band"], "predicted_ltv": float(d["predicted_ltv"]),
                "value_at_risk": float(d["value_at_risk"]), "tier": tiers[TIER].iat[pos],
                "recall_action": {
                    "code": d["recall_action"], "label_zh": d["recall_label_zh"], "label_en": d["recall_label_en"],
                    "channel": d["recall_channel"],
                },
                "reasons": reasons,
            }
        )  # fmt: skip
    return records


def _job_ids(job: Job) -> list[str | None]:
    return list(job.ids) if len(job.ids) == job.size else [None] * job.size
