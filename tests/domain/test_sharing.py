"""Share tokens: valid until they expire, and impossible to forge or extend."""

from __future__ import annotations

import pytest

from sam3_service.domain.sharing import sign, verify
from sam3_service.errors import Forbidden

SECRET = b"k" * 32
SHARE = "c2hhcmUtaWQtMDAwMDAw"


def test_a_signed_token_opens_its_task() -> None:
    token = sign(SECRET, SHARE, 2_000)
    assert verify(SECRET, token, now=1_000) == SHARE


def test_an_expired_token_is_refused() -> None:
    token = sign(SECRET, SHARE, 2_000)
    with pytest.raises(Forbidden, match="expired"):
        verify(SECRET, token, now=2_000)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace(SHARE, SHARE[:-1] + "x"),
        lambda t: t.replace(".2000.", ".9000."),
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "nonsense",
        lambda t: "a.b.c",
        # the expiry is digits only: no sign, separator or leading zero trick passes
        lambda t: t.replace(".2000.", ".02000."),
        lambda t: t.replace(".2000.", ".+2000."),
        lambda t: t.replace(".2000.", ".2_000."),
        lambda t: t.replace(".2000.", ". 2000."),
        lambda t: t + "é",
        lambda t: "é" * 20 + t[20:],
        lambda t: t[:-1] + "\u0661",
    ],
)
def test_a_changed_token_is_refused(tamper) -> None:
    token = sign(SECRET, SHARE, 2_000)
    with pytest.raises(Forbidden):
        verify(SECRET, tamper(token), now=1_000)


def test_another_secret_does_not_verify() -> None:
    with pytest.raises(Forbidden):
        verify(b"other" * 8, sign(SECRET, SHARE, 2_000), now=1_000)
