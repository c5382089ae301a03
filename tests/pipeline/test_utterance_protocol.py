"""The utterance protocol (parley_common.publish) on a real Redis: each transition of the state
machine, driven the way the segmenter and the workers drive it, and a final that goes out once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.publish import (
    Commit,
    Publisher,
    Step,
    UtteranceOp,
    checkpoint_digest,
    final_is_void,
    partial_is_moot,
)
from parley_common.schemas import Caption, CaptionType
from pipeline_helpers import redis_url

ROOM, SPEAKER, OWNER = "proto", "alice", "replica-a"
CID = keys.caption_id(ROOM, SPEAKER, 0)


@pytest.fixture
async def r() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url(7))  # flushed before and after each test (tests run one at a time)
    await client.flushdb()
    await client.set(keys.segmenter_lease(ROOM, SPEAKER), OWNER)
    yield client
    await client.flushdb()
    await client.aclose()


def caption(text: str, attempt: int = 0, kind: CaptionType = CaptionType.FINAL) -> Caption:
    return Caption(
        type=kind,
        id=CID,
        room=ROOM,
        speaker=SPEAKER,
        utt=0,
        rev=attempt,
        lang="en",
        text=text,
        source_lang="en",
        source_text=text,
        start=0.0,
        end=1.0,
    )


async def commit(p: Publisher, *steps: Step, owner: str = OWNER) -> bool:
    stored = await p.r.get(keys.segmenter_state(ROOM, SPEAKER))  # as the segmenter keeps track of it
    done = await p.commit_segmenter(
        room=ROOM,
        speaker=SPEAKER,
        owner=owner,
        checkpoint="{}",
        previous=checkpoint_digest(stored),
        steps=steps,
        jobs_maxlen=100,
    )
    return done is Commit.DONE


async def finals_out(r: aioredis.Redis) -> list[str]:
    rows = await r.xrange(keys.captions_stream(ROOM))
    return [c.text for c in (Caption.from_fields(f) for _, f in rows) if c.type is CaptionType.FINAL]


async def test_a_final_goes_out_once_whether_the_result_or_the_confirmation_comes_second(
    r: aioredis.Redis,
) -> None:
    p = Publisher(r)
    assert await commit(p, Step(UtteranceOp.FINAL, CID, 0, "{}"))
    assert not await p.store_final_result(caption("hello"), 0)  # decoded before the end is confirmed
    assert await finals_out(r) == []
    assert await commit(p, Step(UtteranceOp.CONFIRM, CID, 0, "1.5"))  # the confirmation publishes
    assert await finals_out(r) == ["hello"]
    assert not await p.store_final_result(caption("hello again"), 0)  # a retried job: nothing more
    assert await finals_out(r) == ["hello"]
    for stream in (keys.TRANSLATE_JOBS_FINAL, keys.PERSIST_CAPTIONS):
        assert await r.xlen(stream) == 1
    assert await r.hget(keys.utterance_state(CID), "eos") == b"1.5"


async def test_a_result_stored_after_the_confirmation_publishes(r: aioredis.Redis) -> None:
    p = Publisher(r)
    assert await commit(p, Step(UtteranceOp.FINAL, CID, 0, "{}"), Step(UtteranceOp.CONFIRM, CID, 0, "2"))
    assert await finals_out(r) == []
    assert await p.store_final_result(caption("late decode"), 0)
    assert await finals_out(r) == ["late decode"]


async def test_a_cancelled_attempt_is_void_and_the_next_one_is_published(r: aioredis.Redis) -> None:
    p = Publisher(r)
    await commit(p, Step(UtteranceOp.FINAL, CID, 0, "{}"))
    assert not await final_is_void(r, CID, 0)
    assert await partial_is_moot(r, CID)  # attempt 0 pending: the speaker paused
    await commit(p, Step(UtteranceOp.CANCEL, CID, 0))  # she spoke again
    assert await final_is_void(r, CID, 0)
    assert not await partial_is_moot(r, CID)  # speaking: partials are wanted again
    await commit(p, Step(UtteranceOp.FINAL, CID, 1, "{}"))
    assert await final_is_void(r, CID, 0)  # superseded by attempt 1
    assert not await final_is_void(r, CID, 1)
    await commit(p, Step(UtteranceOp.CONFIRM, CID, 1, "3"))
    assert not await p.store_final_result(caption("first try", 0), 0)  # a void attempt's result
    assert await p.store_final_result(caption("second try", 1), 1)
    assert await finals_out(r) == ["second try"]
    assert await final_is_void(r, CID, 1)  # published: a redelivered job is not decoded again
    assert await partial_is_moot(r, CID)


async def test_partials_stop_once_the_final_is_published(r: aioredis.Redis) -> None:
    p = Publisher(r)
    assert await p.partial(caption("hel", kind=CaptionType.PARTIAL), translate=True)
    await commit(p, Step(UtteranceOp.FINAL, CID, 0, "{}"), Step(UtteranceOp.CONFIRM, CID, 0, "1"))
    await p.store_final_result(caption("hello"), 0)
    assert not await p.partial(caption("hello w", kind=CaptionType.PARTIAL), translate=True)
    assert await r.xlen(keys.captions_stream(ROOM)) == 2  # one partial, one final
    assert await r.xlen(keys.TRANSLATE_JOBS_PARTIAL) == 1


async def test_a_replica_without_the_lease_writes_nothing(r: aioredis.Redis) -> None:
    p = Publisher(r)
    steps = (Step(UtteranceOp.FINAL, CID, 0, "{}"), Step(UtteranceOp.PARTIAL, CID, 0, "{}"))
    assert not await commit(p, *steps, owner="replica-b")
    assert not await r.exists(keys.utterance_state(CID), keys.segmenter_state(ROOM, SPEAKER))
    assert await r.xlen(keys.STT_JOBS_FINAL) == await r.xlen(keys.STT_JOBS_PARTIAL) == 0
    assert await commit(p, *steps)
    assert await r.get(keys.segmenter_state(ROOM, SPEAKER)) == b"{}"
    assert await r.xlen(keys.STT_JOBS_FINAL) == await r.xlen(keys.STT_JOBS_PARTIAL) == 1


async def test_translations_go_out_once_per_marker(r: aioredis.Redis) -> None:
    p = Publisher(r)
    marker = keys.published_marker(CID, "final", "es")
    assert await p.once(marker, caption("hola"))
    assert not await p.once(marker, caption("hola"))
    assert await r.xlen(keys.captions_stream(ROOM)) == await r.xlen(keys.PERSIST_CAPTIONS) == 1
