"""Security headers: the page runs only its own files, is never framed, leaks no share token
through Referer; downloads are attachments; nothing is content-sniffed."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.resources import files

import pytest
from fastapi.testclient import TestClient

from tests.helpers import png_bytes

STATIC = files("sam3_service.web").joinpath("static")


@pytest.mark.parametrize("path", ["/", "/index.html", "/js/app.js", "/style.css", "/health"])
def test_every_answer_has_the_security_headers(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    script = re.search(r"script-src ([^;]+)", policy)
    assert script is not None and script.group(1).split() == ["'self'"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


class _Inline(HTMLParser):
    """Finds what a policy without inline script would block: script bodies, handlers, JS URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}>")
            if name == "style":
                self.found.append(f"<{tag} style>")
        if tag == "style":
            self.found.append("<style>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append("<script> body")


def test_the_page_has_no_inline_script_or_style() -> None:
    for page in [p for p in STATIC.iterdir() if p.name.endswith(".html")]:
        parser = _Inline()
        parser.feed(page.read_text())
        assert parser.found == [], page.name


def test_downloads_are_attachments(client: TestClient) -> None:
    files_ = {"file": ("x.png", png_bytes(64, 48), "image/png")}
    task_id = client.post("/v1/segment", files=files_, data={"prompt": "cat"}).json()["task_id"]
    for name in ("result.json", "masks.png", "overlay.png", "input"):
        response = client.get(f"/v1/tasks/{task_id}/{name}")
        assert response.status_code == 200, name
        assert response.headers["Content-Disposition"].startswith("attachment;"), name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    token = client.post(f"/v1/tasks/{task_id}/share").json()["token"]
    for name in ("result.json", "masks.png", "overlay.png", "image"):
        response = client.get(f"/v1/shared/{token}/{name}")
        assert response.headers["Content-Disposition"].startswith("attachment;"), name
