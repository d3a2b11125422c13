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

DECISIONS = ("ltv", "tiering", "churn", "reviews", "demand", "recommend")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars",
)  # fmt: skip


@pytest.fixture(scope="module")
def reports(notebook_world):
    """Monitor, then write the zh pages of every decision and en pages with one entity explained per decision.

    The champions are the ones the retraining notebooks registered (``notebook_world``): nothing is trained here.
    """
    from training.reports.build import build_reports
    from training.reports.monitor import monitor

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOPSENSE_DATA_DIR", str(notebook_world.root))
        get_settings.cache_clear()
        verdicts, monitor_page = monitor(list(DECISIONS))
        zh = {w.decision: w for w in build_reports(list(DECISIONS), lang="zh")}
        en, entities = {}, {}
        for name in DECISIONS:  # the action list's first entity (the top user, SKU or campaign's review)
            entities[name] = _first_entity(name, zh[name])
            en |= {w.decision: w for w in build_reports([name], lang="en", entity=entities[name]) if w.decision == name}
        yield {"zh": zh, "en": en, "verdicts": verdicts, "monitor": Path(monitor_page), "entities": entities,
               "top_user": zh["churn"].numbers[-1]}  # fmt: skip
    get_settings.cache_clear()


def _first_entity(name: str, written) -> str:
    """An entity each page can explain: the action list's first one, else the first of the latest rows."""
    from training import decisions
    from training.reports.build import context

    settings = get_settings()
    ctx = context(decisions.get(name), settings.dataset(settings.default_dataset), settings, "en", {})
    ids = ctx.latest[ctx.spec.report.id_column].astype(str)
    if name in ("churn", "demand") and len(written.numbers) > 1 and written.numbers[-1] in set(ids):
        return written.numbers[-1]
    if name == "reviews":
        from training.reports.reviews_report import scored

        frame = scored(ctx)
        flagged = frame[frame["label"] != "genuine"]
        return str((flagged if len(flagged) else frame)["review_id"].iloc[0])
    return str(ids.iloc[0])


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
    for words in ("库存预警 SKU 数", "可疑评价率", "推荐覆盖率", "流失风险", "需重训的模型"):
        assert words in text  # the 运营看板: warnings count, suspicious-review rate, coverage, churn, monitoring
    for name in DECISIONS:
        assert f"{name}.html" in text
        assert all(value in text for value in reports["zh"][name].kpis.values())
    assert "需重训的模型" in text  # the monitoring warnings count, from the monitor run before


def test_monitor_gives_a_verdict_and_realised_performance(reports) -> None:
    verdicts = {v.decision: v for v in reports["verdicts"]}
    assert set(verdicts) == set(DECISIONS)
    assert all(v.reasons for v in verdicts.values())
    churn = verdicts["churn"]
    assert churn.realised["metrics"]["roc_auc"] > 0.6  # predictions made H days ago, against what happened
    assert "max_feature_psi" in churn.metrics and "prediction_psi" in churn.metrics
    assert reports["monitor"].exists() and (reports["monitor"].parents[1] / "monitor.json").exists()
    from mlflow import MlflowClient

    experiment = MlflowClient().get_experiment_by_name("shopsense/monitor/synthetic")
    assert experiment is not None and len(MlflowClient().search_runs([experiment.experiment_id])) >= len(DECISIONS)


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
    pages = [*reports["zh"].values(), *reports["en"].values()]
    for written in pages:
        dom, console, shot = render(chromium, written.path, tmp_path)
        assert not console, (written.path, console)
        missing = [n for n in written.numbers if n not in dom]
        assert not missing, (written.path, missing)
        assert shot.exists() and shot.stat().st_size > 10_000  # a real picture, kept under tmp_path


def test_demand_reviews_recommend_pages_have_their_action_lists_and_entity(reports) -> None:
    expected = {
        "demand": (("库存预警与补货建议", "建议订货量", "缺货风险"), ("Suggested order", "next day's forecast")),
        "reviews": (("刷评团伙与证据", "可疑评价率", "共同证据"), ("fake-review likelihood",)),
        "recommend": (("推荐覆盖与各品类热门", "推荐覆盖率", "热销前三"), ("ranking score",)),
    }
    for name, (zh_words, en_words) in expected.items():
        zh = reports["zh"][name].path.read_text(encoding="utf-8")
        assert all(w in zh for w in zh_words), (name, [w for w in zh_words if w not in zh])
        assert "模型依据什么 (SHAP)" in zh and zh.count("<svg") >= 2, name  # drivers chart + the action chart
        en = reports["en"][name].path.read_text(encoding="utf-8")
        assert f"Why {reports['entities'][name]} got this answer" in en, name
        assert any(w in en for w in en_words), name  # the entity's reasons name what they push


def test_monitor_explains_every_check_and_ignores_ageing_drift(reports) -> None:
    from types import SimpleNamespace

    import pandas as pd

    from training.reports.monitor import _drift_reason

    for v in reports["verdicts"]:
        text = " ".join(v.reasons)
        assert "实际" in text and "特征" in text, (
            v.decision,
            v.reasons,
        )  # realised and drift checks say what they found
    assert "realised_wql" in {v.decision: v for v in reports["verdicts"]}["demand"].metrics  # forecasts vs sales
    ctx = SimpleNamespace(t=lambda zh, en: en, spec=SimpleNamespace(report=SimpleNamespace(ageing=("tenure_days",))))
    aged = pd.DataFrame({"feature": ["tenure_days", "recency_days"], "psi": [0.9, 0.02],
                         "level": ["major", "stable"]})  # fmt: skip
    reasons: list[str] = []
    assert _drift_reason(ctx, aged, reasons) is False and "grow with time" in reasons[-1]
    real = aged.assign(feature=["spend_30d", "recency_days"])
    assert _drift_reason(ctx, real, []) is True
