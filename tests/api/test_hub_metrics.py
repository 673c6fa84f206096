"""`/metrics` reads the rollback watch and the shadow runner of the services at each scrape:
rollbacks and each version's window, shadow runs and their agreement."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sam3_service.api.metrics import Metrics
from sam3_service.domain.models import ModelHost
from sam3_service.hub import open_model_registry
from sam3_service.inference.checksum import model_version
from sam3_service.runtime import open_services
from tests.helpers import make_settings
from tests.hub_traffic import watched_traffic

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: bytes) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def hub_samples(samples: Samples) -> Samples:
    hub = ("sam3_model_rollbacks", "sam3_model_window", "sam3_shadow")
    return {key: value for key, value in samples.items() if key[0].startswith(hub)}


async def test_the_scrape_reads_the_watch_and_the_shadows(
    tiny_model_dir: Path, tmp_path: Path, shared_host: ModelHost
) -> None:
    registry = await open_model_registry(f"sqlite:///{tmp_path / 'hub.db'}")
    settings = make_settings(tiny_model_dir, tmp_path)
    metrics = Metrics()
    try:
        async with open_services(settings, models=shared_host) as services:
            assert hub_samples(parse(await metrics.render(services))) == {}
            watch, shadow = await watched_traffic(registry, shared_host, tiny_model_dir)
            services.observer, services.shadow = watch, shadow
            samples = hub_samples(parse(await metrics.render(services)))
    finally:
        await registry.aclose()
    stable = model_version(tiny_model_dir)
    assert samples == {
        ("sam3_model_rollbacks_total", (("version", "canary-1"),)): 1.0,
        ("sam3_model_rollbacks_total", (("version", stable),)): 0.0,
        ("sam3_model_window_requests", (("version", "canary-1"),)): 0.0,  # forgotten
        ("sam3_model_window_requests", (("version", stable),)): 5.0,
        ("sam3_model_window_error_ratio", (("version", stable),)): 0.0,
        ("sam3_model_window_p95_seconds", (("version", stable),)): 0.25,
        ("sam3_shadow_runs_total", (("outcome", "compared"), ("version", "copy-1"))): 1.0,
        ("sam3_shadow_runs_total", (("outcome", "dropped"), ("version", "copy-1"))): 1.0,
        ("sam3_shadow_runs_total", (("outcome", "failed"), ("version", "copy-1"))): 0.0,
        ("sam3_shadow_agreement_count", (("version", "copy-1"),)): 1.0,
        ("sam3_shadow_agreement_sum", (("version", "copy-1"),)): 1.0,
        ("sam3_shadow_agreement_iou", (("version", "copy-1"),)): 1.0,
        ("sam3_shadow_score_shift", (("version", "copy-1"),)): 0.0,
        ("sam3_shadow_unmatched_objects_total", (("only", "served"), ("version", "copy-1"))): 0.0,
        ("sam3_shadow_unmatched_objects_total", (("only", "shadow"), ("version", "copy-1"))): 0.0,
    }
