"""Secure defaults checked at startup: a real share-link secret with auth on, and no anonymous
service on an address beyond loopback unless that is said explicitly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sam3_service.api.app import create_app
from sam3_service.cli import app
from sam3_service.errors import ConfigError
from sam3_service.runtime import check_link_secret, check_listen
from sam3_service.settings import Settings
from tests.deploy.files import DEPLOY

GOOD_SECRET = "9f" * 32


def settings(**fields: object) -> Settings:
    return Settings(_env_file=None, **fields)  # type: ignore[arg-type, call-arg]


def placeholders() -> set[str]:
    """Every SAM3_LINK_SECRET value that a file in deploy/ ships."""
    found = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix in ("", ".env", ".example", ".yaml", ".yml"):
            text = path.read_text(errors="ignore")
            found |= set(re.findall(r"^[ \t]*SAM3_LINK_SECRET[=:][ \t]*(.*?)[ \t]*$", text, re.M))
    return {value for value in found if value and not value.startswith("${")}


@pytest.mark.parametrize("secret", ["", "short", "x" * 31, *sorted(placeholders())])
def test_with_auth_on_a_weak_or_placeholder_link_secret_is_refused(secret: str) -> None:
    with pytest.raises(ConfigError, match="openssl rand -hex 32"):
        check_link_secret(settings(auth_enabled=True, link_secret=secret))
    with pytest.raises(ConfigError):
        create_app(settings(auth_enabled=True, link_secret=secret))


def test_deploy_ships_a_placeholder_that_is_refused() -> None:
    assert placeholders(), "no SAM3_LINK_SECRET placeholder found in deploy/"


def test_a_real_secret_or_auth_off_starts() -> None:
    check_link_secret(settings(auth_enabled=True, link_secret=GOOD_SECRET))
    check_link_secret(settings(auth_enabled=False, link_secret=""))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.53"])
def test_anonymous_on_loopback_is_fine(host: str) -> None:
    check_listen(settings(), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_anonymous_beyond_loopback_is_refused_unless_allowed(host: str) -> None:
    with pytest.raises(ConfigError, match="SAM3_ALLOW_ANONYMOUS"):
        check_listen(settings(), host)
    check_listen(settings(allow_anonymous=True), host)
    check_listen(settings(auth_enabled=True, link_secret=GOOD_SECRET), host)


def test_serve_refuses_to_start_open_to_anyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAM3_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "SAM3_ALLOW_ANONYMOUS" in result.stderr


def test_the_image_sets_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.deploy.files import dockerfile_env

    env = dockerfile_env()
    image = settings(
        **{k.removeprefix("SAM3_").lower(): v for k, v in env.items() if k.startswith("SAM3_")}
    )
    with pytest.raises(ConfigError):  # the image listens everywhere: keys on, a secret needed
        check_link_secret(image)
    check_listen(image, image.host)
