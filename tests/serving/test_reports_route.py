"""GET /reports/...: the latest report pages behind the API keys, nothing outside the reports folder."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from serving.reports import ReportsApp

pytestmark = pytest.mark.serving

KEY = "shopsense-demo-key"


@pytest.fixture
def client(tmp_settings):
    folder = tmp_settings.dataset(tmp_settings.served_dataset).root / "reports" / "zh"
    folder.mkdir(parents=True)
    (folder / "index.html").write_text("<html>运营看板 42</html>", encoding="utf-8")
    (folder.parent / "secret.txt").write_text("no")
    transport = httpx.ASGITransport(app=ReportsApp(), root_path="")
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def _get(client: httpx.AsyncClient, path: str, **kwargs) -> httpx.Response:
    async def call() -> httpx.Response:
        async with client:
            return await client.get(path, **kwargs)

    return asyncio.run(call())


def test_report_needs_a_key(client) -> None:
    assert (_get(client, "/reports/zh/index.html")).status_code == 401


def test_report_served_with_header_or_query_key(client) -> None:
    response = _get(client, "/reports/", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and "运营看板 42" in response.text
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/reports/zh/../secret.txt", "/reports/secret.txt", "/reports/zh/missing.html"])
def test_only_report_pages_are_served(client, path: str) -> None:
    assert (_get(client, path, params={"key": KEY})).status_code == 404
