"""The synthetic e-commerce world: a seeded simulation of a Chinese marketplace with its ground truth.

Use :func:`generate` with a :class:`SynthConfig` (or ``SynthConfig.preset("default" | "large" | "tiny")``).
"""

from features.sources.synthetic.calendar import SPRING_FESTIVAL
from features.sources.synthetic.config import SynthConfig
from features.sources.synthetic.world import generate

__all__ = ["SPRING_FESTIVAL", "SynthConfig", "generate"]
