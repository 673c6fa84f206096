"""CeleryQueue beyond the queue contract: the URL that picks it, an unreachable broker, and the
messages it publishes."""

from __future__ import annotations

import json

import pytest

from sam3_service.errors import BackendUnavailable
from sam3_service.tasks import open_task_queue
from sam3_service.tasks.celery import CeleryQueue
from tests.tasks.celery.helpers import take_messages


def test_an_amqp_url_gives_a_queue_that_publishes_to_the_named_queue() -> None:
    queue = open_task_queue("amqp://guest@localhost//", max_depth=7, name="jobs")
    assert isinstance(queue, CeleryQueue)
    assert (queue.queue, queue.max_depth) == ("jobs", 7)


async def test_an_unreachable_broker_is_backend_unavailable() -> None:
    queue = CeleryQueue("amqp://guest:guest@127.0.0.1:1//")
    with pytest.raises(BackendUnavailable):
        await queue.start()
    with pytest.raises(BackendUnavailable):
        await queue.enqueue("t1")
    await queue.aclose()


@pytest.mark.amqp
async def test_a_message_is_persistent_and_carries_only_the_task_id(
    amqp_url: str, queue_name: str
) -> None:
    queue = CeleryQueue(amqp_url, queue=queue_name)
    await queue.start()
    await queue.enqueue("t1")
    await queue.aclose()
    [message] = take_messages(amqp_url, queue_name)
    assert message.properties["delivery_mode"] == 2
    assert message.properties["application_headers"]["id"] == "t1"
    assert json.loads(message.body) == [
        ["t1"],
        {},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    ]
