"""PromQL checked by evaluating it: the real promtool (`promtool test rules`, one
`promql_expr_test` per expression) over series given here, and the RabbitMQ queues that the
workers' backlog counts, as the service names them (tasks/celery/topology.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.deploy.files import require_tool

# Ready messages per queue, each a different power of ten: a sum tells which queues it counted.
QUEUE_READY = {
    "sam3.tasks": 1,  # tasks with no model version
    "sam3.tasks.v.abc123": 10,  # a version's queue
    "sam3.tasks.v.def456": 100,
    "sam3.tasks.w.host-12": 1000,  # a worker's own queue
    "sam3.tasks.dead": 10_000,  # given up: no backlog
    "sam3.tasksx": 100_000,  # another application's queues
    "other.sam3.tasks.v.abc123": 1_000_000,
}
BACKLOG = 1111  # the ready messages of sam3.tasks, its version queues and its workers' queues
READY_SERIES = {
    f'rabbitmq_queue_messages_ready{{queue="{queue}", vhost="/"}}': ready
    for queue, ready in QUEUE_READY.items()
}

# An expression's expected samples: their labels as PromQL writes them (`{}`: none), and value.
Samples = dict[str, float]


def evaluate(expected: dict[str, Samples], series: dict[str, float], folder: Path) -> str:
    """promtool's report when an expression of `expected`, evaluated over `series` (each one
    sample), is not exactly its samples; empty when all are."""
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": str(v)} for s, v in series.items()],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "0m",
                        "exp_samples": [{"labels": k, "value": v} for k, v in samples.items()],
                    }
                    for expr, samples in expected.items()
                ],
            }
        ],
    }
    path = folder / "promql_test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    command = [require_tool("promtool"), "test", "rules", path.name]
    checked = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=60)
    return "" if checked.returncode == 0 else checked.stdout + checked.stderr
