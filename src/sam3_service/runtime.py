"""The composition root: turns Settings into running backends, and closes them in reverse order.

The only module that names concrete implementations.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import fields

from .auth import KeyStore, RateLimiter, open_key_store, open_rate_limiter
from .cache import open_cache, open_notifier
from .database import upgrade_database
from .domain.job_runner import JobRunner
from .domain.model_set import ModelSet
from .domain.models import ModelHost
from .domain.services import Limits, Services
from .domain.waiting import NotifyingTaskStore
from .errors import ConfigError
from .inference import Engine, Thresholds
from .media import VideoLimits
from .model_hub import VersionLoader, open_router, open_watchers, register_startup
from .settings import LINK_SECRET_PLACEHOLDER, MIN_LINK_SECRET_BYTES, TINY_RANDOM, Settings
from .storage import open_blob_store
from .tasks import open_share_store, open_task_queue, open_task_store
from .tasks.base import TaskQueue
from .tasks.inprocess import InProcessQueue

log = logging.getLogger(__name__)

_FALLBACK_BANNER = """
************************************************************************
  No SAM 3 weights found for SAM3_MODEL={spec!r}:
  {reason}
  FALLING BACK TO 'tiny-random': a randomly initialised model.
  Every mask it returns is MEANINGLESS. It is for trying the service only.
************************************************************************"""


def choose_model(settings: Settings) -> str:
    """The model spec to load: SAM3_MODEL, or tiny-random (said loudly) when it is missing and
    SAM3_MODEL_FALLBACK_TO_TINY is on. Resolving a folder or the HF cache is quick."""
    from .inference import resolve_model  # torch loads with it; `keys` commands need neither

    spec = settings.model
    if spec == TINY_RANDOM:
        return spec
    try:
        resolve_model(spec, settings.models_dir)
    except ConfigError as exc:
        if not settings.model_fallback_to_tiny:
            return spec  # the loader fails with the same explanation, shown by /ready
        log.warning(_FALLBACK_BANNER.format(spec=spec, reason=str(exc).replace("\n", "\n  ")))
        return TINY_RANDOM
    return spec


def model_host(settings: Settings, spec: str) -> ModelHost:
    """A host that loads `spec` with the engine settings."""
    return ModelHost(spec, engine_loader(settings, spec), max_pending=settings.max_queue_depth)


def engine_loader(settings: Settings, spec: str) -> Callable[[], Engine]:
    """Loads `spec` with the engine settings."""

    def load() -> Engine:
        from .inference import load_engine

        return load_engine(
            spec,
            models_dir=settings.models_dir,
            device=settings.device,
            vision_cache_bytes=settings.vision_cache_bytes,
            text_cache_entries=settings.text_cache_entries,
            threads=torch_threads(settings),
            batch_window_ms=settings.batch_window_ms,
            max_batch=settings.max_batch,
            compile_vision=settings.compile_vision,
            attention=settings.attention,
        )

    return load


def torch_threads(settings: Settings) -> int:
    """SAM3_TORCH_THREADS, or this process's share of the cores: those it may use divided by
    SAM3_MODEL_PROCESSES (1 when unset), at least 1."""
    from .inference.threads import torch_threads as share

    return settings.torch_threads or share(settings.model_processes or 1)


def limits(settings: Settings) -> Limits:
    """The input limits: each `Limits` field is the setting of its name, and each
    `VideoLimits` field `max_<x>` is SAM3_MAX_VIDEO_<X>."""
    video = {f.name: getattr(settings, f"max_video_{f.name[4:]}") for f in fields(VideoLimits)}
    plain = (f.name for f in fields(Limits) if f.name != "video")
    return Limits(**{name: getattr(settings, name) for name in plain}, video=VideoLimits(**video))


def check_link_secret(settings: Settings) -> None:
    """With authentication on, SAM3_LINK_SECRET must be a real secret of 32 bytes or more.
    Raises ConfigError."""
    if not settings.auth_enabled:
        return
    secret = settings.link_secret
    how = "make one with `openssl rand -hex 32` and give every API replica the same"
    if secret.strip() == LINK_SECRET_PLACEHOLDER or "openssl rand" in secret:
        raise ConfigError(f"SAM3_LINK_SECRET is still the placeholder from deploy/: {how}")
    if len(secret.encode()) < MIN_LINK_SECRET_BYTES:
        raise ConfigError(
            f"with SAM3_AUTH_ENABLED, SAM3_LINK_SECRET must have at least "
            f"{MIN_LINK_SECRET_BYTES} bytes (it signs share links): {how}"
        )


def check_listen(settings: Settings, host: str) -> None:
    """Without API keys, listen on loopback only, unless SAM3_ALLOW_ANONYMOUS says that
    anonymous access is meant (as Redis's protected mode does). Raises ConfigError."""
    if settings.auth_enabled or settings.allow_anonymous or _is_loopback(host):
        return
    raise ConfigError(
        f"refusing to listen on {host} without API keys: anyone who reaches it could use "
        "the service. Set SAM3_AUTH_ENABLED=true (and make keys with `sam3-service keys "
        "create`), listen on 127.0.0.1, or set SAM3_ALLOW_ANONYMOUS=true if anonymous "
        "access is what you want"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def share_secret(settings: Settings) -> bytes:
    """SAM3_LINK_SECRET, or a random key for this process (links then die with it)."""
    if settings.link_secret:
        return settings.link_secret.encode()
    log.warning("SAM3_LINK_SECRET is empty: share links are valid until this process stops")
    return secrets.token_bytes(32)


@asynccontextmanager
async def open_services(
    settings: Settings, *, models: ModelHost | None = None, start_model: bool = True
) -> AsyncIterator[Services]:
    """Open every backend named by settings; with the embedded queue (no broker), this process
    also runs the model (loaded in the background) and the task workers."""
    async with AsyncExitStack() as stack:
        notifier = open_notifier(settings.redis_url)
        stack.push_async_callback(notifier.aclose)
        store = NotifyingTaskStore(await open_task_store(settings.resolved_database_url), notifier)
        stack.push_async_callback(store.aclose)
        shares = open_share_store(settings.resolved_database_url)
        stack.push_async_callback(shares.aclose)
        blobs = open_blob_store(
            settings.resolved_storage_url, endpoint_url=settings.s3_endpoint_url or None
        )
        stack.push_async_callback(blobs.aclose)
        cache = open_cache(settings.redis_url)
        stack.push_async_callback(cache.aclose)
        keys, limiter = _open_auth(settings, stack) if settings.auth_enabled else (None, None)
        queue = _task_queue(settings)
        embedded = queue if isinstance(queue, InProcessQueue) else None  # its jobs run here
        if models is None and start_model and embedded is not None:
            models = model_host(settings, choose_model(settings))
            models.start()
            stack.callback(models.close)
        loader = VersionLoader(settings, lambda spec: engine_loader(settings, spec))
        model_set = _model_set(settings, stack, models, loader)
        # The routing table is read where requests arrive: not in a worker, which runs what
        # it is given (a worker process passes its model and has no embedded queue).
        router = await open_router(settings, stack) if models is None or embedded else None
        observer, shadow = None, None
        if router is not None:
            holds_models = model_set is not None
            observer, shadow = open_watchers(settings, stack, router, holds_models=holds_models)
        if router is not None and model_set is not None:
            register_startup(loader, stack, router, model_set)
        services = Services(
            store=store,
            shares=shares,
            blobs=blobs,
            cache=cache,
            queue=queue,
            models=model_set,
            limits=limits(settings),
            thresholds=Thresholds(score=settings.score_threshold, mask=settings.mask_threshold),
            share_secret=share_secret(settings),
            share_ttl_s=settings.link_ttl_s,
            result_ttl_s=settings.result_ttl_s,
            sync_timeout_s=settings.sync_timeout_s,
            keys=keys,
            limiter=limiter,
            # Without Redis, notices stay in this process: they reach only its own tasks.
            notifier=notifier if settings.redis_url or embedded is not None else None,
            hub=router,
            observer=observer,
            shadow=shadow,
        )
        await _start_queue(settings, stack, services, embedded)
        yield services


@asynccontextmanager
async def open_keys(settings: Settings) -> AsyncIterator[KeyStore]:
    """The API key store in the task database, its schema brought up to date (`keys` commands)."""
    await asyncio.to_thread(upgrade_database, settings.resolved_database_url)
    keys = _key_store(settings)
    try:
        yield keys
    finally:
        await keys.aclose()


def _model_set(
    settings: Settings, stack: AsyncExitStack, host: ModelHost | None, loader: VersionLoader
) -> ModelSet | None:
    """The versions this process holds: the starting `host`, and those loaded later."""
    if host is None:
        return None
    budget = settings.model_memory_budget
    models = ModelSet(
        host,
        loader=loader,
        budget=None if budget == "auto" else budget,
        max_pending=settings.max_queue_depth,
        drain_timeout_s=settings.sync_timeout_s,
    )
    stack.push_async_callback(models.aclose)
    return models


def _key_store(settings: Settings) -> KeyStore:
    return open_key_store(
        settings.resolved_database_url, default_rate_per_min=settings.default_rate_per_min
    )


def _open_auth(settings: Settings, stack: AsyncExitStack) -> tuple[KeyStore, RateLimiter]:
    """The key store (its schema came with the task store's) and the per-key rate limiter."""
    keys = _key_store(settings)
    stack.push_async_callback(keys.aclose)
    limiter = open_rate_limiter(settings.redis_url)
    stack.push_async_callback(limiter.aclose)
    return keys, limiter


def _task_queue(settings: Settings) -> TaskQueue:
    """The queue that SAM3_BROKER_URL names (not started): the one place that picks it."""
    return open_task_queue(
        settings.broker_url,
        workers=settings.inprocess_workers,
        max_depth=settings.max_queue_depth,
        name=settings.broker_queue,
        worker_wait_s=settings.affinity_wait_s,
        by_worker=settings.route_by_image,
    )


async def _start_queue(
    settings: Settings,
    stack: AsyncExitStack,
    services: Services,
    embedded: InProcessQueue | None,
) -> None:
    """Start the queue. The embedded one runs its jobs here: first, where this process has a
    model, those that an earlier process left unfinished (the queue itself kept nothing)."""
    stack.push_async_callback(services.queue.aclose)
    await services.queue.start()
    if embedded is not None:
        runner = JobRunner(services, model_wait_s=settings.task_soft_time_limit_s)
        requeue = settings.max_queue_depth if services.models is not None else 0
        await embedded.serve(runner, requeue_limit=requeue)
