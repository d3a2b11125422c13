"""Build the ops reports: one self-contained HTML page per decision with a champion, and an index with the KPIs.

Generic over the registry: the model card, the SHAP drivers and the entity explanation need nothing from a
decision; its optional :class:`~training.reports.hooks.ReportHooks` add the latest rows, SHAP and the action list.
Pages go to ``<data_dir>/<dataset>/reports/<lang>/`` (what the service serves under ``/reports/``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.settings import DatasetPaths, Settings, get_settings
from models.decision import join_upstream
from training import decisions, runner, tracking
from training.decisions.spec import DecisionSpec, TrainOptions
from training.reports import card
from training.reports import html as h
from training.reports.hooks import ReportContext, Section

logger = logging.getLogger(__name__)

SHAP_ROWS = 500  # global importance ranks are stable at a few hundred rows; TreeSHAP cost is linear in rows
ID_BY_ENTITY = {"user": "user_id", "sku": "sku_id", "review": "review_id"}
LANGS = ("zh", "en")


@dataclass
class Written:
    """One page: where, how big, how long it took, and the numbers a reader must find on it."""

    decision: str
    path: Path | None
    seconds: float
    kpis: dict[str, str] = field(default_factory=dict)
    numbers: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def bytes(self) -> int:
        return self.path.stat().st_size if self.path is not None and self.path.exists() else 0


def reports_dir(paths: DatasetPaths, lang: str) -> Path:
    return paths.root / "reports" / lang


def id_column(spec: DecisionSpec) -> str:
    return spec.report.id_column if spec.report is not None else ID_BY_ENTITY.get(spec.entity, "id")


def context(
    spec: DecisionSpec,
    paths: DatasetPaths,
    settings: Settings,
    lang: str,
    cache: dict[str, Any],
    version: str | None = None,
) -> ReportContext:
    """The champion (or ``version``) and the latest rows (upstream joined) of one decision.

    Raises:
        runner.DecisionUnavailable: no champion, or the data cannot be loaded.
    """
    name = tracking.registered_name(spec.name, paths.name, settings)
    version = version or tracking.champion_version(name)
    if version is None:
        raise runner.DecisionUnavailable(f"no champion yet: run `shopsense train {spec.name} --dataset {paths.name}`")
    model = tracking.load_model(name, version)
    hooks = spec.report
    if hooks is not None and hooks.latest_model is not None:  # rows the fitted model carries (no lake read)
        frame, as_of = hooks.latest_model(model)
        frame = join_upstream(frame, runner.upstream_models(spec, paths.name, settings))
    elif hooks is not None and hooks.latest is not None:
        key = f"latest:{hooks.latest.__module__}.{hooks.latest.__qualname__}"
        if key not in cache:
            cache[key] = hooks.latest(paths, settings)
        frame, as_of = cache[key]
        frame = join_upstream(frame, runner.upstream_models(spec, paths.name, settings))
    else:  # no hook: the training holdout (upstream already joined) stands for "latest"
        data = runner.prepare(spec, paths, settings, TrainOptions())
        frame, as_of = data.part(data.holdout).reset_index(drop=True), None
    return ReportContext(spec, paths, settings, lang, model, name, version, frame, as_of, cache)


def decision_page(ctx: ReportContext, entity: str | None) -> tuple[str, list[Section]]:
    """The page's HTML and its sections (card, drivers, actions, entity)."""
    t, hooks = ctx.t, ctx.spec.report
    sections = [card.model_card(ctx, card.run_facts(ctx.model_name, ctx.version))]
    if hooks is not None and hooks.contributions is not None and len(ctx.latest):
        contributions, values = hooks.contributions(ctx.model, card.sample(ctx.latest, SHAP_ROWS))
        if len(contributions):  # empty: this version has no tree to explain (e.g. a text-only review model)
            sections.append(card.drivers(ctx, contributions, values))
    if hooks is not None and hooks.actions is not None:
        sections.append(hooks.actions(ctx))
    if entity is not None:
        sections.append(card.entity_section(ctx, entity))
    nav = " · ".join(f'<a href="#s{i}">{h.esc(s.title)}</a>' for i, s in enumerate(sections))
    body = f"<p>{nav} · <a href='index.html'>{h.esc(t('返回总览', 'back to overview'))}</a></p>"
    body += "".join(h.section(s.title, s.body, f"s{i}") for i, s in enumerate(sections))
    when = f"{ctx.as_of:%Y-%m-%d}" if ctx.as_of is not None else t("训练留出集", "training holdout")
    subtitle = t(
        f"{ctx.spec.description} | 数据集 {ctx.paths.name} | 数据截至 {when} | {len(ctx.latest):,} 行",
        f"{ctx.spec.description} | dataset {ctx.paths.name} | data as of {when} | {len(ctx.latest):,} rows",
    )
    title = t(f"ShopSense 运营报告: {ctx.spec.name}", f"ShopSense ops report: {ctx.spec.name}")
    return h.page(title, subtitle, body, ctx.lang), sections


def build_reports(
    names: list[str] | None = None,
    dataset: str | None = None,
    lang: str = "zh",
    entity: str | None = None,
    settings: Settings | None = None,
) -> list[Written]:
    """Write the pages of ``names`` (default: every registered decision) and the index; return what was written."""
    settings = settings or get_settings()
    tracking.configure(settings)
    paths = settings.dataset(dataset or settings.default_dataset)
    out = reports_dir(paths, lang)
    out.mkdir(parents=True, exist_ok=True)
    specs = [s for s in decisions.in_dependency_order(names) if s.name in names] if names else decisions.all_specs()
    cache: dict[str, Any] = {}
    written = []
    for spec in specs:
        started = time.perf_counter()
        try:
            with h.quiet_glyphs():
                ctx = context(spec, paths, settings, lang, cache)
                document, sections = decision_page(ctx, entity)
        except runner.DecisionUnavailable as err:
            written.append(Written(spec.name, None, time.perf_counter() - started, note=str(err)))
            continue
        except Exception as err:  # one stale or broken champion must not take every other page down with it
            logger.exception("report of %s failed", spec.name)
            note = f"report failed ({type(err).__name__}: {err}); retrain with `shopsense train {spec.name}`"
            written.append(Written(spec.name, None, time.perf_counter() - started, note=note[:300]))
            continue
        path = out / f"{spec.name}.html"
        path.write_text(document, encoding="utf-8")
        kpis = {k: v for s in sections for k, v in s.kpis.items()}
        numbers = [n for s in sections for n in s.numbers]
        written.append(Written(spec.name, path, time.perf_counter() - started, kpis, numbers))
    written.append(write_index(paths, lang, written))
    return written


def write_index(paths: DatasetPaths, lang: str, written: list[Written]) -> Written:
    """The 运营看板: headline KPIs of every decision, drift warnings from the last monitoring run, links."""
    started = time.perf_counter()
    t = (lambda zh, en: zh) if lang == "zh" else (lambda zh, en: en)
    out = reports_dir(paths, lang)
    summary = _merge_summary(out / "summary.json", written)
    body, numbers = "", []
    monitor = _monitor_summary(paths)
    if monitor:
        warnings = sum(1 for m in monitor.values() if m.get("retrain"))
        kpis = {t("需重训的模型 (监控预警)", "models to retrain (monitoring warnings)"): f"{warnings} / {len(monitor)}"}
        link = f"<p><a href='monitor.html'>{h.esc(t('模型监控报告', 'Monitoring report'))}</a></p>"
        body += h.section(t("监控", "Monitoring"), h.kpis(kpis) + link)
    for decision, entry in summary.items():
        link = f"<p><a href='{decision}.html'>{h.esc(t('打开报告', 'open the report'))} ({decision}.html)</a></p>"
        if entry.get("note"):
            link = f"<p class='note'>{h.esc(entry['note'])}</p>"
        body += h.section(decision, h.kpis(entry.get("kpis", {})) + link)
        numbers += list(entry.get("kpis", {}).values())
    title = t("ShopSense 运营看板", "ShopSense operations dashboard")
    subtitle = t(
        f"数据集 {paths.name} | 生成于 {time.strftime('%Y-%m-%d %H:%M')} UTC",
        f"dataset {paths.name} | made {time.strftime('%Y-%m-%d %H:%M')} UTC",
    )
    path = out / "index.html"
    path.write_text(h.page(title, subtitle, body, lang), encoding="utf-8")
    return Written("index", path, time.perf_counter() - started, numbers=numbers)


def _merge_summary(path: Path, written: list[Written]) -> dict[str, Any]:
    """Keep earlier decisions' KPIs when only some are rebuilt (``shopsense report churn`` keeps the others)."""
    summary = json.loads(path.read_text()) if path.exists() else {}
    for w in written:
        summary[w.decision] = {"kpis": w.kpis, "note": w.note}
    order = [s for s in decisions.DECISION_NAMES if s in summary]
    summary = {k: summary[k] for k in order}
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return summary


def _monitor_summary(paths: DatasetPaths) -> dict[str, Any]:
    path = paths.root / "reports" / "monitor.json"
    return json.loads(path.read_text()) if path.exists() else {}


def frame_of(written: list[Written]) -> pd.DataFrame:
    """What was written, for the CLI's summary table and the benchmark."""
    return pd.DataFrame(
        [
            {
                "page": w.decision,
                "seconds": round(w.seconds, 2),
                "kB": round(w.bytes / 1024, 1),
                "path": str(w.path or ""),
                "note": w.note,
            }
            for w in written
        ]
    )
