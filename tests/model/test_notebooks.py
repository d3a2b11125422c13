"""The retraining notebooks run top to bottom on the tiny world (they are documentation that must not rot)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.model, pytest.mark.integration, pytest.mark.slow]

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, tiny_world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(tiny_world.lake, tmp_path / "synthetic" / "lake")
    monkeypatch.setenv("SHOPSENSE_DATA_DIR", str(tmp_path))
    notebook = jupytext.read(path)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    summary = json.loads((tmp_path / "notebook_result.json").read_text())
    assert summary["roc_auc"] > summary["best_baseline_roc_auc"]  # the retrained model beats every baseline
    assert summary["alias"] == "champion"  # first version on a fresh store: the gate must promote it
