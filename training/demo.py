"""The main job on the embedded default: synthetic world -> lake -> features -> models -> online store -> service.

Each step ends with one line: what it wrote, where, and how long it took (steps that produce several things, like
training every decision, add one indented line per thing), so a newcomer can follow DESIGN.md §1 in one screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

from features import build, engine, registry
from features.lake import ingest
from features.settings import Settings
from features.sources.synthetic import SynthConfig, generate
from training import decisions, runner
from training.decisions.spec import TrainOptions

console = Console(highlight=False)
STEPS = 5


def _step(number: int, title: str, work: Callable[[], str]) -> float:
    """Run one step and print ``n/5 title: what it wrote (seconds)``; returns the seconds."""
    started = time.perf_counter()
    wrote = work()
    seconds = time.perf_counter() - started
    console.print(f"[bold]{number}/{STEPS} {title}[/bold]: {wrote} [dim]({seconds:.0f} s)[/dim]")
    return seconds


def _world(settings: Settings, preset: str, seed: int) -> str:
    paths = settings.dataset("synthetic")
    report = ingest(generate(SynthConfig.preset(preset, seed=seed)), paths)
    accepted = sum(t.accepted for t in report.tables.values())
    quarantined = sum(t.quarantined for t in report.tables.values())
    return (
        f"{accepted:,} rows in {len(report.tables)} tables ({quarantined:,} quarantined) -> {paths.lake} "
        f"(ground truth, never read by features: {paths.truth})"
    )


def _train(settings: Settings, seed: int) -> str:
    """Every registered decision the world supports, upstream decisions first (the registry decides the list)."""
    trained, skipped = [], []
    for spec in decisions.all_specs():
        started = time.perf_counter()
        try:
            result = runner.run_decision(spec.name, "synthetic", TrainOptions(seed=seed), settings)
        except runner.DecisionUnavailable as err:
            skipped.append(spec.name)
            console.print(f"    [yellow]skipped {spec.name}[/yellow]: {err}")
            continue
        metric = spec.primary[0]
        best = {name: round(v.get(metric, float("nan")), 3) for name, v in result.baselines.items()}
        console.print(
            f"    {result.model_name} v{result.version} @{result.alias} {metric}={result.metrics[metric]:.3f} "
            f"(baselines {best or 'none'}) [dim]({time.perf_counter() - started:.0f} s)[/dim]"
        )
        trained.append(spec.name)
    tail = f", skipped {', '.join(skipped)}" if skipped else ""
    ui = f".venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri}"
    return f"{len(trained)} models registered in {settings.tracking_uri}{tail} (UI: {ui})"


def _serving_features(settings: Settings) -> str:
    """Every snapshot set as of the end of the data, so the online store holds today's values."""
    paths = settings.dataset("synthetic")
    con = engine.connect(settings)
    cutoff = build.default_cutoff(con, paths)
    sizes = []
    for feature_set in build.supported_sets(paths, registry.FEATURE_SET_NAMES):
        frame = build.build(feature_set, con, paths, [cutoff], progress=False)
        sizes.append(f"{feature_set.name} {len(frame):,}")
    return f"rows as of {cutoff:%Y-%m-%d}: {', '.join(sizes)} -> {paths.features}"


def _materialize(settings: Settings) -> str:
    from features import store

    summary = store.materialize(settings.dataset("synthetic"), settings=settings, progress=False)
    views = []
    for view, info in summary["views"].items():
        limited = f" of {info['offline_keys']:,}" if "offline_keys" in info else ""
        views.append(f"{view} {info['keys']:,}{limited}")
    return f"keys online ({summary['online_store']}, {summary['writer']} writer): {', '.join(views)}"


def run_demo(settings: Settings, preset: str = "default", seed: int = 42) -> dict[str, float]:
    """Steps 1-4 of the demo; serving (step 5) is started by the caller (it blocks). Returns seconds per step."""
    return {
        "world": _step(1, f"synthetic world ({preset}, seed {seed}) -> validated lake", lambda: _world(settings, preset, seed)),
        "train": _step(2, "features at cutoffs -> every decision -> MLflow registry", lambda: _train(settings, seed)),
        "features": _step(3, "features as of today for every decision", lambda: _serving_features(settings)),
        "materialize": _step(4, "materialize into the online store", lambda: _materialize(settings)),
    }  # fmt: skip
