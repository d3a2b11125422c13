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


def test_demo_starts_serving_with_plain_arguments(monkeypatch) -> None:
    """`shopsense demo` calls the serve command as a function: no parameter may be left at typer's OptionInfo."""
    import inspect

    from typer.testing import CliRunner

    from training import cli, cli_serve, demo

    called: dict = {}
    parameters = set(inspect.signature(cli_serve.serve).parameters)
    monkeypatch.setattr(demo, "run_demo", lambda settings, preset, seed: {"world": 0.0})
    monkeypatch.setattr(cli_serve, "serve", lambda **kwargs: called.update(kwargs))
    result = CliRunner().invoke(cli.app, ["demo"])
    assert result.exit_code == 0, result.output
    assert set(called) == parameters
    assert called["dataset"] is None and called["port"] == 3000


def test_printed_curl_call_uses_users_of_the_served_dataset(tmp_path: Path, monkeypatch, capsys) -> None:
    """The banner's example must answer `ok` on a shop's own data, not name synthetic ids it does not have."""
    import pandas as pd

    from features.settings import Settings
    from training import cli_serve

    monkeypatch.setenv("SHOPSENSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPSENSE_SERVING_DATASET", "shop97")
    settings = Settings()
    lake = settings.dataset("shop97").lake
    lake.mkdir(parents=True)
    pd.DataFrame({"user_id": ["17850", "13047", "12583"]}).to_parquet(lake / "users.parquet")
    monkeypatch.setattr(cli_serve.console, "width", 400)
    cli_serve.print_usage(settings, "127.0.0.1", 3000)
    assert '"user_ids": ["17850", "13047"]' in capsys.readouterr().out
