"""``shopsense serve --build``: the Bento pins the synced champions and takes its packages from uv.lock."""

from __future__ import annotations

import pytest
import yaml

from training.cli_serve import build_bento

pytestmark = [pytest.mark.serving, pytest.mark.slow]


def test_bento_carries_the_champions_and_the_locked_runtime_packages(world) -> None:
    import bentoml

    tag = build_bento(world.settings, ["ltv", "tiering", "churn"])
    bento = bentoml.get(tag)
    with open(bento.path_of("bento.yaml")) as handle:
        info = yaml.safe_load(handle)
    models = {m["tag"].split(":")[0]: m["tag"] for m in info["services"][0]["models"]}
    stored = {name: bentoml.models.get(f"{name}:latest") for name in models}
    assert set(models) == {"shopsense-churn", "shopsense-tiering", "shopsense-ltv"}
    for name, pinned in models.items():
        assert pinned == str(stored[name].tag)
        assert stored[name].info.labels["alias"] == "champion"
    with open(bento.path_of("env/python/requirements.txt")) as handle:
        requirements = handle.read().lower()
    assert "lightgbm==" in requirements and "feast==" in requirements
    assert "pytest==" not in requirements and "pyspark==" not in requirements  # dev group left out
