"""The shared cache and notifier: their interfaces, and the factories that pick one by URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import Cache, Notifier

__all__ = ["Cache", "Notifier", "open_cache", "open_notifier"]


def open_cache(url: str) -> Cache:
    """An in-process cache for an empty URL, Redis for `redis://`, `rediss://` or `unix://`.

    Raises ConfigError for any other URL.
    """
    if _is_redis(url):
        from .redis_cache import RedisCache

        return RedisCache(url)
    from .memory import MemoryCache

    return MemoryCache()


def open_notifier(url: str) -> Notifier:
    """Notices within this process for an empty URL; over Redis pub/sub for a Redis URL.

    Raises ConfigError for any other URL.
    """
    if _is_redis(url):
        from .redis_notifier import RedisNotifier

        return RedisNotifier(url)
    from .memory_notifier import MemoryNotifier

    return MemoryNotifier()


def _is_redis(url: str) -> bool:
    """False for an empty URL, True for a Redis one; raises ConfigError for any other."""
    if not url:
        return False
    if urlsplit(url).scheme in ("redis", "rediss", "unix"):
        return True
    raise ConfigError(f"the Redis URL must be empty, redis://, rediss:// or unix://, got {url!r}")
