"""A real service on 127.0.0.1 (uvicorn in a thread, the tiny random SAM 3) and headless Chromium
driven by Playwright, with screenshots of each state under test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from sam3_service.api.app import create_app
from sam3_service.auth import Scope
from sam3_service.domain.models import ModelHost
from sam3_service.inference import load_engine
from sam3_service.runtime import open_keys
from tests.helpers import make_settings, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 360, "height": 740}


def wait_until_ready(base_url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{base_url}/ready").status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready: {httpx.get(f'{base_url}/ready').text}")
        time.sleep(0.05)


def tiny_host(model_dir: Path, gate: threading.Event | None = None) -> ModelHost:
    """A host that loads the tiny model in the background, once `gate` opens (if given)."""

    def load() -> Any:
        if gate is not None:
            gate.wait(120)
        return load_engine(str(model_dir), models_dir=model_dir.parent, device="cpu")

    host = ModelHost("tiny-random", load)
    host.start()
    return host


@pytest.fixture(scope="session")
def web_host(tiny_model_dir: Path) -> Iterator[ModelHost]:
    host = tiny_host(tiny_model_dir)
    host.wait(60)
    yield host
    host.close()


@pytest.fixture(scope="session")
def live_url(
    tiny_model_dir: Path, web_host: ModelHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The service with the page, on the tiny random model, ready."""
    settings = make_settings(tiny_model_dir, tmp_path_factory.mktemp("web"))
    with serve_in_thread(create_app(settings, models=web_host)) as base_url:
        wait_until_ready(base_url)
        yield base_url


@pytest.fixture(scope="session")
def small_upload_url(
    tiny_model_dir: Path, web_host: ModelHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The same service, refusing uploads over 100 kB."""
    settings = make_settings(
        tiny_model_dir, tmp_path_factory.mktemp("web-small"), max_upload_bytes=100_000
    )
    with serve_in_thread(create_app(settings, models=web_host)) as base_url:
        wait_until_ready(base_url)
        yield base_url


@pytest.fixture(scope="session")
def secure_service(
    tiny_model_dir: Path, web_host: ModelHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The service with API keys on; yields its URL and a key allowed 3 requests at once."""
    settings = make_settings(
        tiny_model_dir, tmp_path_factory.mktemp("web-secure"), auth_enabled=True
    )

    async def new_key() -> str:
        async with open_keys(settings) as keys:
            return (await keys.create(scope=Scope.USER, rate_per_min=3)).secret

    # Playwright's sync API keeps an event loop running on this thread: use another one.
    with ThreadPoolExecutor(1) as thread:
        secret = thread.submit(asyncio.run, new_key()).result()
    with serve_in_thread(create_app(settings, models=web_host)) as base_url:
        wait_until_ready(base_url)
        yield base_url, secret


@pytest.fixture
def starting_service(tiny_model_dir: Path, tmp_path: Path) -> Iterator[tuple[str, threading.Event]]:
    """A service whose model loads only once the returned event is set."""
    gate = threading.Event()
    host = tiny_host(tiny_model_dir, gate)
    try:
        with serve_in_thread(
            create_app(make_settings(tiny_model_dir, tmp_path), models=host)
        ) as base_url:
            yield base_url, gate
    finally:
        gate.set()
        host.wait(60)
        host.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium. Missing, it fails the browser tests: CI must install it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(scripts/system-deps.sh installs it; `make test` runs it)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# Playwright cannot read a multipart body that holds a file: keep each form the page sends.
RECORD_FORMS = """
window.sentForms = [];
const send = window.fetch;
window.fetch = (path, init) => {
  if (init?.body instanceof FormData) {
    const fields = [...init.body].filter(([, value]) => typeof value === "string");
    window.sentForms.push({ path: String(path), fields: Object.fromEntries(fields) });
  }
  return send(path, init);
};
"""


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """`open_page(url)`: a page in a fresh browser context (its own storage), failing the test
    on any uncaught JavaScript error or anything the Content-Security-Policy blocked.
    `window.sentForms` lists the text fields of each
    multipart request the page sent."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(url: str, *, viewport: dict[str, int] = DESKTOP, locale: str = "en-GB") -> Any:
        context = browser.new_context(viewport=viewport, locale=locale, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(  # what the Content-Security-Policy blocked
            "console",
            lambda message: (
                errors.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.add_init_script(RECORD_FORMS)
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def screenshot() -> Callable[..., None]:
    """`screenshot(page, name)`: save the page as seen on a desktop and on a 360 px phone."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str, *, phone: bool = True) -> None:
        page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png")
        if phone:
            desktop = page.viewport_size
            page.set_viewport_size(PHONE)
            page.wait_for_timeout(150)
            page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
            page.set_viewport_size(desktop)

    return take
