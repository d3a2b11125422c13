"""The retraining notebooks run top to bottom on the tiny world (they are documentation that must not rot).

They are executed once, in the registry's dependency order and in one data dir, by the session fixture
``notebook_world`` (tests/model/conftest.py); the report tests reuse the champions they registered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.model.conftest import notebook_paths

pytestmark = [pytest.mark.model, pytest.mark.integration, pytest.mark.slow]


def _better(new: float, before: float | None, direction: str) -> bool:
    return before is None or (new > before if direction == "higher" else new < before)


def test_there_is_a_notebook_per_decision() -> None:
    from training import decisions

    assert {p.stem.removesuffix("_retraining") for p in notebook_paths()} == set(decisions.DECISION_NAMES)


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebook_executes_and_its_model_passes(path: Path, notebook_world) -> None:
    assert path.stem not in notebook_world.errors, notebook_world.errors.get(path.stem)
    notebook = notebook_world.executed[path.stem]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o for o in outputs if "text/html" in o.get("data", {})]
    assert html, "the notebook shows tables / the action list"
    summary = notebook_world.results[path.stem.removesuffix("_retraining")]
    assert summary["checks"] and all(summary["checks"].values()), summary  # e.g. the model beats its baselines
    promoted = _better(summary["new_score"], summary["champion_score_before"], summary["direction"])
    assert summary["alias"] == ("champion" if promoted else "challenger")  # the gate's verdict is the right one
