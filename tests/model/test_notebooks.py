"""The retraining notebooks run top to bottom on the tiny world (they are documentation that must not rot).

Notebooks share one data dir and run in the registry's dependency order, so the churn notebook finds the LTV and
tiering champions the earlier notebooks registered instead of training them again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

from training import decisions

pytestmark = [pytest.mark.model, pytest.mark.integration, pytest.mark.slow]

FOLDER = Path(__file__).resolve().parents[2] / "notebooks"
ORDER = [s.name for s in decisions.all_specs()]


def _rank(path: Path) -> int:
    name = path.stem.removesuffix("_retraining")
    return ORDER.index(name) if name in ORDER else len(ORDER)


NOTEBOOKS = sorted(FOLDER.glob("*.py"), key=lambda p: (_rank(p), p.name))


@pytest.fixture(scope="module")
def notebook_dir(tiny_world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("notebooks")
    shutil.copytree(tiny_world.lake, root / "synthetic" / "lake")
    return root


def _better(new: float, before: float | None, direction: str) -> bool:
    return before is None or (new > before if direction == "higher" else new < before)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, notebook_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSENSE_DATA_DIR", str(notebook_dir))
    notebook = jupytext.read(path)
    decision = next(c.source for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(notebook_dir)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    results = json.loads((notebook_dir / "notebook_result.json").read_text())
    name = decision.split('DECISION = "')[1].split('"')[0]
    summary = results[name]
    assert summary["checks"] and all(summary["checks"].values()), summary  # e.g. the model beats every baseline
    promoted = _better(summary["new_score"], summary["champion_score_before"], summary["direction"])
    assert summary["alias"] == ("champion" if promoted else "challenger")  # the gate's verdict is the right one
