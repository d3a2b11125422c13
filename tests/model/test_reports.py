"""Ops reports and monitoring on the tiny world: real pages, real numbers, opened in headless Chromium.

The browser test fails on console errors or on key numbers (KPIs, the top user of the recall list) missing from
the rendered DOM, and keeps a screenshot of every page under the test's tmp dir. Chromium comes from Debian's
package (``make install`` installs it when missing); without it the test skips on a laptop and fails in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from features.settings import get_settings
from training.reports import html as h

pytestmark = [pytest.mark.model, pytest.mark.integration, pytest.mark.slow]

CUSTOMER = ("ltv", "tiering", "churn")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars",
)  # fmt: skip


@pytest.fixture(scope="module")
def reports(tiny_world, tmp_path_factory: pytest.TempPathFactory):
    """Train the customer decisions on a copy of the tiny world, then write the zh and en reports and monitor."""
    from training.decisions.spec import TrainOptions
    from training.reports.build import build_reports
    from training.reports.monitor import monitor
    from training.runner import run_decision

    root = tmp_path_factory.mktemp("reports")
    shutil.copytree(tiny_world.lake, root / "synthetic" / "lake")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOPSENSE_DATA_DIR", str(root))
        get_settings.cache_clear()
        for name in CUSTOMER:
            run_decision(name, options=TrainOptions(seed=3))
        verdicts, monitor_page = monitor(list(CUSTOMER))
        zh = {w.decision: w for w in build_reports(list(CUSTOMER), lang="zh")}
        top_user = zh["churn"].numbers[-1]  # the recall list's top user (the last number of the page)
        en = {w.decision: w for w in build_reports(["churn"], lang="en", entity=top_user)}
        yield {"zh": zh, "en": en, "verdicts": verdicts, "monitor": Path(monitor_page), "top_user": top_user}
    get_settings.cache_clear()


def test_every_page_is_small_self_contained_and_holds_its_numbers(reports) -> None:
    for lang in ("zh", "en"):
        for written in reports[lang].values():
            text = written.path.read_text(encoding="utf-8")
            assert 0 < written.bytes <= 5 * 1024 * 1024
            assert h.is_self_contained(text), written.path
            assert "<script" not in text
            missing = [n for n in written.numbers if n not in text]
            assert not missing, (written.path, missing)


def test_churn_page_has_card_baselines_recall_list_and_entity(reports) -> None:
    zh = reports["zh"]["churn"].path.read_text(encoding="utf-8")
    for words in ("模型卡", "recency_rule", "rfm_logreg", "召回名单", "风险价值", "流失风险分布"):
        assert words in zh
    en = reports["en"]["churn"].path.read_text(encoding="utf-8")
    assert f"Why {reports['top_user']} got this answer" in en and "raises the churn risk" in en
    assert en.count("<svg") >= 3  # drivers, risk histogram, waterfall


def test_index_shows_the_kpis_of_every_decision(reports) -> None:
    index = reports["zh"]["index"]
    text = index.path.read_text(encoding="utf-8")
    for name in CUSTOMER:
        assert f"{name}.html" in text
        assert all(value in text for value in reports["zh"][name].kpis.values())
    assert "需重训的模型" in text  # the monitoring warnings count, from the monitor run before


def test_monitor_gives_a_verdict_and_realised_performance(reports) -> None:
    verdicts = {v.decision: v for v in reports["verdicts"]}
    assert set(verdicts) == set(CUSTOMER)
    assert all(v.reasons for v in verdicts.values())
    churn = verdicts["churn"]
    assert churn.realised["metrics"]["roc_auc"] > 0.6  # predictions made H days ago, against what happened
    assert "max_feature_psi" in churn.metrics and "prediction_psi" in churn.metrics
    assert reports["monitor"].exists() and (reports["monitor"].parents[1] / "monitor.json").exists()
    from mlflow import MlflowClient

    experiment = MlflowClient().get_experiment_by_name("shopsense/monitor/synthetic")
    assert experiment is not None and len(MlflowClient().search_runs([experiment.experiment_id])) >= 3


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium not installed (make install installs Debian's package)")
        pytest.skip("chromium not installed; run `make install` (installs Debian's chromium package)")
    return found


def _open(chromium: str, page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra]
    return subprocess.run([*args, page.as_uri()], capture_output=True, text=True, timeout=120, check=False)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def render(chromium: str, page: Path, tmp: Path) -> tuple[str, list[str], Path]:
    """The rendered DOM, console messages and a screenshot of ``page`` (fresh profile each time)."""
    dom = _open(chromium, page, tmp / f"profile-{page.stem}-dom", "--dump-dom")
    shot = tmp / f"{page.parent.name}-{page.stem}.png"
    _open(chromium, page, tmp / f"profile-{page.stem}-shot", "--window-size=1280,1800", f"--screenshot={shot}")
    return dom.stdout, _console(dom.stderr), shot


def test_reports_render_in_headless_chromium(reports, tmp_path: Path) -> None:
    chromium = _chromium()
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>console.error('boom')</script></body></html>")
    assert _console(_open(chromium, broken, tmp_path / "profile-broken", "--dump-dom").stderr)  # the check can fail
    pages = [*reports["zh"].values(), reports["en"]["churn"]]
    for written in pages:
        dom, console, shot = render(chromium, written.path, tmp_path)
        assert not console, (written.path, console)
        missing = [n for n in written.numbers if n not in dom]
        assert not missing, (written.path, missing)
        assert shot.exists() and shot.stat().st_size > 10_000  # a real picture, kept under tmp_path
