"""`/metrics`: Prometheus text with request counts and latency by route, the model's state,
inference time, queue depth and backend failures, in a registry of each app's own."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sam3_service.api.app import create_app
from sam3_service.cache import open_cache
from sam3_service.domain.fleet import WorkerReport, publish
from sam3_service.domain.models import ModelHost, ModelState
from tests.helpers import make_settings, png_bytes
from tests.servers import RedisServer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics")


@pytest.fixture(scope="module")
def client(tiny_model_dir: Path, data_dir: Path, shared_host: ModelHost) -> Iterator[TestClient]:
    settings = make_settings(tiny_model_dir, data_dir, max_upload_bytes=1000)
    with TestClient(create_app(settings, models=shared_host)) as test_client:
        yield test_client


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`, by name and sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests(samples: dict, method: str, route: str, status: int) -> float:
    labels = (("method", method), ("route", route), ("status", str(status)))
    return samples.get(("sam3_http_requests_total", labels), 0.0)


def test_requests_are_counted_by_route_template_and_status(client: TestClient) -> None:
    before = scrape(client)
    client.get("/health")
    client.get("/v1/tasks/one-id")
    client.get("/v1/tasks/another-id")
    client.get("/index.html")
    client.post("/v1/segment", content=b"x" * (2 << 20))  # refused before routing: 413
    after = scrape(client)
    for method, route, status, count in [
        ("GET", "/health", 200, 1),
        ("GET", "/v1/tasks/{task_id}", 404, 2),
        ("GET", "mounted", 200, 1),
        ("POST", "unmatched", 413, 1),
    ]:
        delta = requests(after, method, route, status) - requests(before, method, route, status)
        assert delta == count, (method, route, status)
    assert not any("one-id" in str(key) for key in after)


def test_latency_is_a_histogram_by_route(client: TestClient) -> None:
    client.get("/health")
    samples = scrape(client)
    labels = (("le", "+Inf"), ("method", "GET"), ("route", "/health"))
    assert samples[("sam3_http_request_duration_seconds_bucket", labels)] >= 1
    count = (("method", "GET"), ("route", "/health"))
    assert samples[("sam3_http_request_duration_seconds_count", count)] >= 1


def test_the_service_state_is_read_at_each_scrape(client: TestClient) -> None:
    samples = scrape(client)
    assert samples[("sam3_model_state", (("state", "ready"),))] == 1
    assert samples[("sam3_model_state", (("state", "failed"),))] == 0
    assert samples[("sam3_queue_depth", ())] == 0
    assert samples[("sam3_cache_failures_total", ())] == 0
    assert ("sam3_rate_limiter_failures_total", ()) not in samples  # auth is off
    assert ("process_cpu_seconds_total", ()) in samples


def test_inference_time_grows_with_each_segmentation(client: TestClient) -> None:
    before = scrape(client)
    files = {"file": ("x.png", png_bytes(80, 60), "image/png")}
    assert client.post("/v1/segment", files=files, data={"prompt": "dog"}).status_code == 200
    after = scrape(client)
    count, seconds = ("sam3_inference_seconds_count", ()), ("sam3_inference_seconds_sum", ())
    assert after[count] == before[count] + 1
    assert after[seconds] > before[seconds]
    again = {"image_id": hashlib.sha256(png_bytes(80, 60)).hexdigest(), "prompt": "cat"}
    assert client.post("/v1/segment", json=again).status_code == 200
    warm = scrape(client)
    hits, misses = ("sam3_feature_cache_hits_total", ()), ("sam3_feature_cache_misses_total", ())
    assert (warm[hits], warm[misses]) == (after[hits] + 1, after[misses])


def test_each_app_has_its_own_registry(
    client: TestClient, tiny_model_dir: Path, data_dir: Path, shared_host: ModelHost
) -> None:
    client.get("/health")
    settings = make_settings(tiny_model_dir, data_dir)
    with TestClient(create_app(settings, models=shared_host)) as fresh:
        assert requests(scrape(fresh), "GET", "/health", 200) == 0


def test_with_auth_on_the_limiter_failures_are_exposed_without_a_key(
    tiny_model_dir: Path, data_dir: Path, shared_host: ModelHost
) -> None:
    settings = make_settings(tiny_model_dir, data_dir, auth_enabled=True)
    with TestClient(create_app(settings, models=shared_host)) as secure:
        assert scrape(secure)[("sam3_rate_limiter_failures_total", ())] == 0


def test_metrics_can_be_turned_off(
    tiny_model_dir: Path, data_dir: Path, shared_host: ModelHost
) -> None:
    settings = make_settings(tiny_model_dir, data_dir, metrics_enabled=False)
    with TestClient(create_app(settings, models=shared_host)) as quiet:
        assert quiet.get("/metrics").status_code == 404
        assert quiet.get("/health").status_code == 200


@pytest.mark.redis
@pytest.mark.amqp
def test_in_production_mode_the_model_metrics_come_from_the_workers(
    tiny_model_dir: Path,
    tmp_path: Path,
    private_redis: RedisServer,
    amqp_url: str,
    queue_name: str,
) -> None:
    settings = make_settings(
        tiny_model_dir,
        tmp_path,
        broker_url=amqp_url,
        broker_queue=queue_name,
        redis_url=private_redis.url,
    )

    async def report(worker_id: str, state: ModelState, calls: int, seconds: float) -> None:
        cache = open_cache(private_redis.url)
        beat = WorkerReport(
            worker_id,
            state,
            heartbeat_at=time.time(),
            inference_calls=calls,
            inference_seconds=seconds,
            feature_cache_hits=2 * calls,
            feature_cache_misses=calls,
        )
        await publish(cache, beat, ttl_s=30)
        await cache.aclose()

    with TestClient(create_app(settings)) as api:
        samples = scrape(api)
        assert [samples[("sam3_model_state", (("state", s.value),))] for s in ModelState] == [0] * 3
        assert samples[("sam3_inference_seconds_count", ())] == 0
        asyncio.run(report("w1", ModelState.STARTING, 0, 0.0))
        samples = scrape(api)
        assert samples[("sam3_model_state", (("state", "starting"),))] == 1
        asyncio.run(report("w1", ModelState.READY, 3, 1.5))
        asyncio.run(report("w2", ModelState.READY, 2, 0.5))
        samples = scrape(api)
    assert samples[("sam3_model_state", (("state", "ready"),))] == 1
    assert samples[("sam3_model_state", (("state", "starting"),))] == 0
    assert samples[("sam3_inference_seconds_count", ())] == 5
    assert samples[("sam3_inference_seconds_sum", ())] == 2.0
    assert samples[("sam3_feature_cache_hits_total", ())] == 10
    assert samples[("sam3_feature_cache_misses_total", ())] == 5
