"""GPU utilisation and memory through NVML (nvidia-ml-py), read at each scrape.

Without an NVIDIA driver or GPU the collector yields nothing: the series are absent, not zero.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

UTILISATION = "sam3_gpu_utilization_ratio"
MEMORY_USED = "sam3_gpu_memory_used_bytes"
MEMORY_TOTAL = "sam3_gpu_memory_total_bytes"
GPU_METRICS = (UTILISATION, MEMORY_USED, MEMORY_TOTAL)


class GpuCollector(Collector):
    """Per GPU (label `gpu`, its index; `uuid`): utilisation ratio and memory bytes."""

    def __init__(self) -> None:
        self._nvml: Any = _init_nvml()

    def collect(self) -> Iterator[Metric]:
        nvml = self._nvml
        if nvml is None:
            return iter(())
        try:
            return iter(_families(nvml))
        except nvml.NVMLError as exc:
            log.warning("NVML could not read the GPUs: %s", exc)
            return iter(())


def _init_nvml() -> Any:
    """The pynvml module, initialised; None without a driver or a GPU."""
    try:
        import pynvml

        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            return None
    except Exception:  # no library, no driver, no device: no GPU series at all
        return None
    return pynvml


def _families(nvml: Any) -> list[Metric]:
    labels = ["gpu", "uuid"]
    utilisation = GaugeMetricFamily(
        UTILISATION,
        "Share of the last sample period during which the GPU ran kernels (NVML), 0 to 1.",
        labels=labels,
    )
    used = GaugeMetricFamily(
        "sam3_gpu_memory_used_bytes", "GPU memory in use (NVML).", labels=labels
    )
    total = GaugeMetricFamily(
        "sam3_gpu_memory_total_bytes", "GPU memory in all (NVML).", labels=labels
    )
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        uuid = nvml.nvmlDeviceGetUUID(handle)
        ids = [str(index), uuid if isinstance(uuid, str) else uuid.decode()]
        utilisation.add_metric(ids, nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        used.add_metric(ids, float(memory.used))
        total.add_metric(ids, float(memory.total))
    return [utilisation, used, total]
