"""`shopsense serve` on a dataset without champions: one sentence per decision with the command that creates it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def test_serve_without_champions_names_the_train_command(tmp_path: Path) -> None:
    env = dict(os.environ, SHOPSENSE_DATA_DIR=str(tmp_path), BENTOML_DO_NOT_TRACK="True")
    done = subprocess.run(
        [sys.executable, "-m", "training.cli", "serve", "--dataset", "shop_x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, output
    assert "Traceback" not in output and "MlflowException" not in output
    assert "shopsense train churn --dataset shop_x" in output
    assert "shopsense-churn-shop_x" in output
