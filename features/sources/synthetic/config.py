"""The knobs of the synthetic world: how many users, SKUs and days, from which date, with which seed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

PresetName = Literal["default", "large", "tiny"]

_PRESETS: dict[str, dict[str, Any]] = {
    # The demo and the realism checks: two full years, every festival twice.
    "default": {"users": 20_000, "products": 2_000, "days": 730, "start_date": "2024-01-01"},
    # The scale test: >= 5M order lines; events thinned so the table stays within memory.
    "large": {"users": 200_000, "products": 5_000, "days": 730, "start_date": "2024-01-01", "event_rate": 0.2},
    # Unit tests: starts in September so 400 days cover a 双11, a 双12, a Spring Festival and a 618.
    "tiny": {"users": 1_500, "products": 200, "days": 400, "start_date": "2024-09-01"},
}


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines a synthetic world; the same config always yields the same tables.

    Attributes:
        seed: root of every random stream (one ``numpy.random.Generator``, spawned per component).
        users: genuine accounts (fake-review accounts come on top of these).
        products: SKUs in the catalogue.
        days: length of the simulated window.
        start_date: first simulated day; also the platform's opening (nothing happens before it).
        event_rate: multiplier on behaviour-event volume (views, carts, favourites); thinning keeps the events
            table affordable for large worlds without changing who buys what.
    """

    seed: int = 42
    users: int = 20_000
    products: int = 2_000
    days: int = 730
    start_date: str = "2024-01-01"
    event_rate: float = 1.0

    def __post_init__(self) -> None:
        if self.users < 50 or self.products < 20 or self.days < 30:
            raise ValueError("a synthetic world needs at least 50 users, 20 products and 30 days")
        if self.event_rate <= 0:
            raise ValueError("event_rate must be positive")
        pd.Timestamp(self.start_date)  # fail early on a malformed date

    @classmethod
    def preset(cls, name: PresetName, **overrides: Any) -> SynthConfig:
        """A named size (default, large, tiny); keyword overrides that are ``None`` are ignored.

        ``None`` is skipped so a CLI can pass its optional flags straight through.
        """
        if name not in _PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(_PRESETS)}")
        values = {**_PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(**values)

    @property
    def start(self) -> pd.Timestamp:
        """The first simulated day at midnight."""
        return pd.Timestamp(self.start_date).normalize()

    @property
    def end(self) -> pd.Timestamp:
        """The end of the window (exclusive): the snapshot moment of every status."""
        return self.start + pd.Timedelta(days=self.days)

    @property
    def start_ns(self) -> int:
        """The start as nanoseconds since the epoch, the unit every internal timestamp uses."""
        return int(self.start.value)

    def dates(self) -> pd.DatetimeIndex:
        """Every simulated calendar day."""
        return pd.date_range(self.start, periods=self.days, freq="D")

    def with_(self, **changes: Any) -> SynthConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for lineage and manifests."""
        return asdict(self)


def spawn(seed: int, names: list[str]) -> dict[str, np.random.Generator]:
    """Independent child generators per component, derived from one root generator.

    Naming the children keeps each component's stream stable when another component draws more or fewer numbers.
    """
    root = np.random.default_rng(seed)
    return dict(zip(names, root.spawn(len(names)), strict=True))
