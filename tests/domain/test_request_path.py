"""The synchronous request path does each thing once: one decode per new image, none for a
request answered before, and never another owner's answer."""

from __future__ import annotations

import pytest

from sam3_service.domain import jobs, keys, segment
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.results import load_result
from sam3_service.domain.services import Services
from sam3_service.errors import BackendUnavailable, NotFound
from sam3_service.media import DecodedImage, decode_image
from sam3_service.storage import BlobStore
from sam3_service.tasks import TaskStatus
from tests.helpers import png_bytes

CAT = SegmentParams(prompt="cat", score_threshold=0.0)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sha256 of every image decoded from here on."""
    seen: list[str] = []

    def counting(data: bytes, **kwargs: object) -> DecodedImage:
        decoded = decode_image(data, **kwargs)  # type: ignore[arg-type]
        seen.append(decoded.sha256)
        return decoded

    monkeypatch.setattr(segment, "decode_image", counting)
    return seen


async def test_a_new_image_is_decoded_once(services: Services, decodes: list[str]) -> None:
    record, result = await jobs.segment_now(services, params=CAT, data=png_bytes(), owner="al")
    assert len(decodes) == 1
    stored = await services.store.get(record.id)
    assert stored.status is TaskStatus.SUCCEEDED
    assert await load_result(services.blobs, stored) == result  # the answer is the stored copy
    assert await services.blobs.exists(stored.input_key)  # kept for tasks run elsewhere


async def test_a_queued_task_reads_its_input_back(services: Services, decodes: list[str]) -> None:
    record = await jobs.submit(services, params=CAT, data=png_bytes(), owner="al", enqueue=False)
    await jobs.run(services, record.id)  # as a worker would: nothing decoded in its process
    assert len(decodes) == 2
    assert (await services.store.get(record.id)).status is TaskStatus.SUCCEEDED


async def test_a_repeat_is_answered_without_decoding(
    services: Services, decodes: list[str]
) -> None:
    first, answer = await jobs.segment_now(services, params=CAT, data=png_bytes(), owner="al")
    decodes.clear()
    again, repeat = await jobs.segment_now(
        services,
        params=SegmentParams(prompt="  CAT ", score_threshold=0.0),
        data=png_bytes(),
        owner="al",
    )
    assert decodes == []
    assert again.id != first.id and again.status is TaskStatus.SUCCEEDED
    assert repeat == answer


async def test_a_repeat_by_image_id_is_answered_without_decoding(
    services: Services, decodes: list[str]
) -> None:
    first, answer = await jobs.segment_now(services, params=CAT, data=png_bytes(), owner="al")
    decodes.clear()
    image_id = answer["image"]["sha256"]
    _, repeat = await jobs.segment_now(services, params=CAT, image_id=image_id, owner="al")
    assert decodes == [] and repeat == answer


async def test_another_owners_identical_upload_is_not_answered_from_the_cache(
    services: Services, decodes: list[str]
) -> None:
    await jobs.segment_now(services, params=CAT, data=png_bytes(), owner="al")
    decodes.clear()
    record, _ = await jobs.segment_now(services, params=CAT, data=png_bytes(), owner="bo")
    assert len(decodes) == 1  # bo's request ran: nothing of al's was reused
    stored = await services.store.get(record.id)
    assert stored.owner == "bo" and stored.started_at is not None


async def test_another_owner_cannot_name_the_image_for_a_cached_answer(
    services: Services, decodes: list[str]
) -> None:
    _, answer = await jobs.segment_now(services, params=CAT, data=png_bytes(), owner="al")
    with pytest.raises(NotFound):
        await jobs.segment_now(services, params=CAT, image_id=answer["image"]["sha256"], owner="bo")


class NoImageWrites:
    """The blob store while images cannot be written: the rest works."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        if key.startswith(keys.IMAGE_PREFIX):
            raise BackendUnavailable("S3 cannot be reached")
        await self.inner.put(key, data, content_type)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_no_answer_while_the_input_cannot_be_kept(services: Services) -> None:
    """The inline path keeps the upload while the model runs, yet answers only once it is kept."""
    services.blobs = NoImageWrites(services.blobs)  # type: ignore[assignment]
    with pytest.raises(BackendUnavailable):
        await jobs.segment_now(services, params=CAT, data=png_bytes(), owner="al")
    (record,) = await services.store.list(owner="al")
    assert record.status is TaskStatus.FAILED and record.result_key is None
