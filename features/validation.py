"""Row-level validation of one raw table against the contract.

Every rejected row keeps its original values and gets a ``reason`` naming the rule and the column, so nothing is
lost and every rejection can be explained. Column-level rules (nulls, vocabularies, bounds) run through the
pandera schema derived from the contract; type coercion, the platform time window, timestamp ordering, duplicate
keys and foreign keys need context pandera does not have and are checked here. Tables arrive in chunks, so keys
seen in earlier chunks and in parent tables are kept as 64-bit hashes (:class:`KeySet`), 8 bytes a key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.errors as pa_errors

from features import columns as c
from features.contract import Column, Table, pandas_dtype, pandera_schema

logger = logging.getLogger(__name__)

PROVENANCE_COLUMNS: tuple[str, ...] = (c.SOURCE_FILE, c.SOURCE_ROW)
REASON_SEPARATOR = " | "
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
# Values the contract allows but a user should hear about: counted in the ingest summary, rows kept.
NOTICES: dict[str, tuple[tuple[str, str], ...]] = {
    "order_items": ((c.UNIT_PRICE, "unit_price is 0 on a sale (a free gift, or a data error?)"),),
}


@dataclass
class ValidationResult:
    """Accepted rows in contract dtypes; quarantined rows with their raw values and a ``reason``."""

    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    notices: dict[str, int] = field(default_factory=dict)
    key_hashes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))


class KeySet:
    """The keys accepted so far, as sorted runs of 64-bit hashes: memory follows the number of keys, not rows' width.

    Runs merge when a newer run is as long as the one before (a log-structured merge), so adding N keys in chunks
    costs O(N log N) overall and a lookup is a binary search per run. Two different keys share a hash with
    probability about n²/2^65 (10⁻⁶ at 6 million keys), which would quarantine a row as a duplicate.
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    @staticmethod
    def hashes(keys: pd.DataFrame) -> np.ndarray:
        """Hashes of key rows; the same values give the same hash in any table (column names do not count)."""
        arrays = [pd.util.hash_array(keys[col].to_numpy(), categorize=False) for col in keys.columns]
        combined = arrays[0]
        for more in arrays[1:]:
            combined = combined * np.uint64(1_000_003) ^ more  # wraps around modulo 2^64, as intended
        return combined

    def contains(self, hashed: np.ndarray) -> np.ndarray:
        """Which of ``hashed`` (from :meth:`hashes`) were added; probes are sorted so the searches stay in cache."""
        order = np.argsort(hashed, kind="stable")
        probes = hashed[order]
        found = np.zeros(len(hashed), dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, probes), len(run) - 1)
            found |= run[pos] == probes
        out = np.empty_like(found)
        out[order] = found
        return out

    def add(self, hashed: np.ndarray) -> None:
        run = _sorted_unique(hashed)
        while self._runs and len(self._runs[-1]) <= len(run):
            run = _sorted_unique(np.concatenate([self._runs.pop(), run]))  # two sorted runs: timsort merges them
        if len(run):
            self._runs.append(run)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    out = np.sort(values, kind="stable")
    return out[np.concatenate(([True], out[1:] != out[:-1]))] if len(out) else out


class _Reasons:
    """Collects reasons per row position, sparsely: a row may break several rules, most rows break none."""

    def __init__(self, n_rows: int) -> None:
        self.mask = np.zeros(n_rows, dtype=bool)
        self.by_row: dict[int, list[str]] = {}

    def add(self, mask: np.ndarray, reason: str) -> None:
        for pos in np.flatnonzero(mask):
            self.by_row.setdefault(int(pos), []).append(reason)
        self.mask |= mask

    def joined(self) -> list[str]:
        return [REASON_SEPARATOR.join(self.by_row[int(pos)]) for pos in np.flatnonzero(self.mask)]


def quarantine_frame(raw: pd.DataFrame, reasons: list[str] | str) -> pd.DataFrame:
    """Raw rows as text plus a reason: text keeps any value, even one of the wrong type, losslessly."""
    out = raw.copy()
    for name in out.columns:
        if name != c.SOURCE_ROW:
            out[name] = out[name].astype("string")
    out[c.REASON] = reasons
    return out.reset_index(drop=True)


def _coerce_column(col: Column, values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Convert raw values to the contract dtype; return the values and a mask of rows that would not convert."""
    present = values.notna().to_numpy()
    if col.dtype == "string":
        if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
            values = values.astype("Int64")
        out = values.astype("string").astype(object).where(present, None)
        return out, np.zeros(len(values), dtype=bool)
    if col.dtype in ("int", "float"):
        num = pd.to_numeric(values, errors="coerce")
        bad = present & num.isna().to_numpy()
        if col.dtype == "int":
            bad |= present & ~bad & (num.fillna(0) % 1 != 0).to_numpy()
            num = num.where(~bad)
            return (num.astype("Int64") if col.nullable else num.fillna(0).astype("int64")), bad
        return num.astype("float64"), bad
    if col.dtype == "bool":
        if pd.api.types.is_bool_dtype(values):
            return (values.astype("boolean") if col.nullable else values.astype(bool)), np.zeros(len(values), bool)
        text = values.astype("string").str.strip().str.lower()
        mapped = pd.Series(pd.NA, index=values.index, dtype="boolean")
        mapped[text.isin(_TRUE).fillna(False).to_numpy()] = True
        mapped[text.isin(_FALSE).fillna(False).to_numpy()] = False
        bad = present & mapped.isna().to_numpy()
        return (mapped if col.nullable else mapped.fillna(False).astype(bool)), bad
    return _coerce_time(col, values, present)


def _coerce_time(col: Column, values: pd.Series, present: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values.dt.tz_convert(None) if getattr(values.dt, "tz", None) is not None else values
    else:
        ts = pd.to_datetime(values, errors="coerce", format="mixed")
    ts = ts.astype("datetime64[ns]")
    bad = present & ts.isna().to_numpy()
    if col.dtype == "date":
        ts = ts.dt.normalize()
    return ts, bad


_CHECK_WORDS = {
    "isin": "value: {col} must be one of the allowed values",
    "greater_than_or_equal_to": "range: {col} must be >= {arg}",
    "greater_than": "range: {col} must be > {arg}",
    "less_than_or_equal_to": "range: {col} must be <= {arg}",
    "not_nullable": "null: {col} is required",
}


def _pandera_reason(check: str, column: str) -> str:
    match = re.match(r"(\w+)\((.*)\)", str(check))
    name, arg = (match.group(1), match.group(2)) if match else (str(check), "")
    template = _CHECK_WORDS.get(name, "rule: {col} failed " + str(check))
    return template.format(col=column, arg=arg)


def _column_rules(spec: Table, typed: pd.DataFrame, reasons: _Reasons, type_bad: dict[str, np.ndarray]) -> None:
    """Nulls, vocabularies and bounds through the contract's pandera schema, one reason per failure case.

    A value that failed its type conversion is null now; it is reported as a type error only, not also as null.
    """
    try:
        pandera_schema(spec.name).validate(typed, lazy=True)
    except pa_errors.SchemaErrors as err:
        cases = err.failure_cases.dropna(subset=["index"])
        for (column, check), group in cases.groupby(["column", "check"], sort=False):
            mask = np.zeros(len(typed), dtype=bool)
            mask[group["index"].astype(int).to_numpy()] = True
            if column in type_bad:
                mask &= ~type_bad[column]
            reasons.add(mask, _pandera_reason(check, column))


def _time_rules(
    spec: Table, typed: pd.DataFrame, reasons: _Reasons, opened_at: pd.Timestamp, now: pd.Timestamp
) -> None:
    for col in spec.columns:
        if not col.in_platform_time:
            continue
        ts = typed[col.name]
        reasons.add((ts < opened_at).to_numpy(), f"time: {col.name} before the platform opened ({opened_at:%Y-%m-%d})")
        reasons.add((ts > now).to_numpy(), f"time: {col.name} is in the future")
    for rule in spec.not_before:
        later, earlier = typed[rule.later], typed[rule.earlier]
        reasons.add((later < earlier).to_numpy(), f"order: {rule.later} is earlier than {rule.earlier}")


def _key_rules(
    spec: Table,
    typed: pd.DataFrame,
    reasons: _Reasons,
    parent_keys: Mapping[tuple[str, str], KeySet],
    seen: KeySet | None,
) -> np.ndarray:
    """Duplicate keys among otherwise valid rows (first wins, across chunks), then foreign keys against parents.

    Returns the primary-key hashes of all rows, so the caller can remember the accepted ones without rehashing.
    """
    valid_positions = np.flatnonzero(~reasons.mask)
    key_hashes = KeySet.hashes(typed[list(spec.primary_key)])
    valid_hashes = key_hashes[valid_positions]
    _, first = np.unique(valid_hashes, return_index=True)
    repeats = np.ones(len(valid_hashes), dtype=bool)
    repeats[first] = False
    if seen is not None and len(valid_hashes):
        repeats |= seen.contains(valid_hashes)
    dup = np.zeros(len(typed), dtype=bool)
    dup[valid_positions[repeats]] = True
    reasons.add(dup, f"duplicate key: ({', '.join(spec.primary_key)}) repeats an earlier row")
    for fk in spec.foreign_keys:
        keys = parent_keys.get((fk.ref_table, fk.ref_column))
        if keys is None:
            continue
        present = typed[fk.column].notna().to_numpy()
        missing = np.zeros(len(typed), dtype=bool)
        missing[present] = ~keys.contains(KeySet.hashes(typed.loc[present, [fk.column]]))
        reasons.add(missing, f"foreign key: {fk.column} not found in {fk.ref_table}.{fk.ref_column}")
    return key_hashes


def _shape_problem(spec: Table, raw: pd.DataFrame) -> str | None:
    """Whole-table problems: columns the contract does not know, or required columns that are missing."""
    data_cols = [name for name in raw.columns if name not in PROVENANCE_COLUMNS]
    unknown = [name for name in data_cols if name not in spec.column_names]
    if unknown:
        return f"unknown column(s) {', '.join(map(repr, unknown))} for table {spec.name}; expected: {', '.join(spec.column_names)}"
    missing = [col.name for col in spec.columns if not col.nullable and col.name not in raw.columns]
    if missing:
        return f"missing required column(s) {', '.join(map(repr, missing))} in table {spec.name}"
    return None


def validate_table(
    spec: Table,
    raw: pd.DataFrame,
    opened_at: pd.Timestamp,
    now: pd.Timestamp,
    parent_keys: Mapping[tuple[str, str], KeySet],
    seen: KeySet | None = None,
) -> ValidationResult:
    """Split ``raw`` (one chunk of a table) into rows that meet the contract and rows that do not (with the reason).

    ``parent_keys`` maps (table, column) to the accepted keys of tables validated earlier, so foreign keys
    point only at rows that made it into the lake; ``seen`` holds the keys accepted from this table's earlier
    chunks (the caller adds this chunk's accepted keys after the call).
    """
    raw = raw.reset_index(drop=True)
    problem = _shape_problem(spec, raw)
    if problem is not None:
        logger.warning("table %s rejected whole: %s", spec.name, problem)
        return ValidationResult(_empty(spec), quarantine_frame(raw, problem))
    reasons = _Reasons(len(raw))
    typed = pd.DataFrame(index=raw.index)
    type_bad: dict[str, np.ndarray] = {}
    for col in spec.columns:
        if col.name not in raw.columns:
            typed[col.name] = pd.Series(index=raw.index, dtype=pandas_dtype(col))
            continue
        typed[col.name], type_bad[col.name] = _coerce_column(col, raw[col.name])
        reasons.add(type_bad[col.name], f"type: {col.name} expects {col.dtype}")
    _column_rules(spec, typed, reasons, type_bad)
    _time_rules(spec, typed, reasons, opened_at, now)
    key_hashes = _key_rules(spec, typed, reasons, parent_keys, seen)
    bad = reasons.mask
    quarantined = quarantine_frame(raw[bad], reasons.joined())
    accepted = typed[~bad].reset_index(drop=True)
    return ValidationResult(accepted, quarantined, _notices(spec, accepted), key_hashes[~bad])


def _notices(spec: Table, accepted: pd.DataFrame) -> dict[str, int]:
    counts = {text: int((accepted[col] == 0).sum()) for col, text in NOTICES.get(spec.name, ())}
    return {text: n for text, n in counts.items() if n}


def _empty(spec: Table) -> pd.DataFrame:
    return pd.DataFrame({col.name: pd.Series(dtype=pandas_dtype(col)) for col in spec.columns})
