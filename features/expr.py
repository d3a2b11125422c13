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
    """1.0 where the condition holds, else 0.0 (null counts as false), for conditional sums."""
    return ibis.ifelse(condition.fill_null(False), 1.0, 0.0)


def safe_ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """numerator / denominator, null where the denominator is zero or null (no information, not zero)."""
    den = denominator.cast("float64")
    return ibis.ifelse(den.fill_null(0.0) == 0.0, ibis.null("float64"), numerator.cast("float64") / den)
