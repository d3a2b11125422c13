"""The decision registry: dependency order, what a dataset lacks said in one sentence, CLI and routes from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from training import decisions, runner
from training.cli import app

pytestmark = pytest.mark.unit


def test_dependencies_come_first() -> None:
    names = [s.name for s in decisions.in_dependency_order(["churn"])]
    assert names.index("ltv") < names.index("tiering") < names.index("churn")
    assert [s.name for s in decisions.all_specs()][: len(names)] == names or set(names) <= set(decisions.DECISION_NAMES)


def test_the_service_definition_leaves_the_model_libraries_out(tmp_path: Path) -> None:
    """BentoML's arbiter imports the service module for its routes and never fits or loads a model: declaring every
    decision (an empty model store is enough) must not load the model libraries (about 7 s of every start)."""
    heavy = {"lightgbm", "sklearn", "mlforecast", "statsforecast", "statsmodels", "implicit", "lleaves"}
    code = f"import sys, serving.service; print(sorted({heavy!r} & set(sys.modules)))"
    env = os.environ | {"SHOPSENSE_SERVED_DECISIONS": ",".join(decisions.DECISION_NAMES),
                        "BENTOML_HOME": str(tmp_path / "bentoml"), "PYTHONPATH": str(Path(__file__).parents[2])}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_every_spec_is_complete() -> None:
    for spec in decisions.all_specs():
        assert spec.primary[1] in ("higher", "lower")
        assert spec.feature_service
        for dep in spec.depends_on:
            assert dep in decisions.DECISION_NAMES
        for route in spec.routes:
            assert route.path.startswith("/")


def test_unknown_decision_is_named() -> None:
    with pytest.raises(KeyError, match="known: "):
        decisions.get("nope")


def test_missing_lake_is_one_sentence(tmp_settings) -> None:
    with pytest.raises(runner.DecisionUnavailable, match="shopsense data ingest"):
        runner.check_inputs(decisions.get("churn"), tmp_settings.dataset("nowhere"))


def test_empty_orders_are_named(tmp_settings) -> None:
    paths = tmp_settings.dataset("empty")
    paths.lake.mkdir(parents=True)
    for table in ("users", "orders", "order_items"):
        pd.DataFrame({"x": pd.Series(dtype="int64")}).to_parquet(paths.lake / f"{table}.parquet")
    with pytest.raises(runner.DecisionUnavailable, match=r"empty in dataset 'empty'.*quarantine"):
        runner.check_inputs(decisions.get("churn"), paths)


def test_train_cli_lists_the_registry_and_accepts_options_after_the_decision(tmp_settings) -> None:
    help_text = CliRunner().invoke(app, ["train", "--help"]).output
    for name in (*decisions.DECISION_NAMES, "all"):
        assert name in help_text
    assert "COMMAND [ARGS]" not in help_text
    result = CliRunner().invoke(app, ["train", "churn", "--dataset", "nowhere"])
    assert result.exit_code == 2
    assert "no lake" in result.output and "Missing argument" not in result.output


def test_service_routes_come_from_the_registry() -> None:
    from serving.service import build_service

    service = build_service(decisions.all_specs())
    routes = {api.route for api in service.apis.values()}
    expected = {route.path for spec in decisions.all_specs() for route in spec.routes}
    assert expected and expected <= routes
    assert {model.tag.name for model in service.models} >= {f"shopsense-{s.name}" for s in decisions.all_specs()}


def test_features_on_a_missing_dataset_is_one_sentence(tmp_settings) -> None:
    result = CliRunner().invoke(app, ["features", "build", "--dataset", "typo"])
    assert result.exit_code == 1
    assert "no dataset 'typo'" in result.output and "Traceback" not in result.output
    assert not (tmp_settings.data_dir / "typo").exists()
