"""The shared cache: the Cache interface and `open_cache`, which picks one by URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import Cache

__all__ = ["Cache", "open_cache"]


def open_cache(url: str) -> Cache:
    """An in-process cache for an empty URL, Redis for `redis://`, `rediss://` or `unix://`.

    Raises ConfigError for any other URL.
    """
    if not url:
        from .memory import MemoryCache

        return MemoryCache()
    if urlsplit(url).scheme in ("redis", "rediss", "unix"):
        from .redis_cache import RedisCache

        return RedisCache(url)
    raise ConfigError(f"the Redis URL must be empty, redis://, rediss:// or unix://, got {url!r}")
