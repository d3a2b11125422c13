"""The carparts panel as the published protocol reads it: 2,509 complete monthly series of 51 months."""

from __future__ import annotations

import pytest

from features import columns as c
from features.sources.carparts import FILE, load_panel

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
