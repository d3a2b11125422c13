"""The Chinese e-commerce calendar for features: 618, 双11, 双12 and the Spring Festival, 1970-2099.

Kept apart from the synthetic generator's own calendar (features/sources/synthetic/) on purpose: features must
describe any dataset's days the same way, whatever world produced them. The calendar is built in pandas (the
lunar dates are not arithmetic) and handed to Ibis as a small table, so DuckDB and PySpark join the same rows.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from lunardate import LunarDate

from features import columns as c

SECONDS_PER_DAY = 86_400
FIRST_YEAR, LAST_YEAR = 1970, 2099  # 1970: the lake's history floor; 2099: lunardate's last year

# 春节 (lunar new year's day, 初一) from a maintained lunisolar calendar (lunardate covers 1900-2099), so a shop
# whose history starts in the 1990s gets the same features as one from the 2020s.
# The holiday week: 除夕 (eve, day -1) through 初六 (day +5), the classic seven-day statutory break.
SPRING_HOLIDAY_OFFSETS = range(-1, 6)

# Fixed-date shopping festivals: (month, day) of the peak day.
FIXED_FESTIVALS: dict[str, tuple[int, int]] = {"618": (6, 18), "double11": (11, 11), "double12": (12, 12)}

CALENDAR_START = pd.Timestamp(f"{FIRST_YEAR}-01-01")

# calendar-table columns
DAY = "day"
DAY_OF_WEEK = "day_of_week"
IS_WEEKEND = "is_weekend"
IS_618 = "is_618"
IS_DOUBLE11 = "is_double11"
IS_DOUBLE12 = "is_double12"
IS_SPRING_FESTIVAL = "is_spring_festival"
DAYS_TO_NEXT_FESTIVAL = "days_to_next_festival"
CALENDAR_FEATURES = (
    DAY_OF_WEEK,
    IS_WEEKEND,
    IS_618,
    IS_DOUBLE11,
    IS_DOUBLE12,
    IS_SPRING_FESTIVAL,
    DAYS_TO_NEXT_FESTIVAL,
)


def spring_festival(year: int) -> pd.Timestamp | None:
    """Lunar new year's day of ``year`` (None outside the calendar's years)."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return None
    return pd.Timestamp(LunarDate(year, 1, 1).to_solar_date())


def spring_holiday(year: int) -> pd.DatetimeIndex:
    """The Spring Festival holiday week of ``year`` (empty outside the calendar's years)."""
    sf = spring_festival(year)
    if sf is None:
        return pd.DatetimeIndex([])
    return pd.DatetimeIndex([sf + pd.Timedelta(days=d) for d in SPRING_HOLIDAY_OFFSETS])


def festival_days(first_year: int, last_year: int) -> pd.DatetimeIndex:
    """Peak days of 618, 双11, 双12 and 春节 in the given years, sorted."""
    days = [pd.Timestamp(year, m, d) for year in range(first_year, last_year + 1) for m, d in FIXED_FESTIVALS.values()]
    days += [sf for year in range(first_year, last_year + 1) if (sf := spring_festival(year)) is not None]
    return pd.DatetimeIndex(sorted(days))


def day_index(ds: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of naive timestamps, the integer day key the Ibis side joins on."""
    return (pd.DatetimeIndex(ds).normalize().asi8 // (SECONDS_PER_DAY * 10**9)).astype("int64")


def calendar_frame(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """One row per day in [start, end): day key, ``ds`` and the calendar features.

    Flags are peak days only (the campaign windows come from the promotions table); day_of_week is 0 = Monday;
    days_to_next_festival is 0 on a festival day. After 2099 only the fixed-date festivals are known.
    """
    ds = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end), freq="D", inclusive="left")
    fests = festival_days(ds[0].year if len(ds) else FIRST_YEAR, (ds[-1].year if len(ds) else FIRST_YEAR) + 1)
    next_pos = np.searchsorted(fests.asi8, ds.asi8, side="left")
    holiday = pd.DatetimeIndex([d for y in sorted(set(ds.year)) for d in spring_holiday(y)])
    frame = pd.DataFrame({DAY: day_index(ds), c.DS: ds.astype("datetime64[ns]")})
    frame[DAY_OF_WEEK] = ds.dayofweek.astype("int64")
    frame[IS_WEEKEND] = (ds.dayofweek >= 5).astype("int64")
    for column, (month, day) in zip((IS_618, IS_DOUBLE11, IS_DOUBLE12), FIXED_FESTIVALS.values(), strict=True):
        frame[column] = ((ds.month == month) & (ds.day == day)).astype("int64")
    frame[IS_SPRING_FESTIVAL] = ds.isin(holiday).astype("int64")
    frame[DAYS_TO_NEXT_FESTIVAL] = ((fests[next_pos] - ds).days).astype("int64")
    return frame


def calendar_table(start: pd.Timestamp, end: pd.Timestamp) -> ir.Table:
    """:func:`calendar_frame` as an Ibis in-memory table (registered by whichever backend executes it)."""
    return ibis.memtable(calendar_frame(start, end))


def day_number(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Days since 1970-01-01 of a timestamp column (UTC), the same integer on DuckDB and PySpark."""
    return (ts.epoch_seconds() // SECONDS_PER_DAY).cast("int64")
