"""A listener switches caption language mid-meeting: their earlier lines come in the new language.

Real Redis, the real translate replica (apertium eng-spa) and the real gateway. Finals are put on
the room's captions stream as the STT publishes them; the listener connects, switches, and must
get every earlier final in the new language exactly once: those already translated at once,
the others translated on request (translate:jobs:backfill) and delivered as live captions."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.schemas import Caption, CaptionType
from parley_testkit.caption_client import CaptionClient
from parley_testkit.procs import LocalStack
from pipeline_helpers import Listener, needs_apertium, translate_and_gateway

ROOM = "relang"
SPOKEN = [
    "He was not an ill-disposed young man.",
    "The house was large and the garden was green.",
    "They had no money and nowhere to live.",
]
pytestmark = needs_apertium


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with translate_and_gateway(8, "relang") as s:
        yield s


def final(i: int, text: str, lang: str = "en", source_text: str = "") -> Caption:
    return Caption(
        type=CaptionType.FINAL,
        id=keys.caption_id(ROOM, "alice", i),
        room=ROOM,
        speaker="alice",
        speaker_name="Alice",
        utt=i,
        lang=lang,
        text=text,
        source_lang="en",
        source_text=source_text or text,
        start=3.0 * i,
        end=3.0 * i + 2.5,
    )


def apertium(text: str, pair: str = "eng-spa") -> str:
    out = subprocess.run(["apertium", "-u", pair], input=text, capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


async def jobs_done(r: aioredis.Redis, last_job: bytes, timeout_s: float) -> bool:
    """The translators read every final job up to `last_job` and acknowledged them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        [group] = [
            g
            for g in await r.xinfo_groups(keys.TRANSLATE_JOBS_FINAL)
            if g["name"] == keys.TRANSLATE_GROUP.encode()
        ]
        if group["last-delivered-id"] == last_job and group["pending"] == 0:
            return True
        await asyncio.sleep(0.1)
    return False


def finals_in(client: CaptionClient, lang: str) -> list[dict[str, Any]]:
    return [c for c in client.finals() if c["lang"] == lang]


async def test_earlier_lines_follow_a_language_switch(stack: LocalStack) -> None:
    r = aioredis.from_url(stack.redis_url)
    stream = keys.captions_stream(ROOM)
    for i, text in enumerate(SPOKEN):
        await r.xadd(stream, final(i, text).to_fields())
    # Another listener had Spanish for the first line only; a noise utterance was retracted.
    await r.xadd(stream, final(0, apertium(SPOKEN[0]), "es", SPOKEN[0]).to_fields())
    await r.xadd(stream, final(9, "").to_fields())
    ids = [keys.caption_id(ROOM, "alice", i) for i in range(len(SPOKEN))]

    async with Listener(stack, ROOM, "source") as li:
        assert await li.wait_for(lambda c: any(e["type"] == "hello" for e in c.events), 10)
        assert li.finals() == []  # no `since`: nothing replayed on connect

        await li.send({"type": "set_lang", "lang": "es"})
        assert await li.wait_for(lambda c: any(e["type"] == "lang" for e in c.events), 10)
        reply = next(e for e in li.events if e["type"] == "lang")
        assert reply == {"type": "lang", "lang": "es", "pending": ids[1:]}
        earlier = [e for e in li.events if e.get("earlier")]
        assert [e["caption"]["id"] for e in earlier] == ids[:1]
        assert earlier[0]["caption"]["text"] == apertium(SPOKEN[0])

        # The other two are translated by the translate replica and arrive as live captions.
        assert await li.wait_for(lambda c: len(finals_in(c, "es")) >= 3, 20), li.events
        spanish = {c["id"]: c for c in finals_in(li, "es")}
        assert sorted(spanish) == ids
        for i, text in enumerate(SPOKEN):
            c = spanish[ids[i]]
            assert c["text"] == apertium(text) and c["text"] != text, c
            assert c["source_text"] == text and c["error"] == "" and c["speaker_name"] == "Alice"
        assert not any(e.get("earlier") for e in li.events if e.get("caption", {}).get("id") in ids[1:])
        translated_live = [e for e in li.events if e["type"] == "caption" and not e.get("earlier")]
        assert all(e["event_id"] > earlier[0]["event_id"] for e in translated_live)
        order = [e["type"] for e in li.events if e["type"] in ("caption", "lang")]
        assert order == ["caption", "lang", "caption", "caption"], order  # the reply names them first

        # Back to the spoken language: every earlier line at once, nothing pending.
        await li.send({"type": "set_lang", "lang": "source"})
        assert await li.wait_for(lambda c: sum(e["type"] == "lang" for e in c.events) == 2, 10)
        assert [e for e in li.events if e["type"] == "lang"][-1]["pending"] == []
        english = [e["caption"] for e in li.events if e.get("earlier") and e["caption"]["lang"] == "en"]
        assert [c["text"] for c in english] == SPOKEN

        # No engine delivers Vietnamese: the switch is refused, saying why; nothing is asked for.
        await li.send({"type": "set_lang", "lang": "vi"})
        assert await li.wait_for(lambda c: any(e["type"] == "error" for e in c.events), 10)
        error = next(e for e in li.events if e["type"] == "error")["error"]
        assert "Vietnamese" in error and "not available" in error and "translates into vi" in error, error
        assert sum(e["type"] == "lang" for e in li.events) == 2

    # Each translation was published once, and reached the transcript store's queue.
    events = [Caption.from_fields(f) for _, f in await r.xrange(stream)]
    per_lang = [(c.id, c.lang) for c in events if c.type is CaptionType.FINAL and c.is_translation]
    assert len(per_lang) == len(set(per_lang)) == len(SPOKEN)
    persisted = [Caption.from_fields(f) for _, f in await r.xrange(keys.PERSIST_CAPTIONS)]
    assert {(c.id, c.lang) for c in persisted} == set(per_lang) - {(ids[0], "es")}
    # A second switch to Spanish finds them all in the stream: nothing is requested again.
    async with Listener(stack, ROOM, "source") as again:
        await again.send({"type": "set_lang", "lang": "es"})
        assert await again.wait_for(lambda c: any(e["type"] == "lang" for e in c.events), 10)
        assert next(e for e in again.events if e["type"] == "lang")["pending"] == []
        assert sorted(e["caption"]["id"] for e in again.events if e.get("earlier")) == ids
    await r.aclose()


async def test_malformed_backfill_jobs_go_to_dead_letters(stack: LocalStack) -> None:
    r = aioredis.from_url(stack.redis_url)
    good = final(0, SPOKEN[0])
    bad = [
        {"v": "1", "data": "{not json", "lang": "es"},
        {"v": "1", **good.to_fields(), "lang": "x"},
        {"v": "1", **final(1, "ya traducido", "es", SPOKEN[1]).to_fields(), "lang": "fr"},
    ]
    async with Listener(stack, ROOM, "es") as li:
        assert await li.wait_for(lambda c: any(e["type"] == "hello" for e in c.events), 10)
        for fields in bad:
            await r.xadd(keys.TRANSLATE_JOBS_BACKFILL, fields)
        await r.xadd(keys.TRANSLATE_JOBS_BACKFILL, {"v": "1", **good.to_fields(), "lang": "es"})
        assert await li.wait_for(lambda c: len(finals_in(c, "es")) == 1, 20), li.events
        assert finals_in(li, "es")[0]["text"] == apertium(SPOKEN[0])
    reasons = sorted(f[b"reason"].decode() for _, f in await r.xrange(keys.DEAD_LETTERS))
    assert reasons == ["bad_fields", "bad_lang", "not_a_source_final"], reasons
    await r.aclose()


async def test_a_resuming_listener_gets_the_lines_nobody_had_translated(stack: LocalStack) -> None:
    """A Spanish listener's gateway was gone longer than the room language's lease (make
    swarm-check: a stop-first gateway update, ~40 s): the finals spoken meanwhile reached the
    translator while nobody wanted Spanish, so none was translated. Resuming with `since`, the
    listener gets them, translated, once."""
    r = aioredis.from_url(stack.redis_url)
    stream = keys.captions_stream(ROOM)
    async with Listener(stack, ROOM, "es") as li:
        assert await li.wait_for(lambda c: any(e["type"] == "hello" for e in c.events), 10)
        await r.xadd(stream, final(0, SPOKEN[0]).to_fields())
        await r.xadd(keys.TRANSLATE_JOBS_FINAL, final(0, SPOKEN[0]).to_fields())
        assert await li.wait_for(lambda c: len(finals_in(c, "es")) == 1, 20), li.events
        since = li.events[-1]["event_id"]
    await asyncio.sleep(0.5)  # the gateway has seen the socket close
    await r.delete(keys.room_languages(ROOM))  # the lease ran out while nobody listened in Spanish
    for i in (1, 2):
        await r.xadd(stream, final(i, SPOKEN[i]).to_fields())
        last_job = await r.xadd(keys.TRANSLATE_JOBS_FINAL, final(i, SPOKEN[i]).to_fields())
    ids = [keys.caption_id(ROOM, "alice", i) for i in (1, 2)]
    assert await jobs_done(r, last_job, 20)  # taken and, nobody wanting Spanish, done with nothing
    events = [Caption.from_fields(f) for _, f in await r.xrange(stream)]
    assert not [c for c in events if c.lang == "es" and c.id in ids]

    async with Listener(stack, ROOM, "es", since=since) as li:
        assert await li.wait_for(lambda c: len(finals_in(c, "es")) >= 2, 20), li.events
        spanish = finals_in(li, "es")
        assert [c["id"] for c in spanish] == ids, spanish
        assert [c["text"] for c in spanish] == [apertium(SPOKEN[1]), apertium(SPOKEN[2])]
    # A guest resuming from the same point again and again queues nothing more (each line and
    # language is asked once; translated lines are no longer missing).
    for _ in range(5):
        async with Listener(stack, ROOM, "es", since=since) as again:
            assert await again.wait_for(lambda c: len(finals_in(c, "es")) >= 2, 10), again.events
    assert await r.xlen(keys.TRANSLATE_JOBS_BACKFILL) == 2
    await r.aclose()
