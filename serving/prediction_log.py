"""The prediction log: one JSON line per served entity (decision, model version, entity id, output, time).

Monitoring (``shopsense monitor``) reads it to compare what the service answered with what the model was trained
on, and, once outcomes have matured, with what happened. Only the record's flat scalar fields are kept (numbers,
short strings such as a risk band or a tier); nested reasons, item lists and anything named like personal data are
dropped, so the file holds no personal columns. Each batch is one ``os.write`` on an ``O_APPEND`` descriptor, so
several workers share one file. ``SHOPSENSE_PREDICTION_LOG=false`` turns it off.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FIELDS = ("ts", "decision", "model", "version", "entity_id", "output")
_PERSONAL = ("name", "phone", "email", "address", "ip", "device")
_MAX_STR = 64


def enabled(settings: Any) -> bool:
    """``settings.prediction_log`` (env ``SHOPSENSE_PREDICTION_LOG``, on by default)."""
    return bool(getattr(settings, "prediction_log", True))


def log_path(data_dir: Path, dataset: str) -> Path:
    """``<data_dir>/<dataset>/predictions/predictions.jsonl`` (beside the dataset's reports)."""
    return data_dir / dataset / "predictions" / "predictions.jsonl"


def output_of(record: dict[str, Any]) -> dict[str, Any]:
    """The record's flat scalar fields, minus ids and anything named like personal data."""
    out = {}
    for key, value in record.items():
        if key.startswith("_") or key == "status" or any(p in key.lower() for p in _PERSONAL):
            continue
        if (
            isinstance(value, bool | int | float)
            or value is None
            or (isinstance(value, str) and len(value) <= _MAX_STR)
        ):
            out[key] = value
    return out


def _append(path: Path, text: str) -> None:
    """One ``os.write`` on an ``O_APPEND`` descriptor: lines from several workers never interleave."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    try:
        fd = os.open(path, flags, 0o640)
    except FileNotFoundError:  # the first line (a mkdir on every request showed in profiles)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o640)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def record(settings: Any, decision: str, outcome: Any) -> None:
    """Append one line per ok record of ``outcome`` (a :class:`serving.runtime.Outcome`); never raises."""
    if not enabled(settings):
        return
    try:
        served = outcome.models.get(decision)
        path = log_path(settings.data_dir, settings.served_dataset)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
        lines = []
        for r in outcome.records:
            if r.get("status") != "ok":
                continue
            line = {"ts": ts, "decision": decision, "model": getattr(served, "name", None),
                    "version": getattr(served, "version", None), "entity_id": r.get("_id"), "output": output_of(r)}  # fmt: skip
            lines.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
        if lines:
            _append(path, "\n".join(lines) + "\n")
    except Exception:  # the log must never fail a request
        logger.exception("prediction log write failed")


def read(path: Path, decision: str | None = None) -> list[dict[str, Any]]:
    """Every line of the log (and its rotated ``.1`` ... files), optionally of one decision."""
    rows = []
    for file in sorted(path.parent.glob(path.name + "*")):
        for line in file.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if decision is None or row.get("decision") == decision:
                rows.append(row)
    return rows
