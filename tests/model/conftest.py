"""Fixtures shared by the model tests: the tiny world trained once, by the retraining notebooks themselves.

Running the six notebooks (in the registry's dependency order, in one data dir) trains every decision once; the
notebook tests assert on what they recorded and the report tests build their pages on the champions they left,
so CI trains the tiny world once for both.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass
class NotebookWorld:
    """The data dir the notebooks trained in, what each recorded, and the error of any that failed."""

    root: Path
    results: dict[str, dict] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    executed: dict[str, object] = field(default_factory=dict)  # notebook stem -> executed nbformat notebook


def notebook_paths() -> list[Path]:
    """Every ``*_retraining.py`` notebook, upstream decisions first (churn reads LTV and tiering)."""
    from training import decisions

    order = [s.name for s in decisions.all_specs()]

    def rank(path: Path) -> int:
        name = path.stem.removesuffix("_retraining")
        return order.index(name) if name in order else len(order)

    return sorted(NOTEBOOKS.glob("*_retraining.py"), key=lambda p: (rank(p), p.name))


@pytest.fixture(scope="session")
def notebook_world(tiny_world, tmp_path_factory: pytest.TempPathFactory):
    """Execute every notebook top to bottom on a copy of the tiny world (settings point at it meanwhile)."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from features.settings import get_settings

    root = tmp_path_factory.mktemp("notebook_world")
    shutil.copytree(tiny_world.lake, root / "synthetic" / "lake")
    world = NotebookWorld(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOPSENSE_DATA_DIR", str(root))
        get_settings.cache_clear()
        for path in notebook_paths():
            notebook = jupytext.read(path)
            client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                                    resources={"metadata": {"path": str(root)}})  # fmt: skip
            try:
                client.execute()
            except CellExecutionError as err:
                world.errors[path.stem] = str(err)[-3000:]
            world.executed[path.stem] = notebook
        results = root / "notebook_result.json"
        world.results = json.loads(results.read_text()) if results.exists() else {}
        yield world
    get_settings.cache_clear()
