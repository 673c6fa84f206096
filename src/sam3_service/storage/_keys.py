"""The one rule for blob keys, shared by every store so that a key valid in dev is valid in prod."""

from __future__ import annotations

import re

from ..errors import InvalidInput

MAX_KEY_CHARS = 1024  # S3's limit
# A segment starts with a letter, digit, "_" or "-": no ".", "..", or hidden names, which the
# local store keeps for its temporary files and content-type sidecars.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")


def check_key(key: str) -> str:
    """Return `key` if it is `segment/segment/...` of safe characters, else raise InvalidInput."""
    if len(key) > MAX_KEY_CHARS or not all(_SEGMENT.fullmatch(s) for s in key.split("/")):
        raise InvalidInput(f"invalid blob key {key!r}", key=key)
    return key


# What a missing blob says: never its key, which is internal (errors may reach clients).
MISSING = "the stored file is missing"
