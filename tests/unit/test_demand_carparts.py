"""carparts as the published protocol reads it, and through the lake as monthly SKU sales."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import columns as c
from features.settings import DatasetPaths
from features.sources import carparts
from features.sources.carparts import FILE, load_panel
from training.demand_data import load_monthly_sales, sales_frequency

pytestmark = pytest.mark.realdata


def test_carparts_panel_matches_the_protocol(shared_dataset) -> None:
    panel = load_panel(shared_dataset("carparts") / FILE)
    sizes = panel.groupby(c.UNIQUE_ID).size()
    assert len(sizes) == 2509 and (sizes == 51).all()
    assert panel[c.DS].min().strftime("%Y-%m") == "1998-01" and panel[c.DS].max().strftime("%Y-%m") == "2002-03"
    assert panel[c.Y].notna().all() and (panel[c.Y] >= 0).all()
    assert 0.7 < (panel[c.Y] == 0).mean() < 0.8  # intermittent
    everything = load_panel(shared_dataset("carparts") / FILE, drop_missing=False)
    assert everything[c.UNIQUE_ID].nunique() == 2674


def test_lake_round_trip_gives_back_the_protocol_panel(shared_dataset, tmp_path: Path) -> None:
    """Ingested as guest order lines at month starts, read back as monthly data: the same 2,509 x 51 panel."""
    from features import lake

    batch = carparts.load(shared_dataset("carparts") / FILE)
    rejected = batch.rejected["order_items"]
    assert (rejected[c.REASON] == carparts.REASON_MISSING).all() and len(rejected) > 0
    assert batch.tables["order_items"][c.QUANTITY].gt(0).all()
    paths = DatasetPaths("carparts", tmp_path / "carparts")
    lake.ingest(batch, paths, progress=False)
    assert sales_frequency(paths) == "MS"
    back = load_monthly_sales(paths).sort_values([c.UNIQUE_ID, c.DS], ignore_index=True)
    panel = load_panel(shared_dataset("carparts") / FILE)
    pd.testing.assert_frame_equal(back[[c.UNIQUE_ID, c.DS, c.Y]], panel[[c.UNIQUE_ID, c.DS, c.Y]])
