"""`/docs`: Swagger UI with its assets served by the service (no CDN), public like the page."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.domain.models import ModelHost
from tests.helpers import make_settings


def test_the_docs_page_serves_its_assets_itself(
    tiny_model_dir: Path, tmp_path: Path, shared_host: ModelHost
) -> None:
    settings = make_settings(tiny_model_dir, tmp_path, auth_enabled=True)
    with TestClient(create_app(settings, models=shared_host)) as client:
        page = client.get("/docs")  # no API key needed
        assert page.status_code == 200
        assert "cdn" not in page.text.lower() and "/docs-assets/swagger-ui-bundle.js" in page.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
            assert client.get(f"/docs-assets/{asset}").status_code == 200, asset
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/redoc").status_code == 404  # its footer would load a CDN logo
