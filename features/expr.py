"""Small Ibis helpers shared by the feature modules (written once so DuckDB and PySpark agree on them)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

SECONDS_PER_DAY = 86400.0


def as_of_literal(as_of: pd.Timestamp) -> ir.TimestampScalar:
    """The cutoff as an Ibis timestamp literal (naive, read as UTC by both engines)."""
    return ibis.timestamp(pd.Timestamp(as_of).to_pydatetime())


def days_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """Fractional days from ``earlier`` to ``later`` via epoch seconds, which both engines compute the same way."""
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / SECONDS_PER_DAY


def flag(condition: ir.BooleanValue) -> ir.FloatingValue:
    """1.0 where the condition holds, else 0.0 (null counts as false), for conditional sums and means.

    Integer literals cast to float: Spark types float literals as DECIMAL, which would round a mean.
    """
    return ibis.ifelse(condition.fill_null(False), 1, 0).cast("float64")


def safe_ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """numerator / denominator, null where the denominator is zero or null (no information, not zero)."""
    den = denominator.cast("float64")
    return ibis.ifelse(den.fill_null(0.0) == 0.0, ibis.null("float64"), numerator.cast("float64") / den)


def epoch_second(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since the epoch (int64): an ordering key both engines agree on exactly.

    DuckDB's epoch keeps sub-second fractions and Spark's drops them, so range windows keyed on the raw epoch
    would treat near-simultaneous rows differently; truncating first makes them identical.
    """
    return ts.truncate("s").epoch_seconds().cast("int64")


def sum_before(
    value: ir.NumericValue,
    group_by: list[str],
    key: ir.IntegerValue,
    within: int | None = None,
) -> ir.NumericValue:
    """Window sum of ``value`` over earlier rows of the same group: ``key - within <= key' < key``.

    Rows sharing this row's key (simultaneous rows, the row itself) are excluded by subtracting their sum, so
    the result never depends on how an engine orders ties. ``within=None`` means all earlier rows.
    """
    frame = ibis.window(group_by=group_by, order_by=key, range=(None if within is None else -within, 0))
    ties = ibis.window(group_by=[*group_by, key])
    return value.sum().over(frame) - value.sum().over(ties)
