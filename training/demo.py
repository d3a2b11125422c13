"""The main job on the embedded default: synthetic world -> lake -> features -> models -> online store -> service.

Each step prints what it wrote and where, so a newcomer can follow the flow of DESIGN.md §1 in one run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from features import build, engine, registry
from features.lake import ingest
from features.settings import Settings
from features.sources.synthetic import SynthConfig, generate
from training import decisions, runner
from training.decisions.spec import TrainOptions

console = Console()


def _step(title: str, work: Callable[[], Any]) -> Any:
    console.rule(f"[bold]{title}")
    started = time.perf_counter()
    result = work()
    console.print(f"[green]done[/green] in {time.perf_counter() - started:.1f} s")
    return result


def _world(settings: Settings, preset: str, seed: int) -> None:
    paths = settings.dataset("synthetic")
    report = ingest(generate(SynthConfig.preset(preset, seed=seed)), paths)
    for name, table in report.tables.items():
        console.print(f"  {name:16s} {table.accepted:>10,} rows  ({table.quarantined:,} quarantined)")
    console.print(f"  lake: {paths.lake}\n  ground truth (never read by features): {paths.truth}")


def _serving_features(settings: Settings) -> None:
    """Every snapshot set as of the end of the data, so the online store holds today's values."""
    paths = settings.dataset("synthetic")
    con = engine.connect(settings)
    cutoff = build.default_cutoff(con, paths)
    for feature_set in build.supported_sets(paths, registry.FEATURE_SET_NAMES):
        frame = build.build(feature_set, con, paths, [cutoff], progress=False)
        console.print(f"  {feature_set.name:13s} {len(frame):>10,} rows as of {cutoff:%Y-%m-%d}")


def _train(settings: Settings, seed: int) -> None:
    """Every registered decision the world supports, upstream decisions first (the registry decides the list)."""
    for spec in decisions.all_specs():
        try:
            result = runner.run_decision(spec.name, "synthetic", TrainOptions(seed=seed), settings)
        except runner.DecisionUnavailable as err:
            console.print(f"  [yellow]skipped {spec.name}[/yellow]: {err}")
            continue
        metric = spec.primary[0]
        best = {name: round(v.get(metric, float("nan")), 4) for name, v in result.baselines.items()}
        console.print(
            f"  {result.model_name} v{result.version} @{result.alias} {metric}={result.metrics[metric]:.4f} "
            f"(baselines {best or 'none'}) in {result.seconds:.0f} s"
        )
    console.print(f"  MLflow UI: .venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri}")


def _materialize(settings: Settings) -> None:
    from features import store

    summary = store.materialize(settings.dataset("synthetic"), settings=settings, progress=False)
    for view, info in summary["views"].items():
        console.print(f"  online {view:13s} {info['keys']:>8,} keys (as of {info['latest_as_of']})")


def run_demo(settings: Settings, preset: str = "default", seed: int = 42) -> None:
    """Steps 1-4 of the demo; serving is started by the caller (it blocks)."""
    _step(f"1/5 synthetic world ({preset}, seed {seed}) -> validated lake", lambda: _world(settings, preset, seed))
    _step("2/5 features at cutoffs -> every decision -> MLflow registry", lambda: _train(settings, seed))
    _step("3/5 features as of today for every decision", lambda: _serving_features(settings))
    _step("4/5 materialize into the online store", lambda: _materialize(settings))
