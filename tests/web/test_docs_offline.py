"""The API documentation renders with no network but the service itself (air-gapped users)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.web.conftest import DESKTOP, SCREENSHOTS

pytestmark = pytest.mark.browser

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


def offline_page(browser: Any, blocked: list[str]) -> Any:
    """A page in a fresh context where every request off this machine fails (and is noted)."""
    context = browser.new_context(viewport=DESKTOP)

    def only_loopback(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def operations(live_url: str) -> list[tuple[str, str]]:
    spec = httpx.get(f"{live_url}/openapi.json").json()
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


def test_swagger_ui_renders_every_operation_offline(browser: Any, live_url: str) -> None:
    blocked: list[str] = []
    page = offline_page(browser, blocked)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_url}/docs")
    page.wait_for_selector(".opblock")
    expected = operations(live_url)
    blocks = page.locator(".opblock-summary-path")
    assert blocks.count() == len(expected)
    assert "/v1/segment" in blocks.all_inner_texts()
    page.locator(".opblock-summary", has_text="/v1/segment").first.click()
    page.wait_for_selector(".opblock-body")  # an operation opens, with its parameters
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "docs-offline-desktop.png")
    page.context.close()
    assert blocked == [], f"the docs reached off this machine: {blocked}"
    assert errors == []
