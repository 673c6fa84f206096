"""The model hub's metrics, read at each scrape from the rollback watch and the shadow runner:
each version's window and rollbacks, each shadow version's runs and agreement."""

from __future__ import annotations

from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from ..domain.model_routing import Observer, Shadow

SHADOW_OUTCOMES = {"compared": "runs", "dropped": "dropped", "failed": "failed"}


def hub_families(observer: Observer | None, shadow: Shadow | None) -> list[Metric]:
    """The families of what this process watched (none for a watch or runner it lacks)."""
    families: list[Metric] = []
    if observer is not None:
        families += _rollback_families(observer.figures())
    if shadow is not None:
        families += _shadow_families(shadow.agreement())
    return families


def _rollback_families(watched: dict[str, dict[str, Any]]) -> list[Metric]:
    """Every version the watch saw has a rollbacks series (0 before its first rollback), so
    that Prometheus sees the first rollback as an increase."""
    rollbacks = CounterMetricFamily(
        "sam3_model_rollbacks",
        "Automatic rollbacks of a trial version (canary or A/B) that did worse than the stable.",
        labels=["version"],
    )
    requests = GaugeMetricFamily(
        "sam3_model_window_requests",
        "Requests in each version's rollback window (its last answered requests).",
        labels=["version"],
    )
    errors = GaugeMetricFamily(
        "sam3_model_window_error_ratio",
        "The share of failed requests in each version's rollback window.",
        labels=["version"],
    )
    p95 = GaugeMetricFamily(
        "sam3_model_window_p95_seconds",
        "The p95 latency of the successful requests in each version's rollback window.",
        labels=["version"],
    )
    for version, figures in watched.items():
        rollbacks.add_metric([version], figures["rollbacks"])
        requests.add_metric([version], figures["requests"])
        if figures["requests"]:
            errors.add_metric([version], figures["error_rate"])
        if figures["p95_ms"] is not None:
            p95.add_metric([version], figures["p95_ms"] / 1000)
    return [rollbacks, requests, errors, p95]


def _shadow_families(agreement: dict[str, dict[str, Any]]) -> list[Metric]:
    runs = CounterMetricFamily(
        "sam3_shadow_runs",
        "Shadow runs by outcome: compared with the served result, dropped (busy) or failed.",
        labels=["version", "outcome"],
    )
    overall = SummaryMetricFamily(
        "sam3_shadow_agreement",
        "Each compared shadow run's agreement with the served result (1: equal objects).",
        labels=["version"],
    )
    iou = GaugeMetricFamily(
        "sam3_shadow_agreement_iou",
        "Mean mask IoU of the objects matched between the served and the shadow results.",
        labels=["version"],
    )
    shift = GaugeMetricFamily(
        "sam3_shadow_score_shift",
        "Mean score of matched objects, the shadow's minus the served one's.",
        labels=["version"],
    )
    unmatched = CounterMetricFamily(
        "sam3_shadow_unmatched_objects",
        "Objects found only by the served version or only by the shadow.",
        labels=["version", "only"],
    )
    for version, figures in agreement.items():
        for outcome, key in SHADOW_OUTCOMES.items():
            runs.add_metric([version, outcome], figures[key])
        overall.add_metric(
            [version], count_value=figures["runs"], sum_value=figures["agreement_sum"]
        )
        unmatched.add_metric([version, "served"], figures["only_served"])
        unmatched.add_metric([version, "shadow"], figures["only_shadow"])
        if figures["mean_iou"] is not None:
            iou.add_metric([version], figures["mean_iou"])
            shift.add_metric([version], figures["score_shift"])
    return [runs, overall, iou, shift, unmatched]
