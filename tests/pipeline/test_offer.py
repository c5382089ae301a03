"""The honest offer end to end: the real translate replica (apertium) reports what it translates, the
real gateway offers exactly that, refuses the rest on the caption socket with the reason, and a
caption no engine can translate reaches a listener as the original, labelled as such, never under
the listener's language."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.schemas import Caption, CaptionType
from parley_testkit.procs import LocalStack
from pipeline_helpers import Listener, needs_apertium, translate_and_gateway

pytestmark = needs_apertium


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with translate_and_gateway(5, "offer") as s:
        yield s


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        out: dict[str, object] = json.loads(resp.read())
        return out


def final(room: str, i: int, text: str, lang: str) -> Caption:
    return Caption(
        type=CaptionType.FINAL,
        id=keys.caption_id(room, "lan", i),
        room=room,
        speaker="lan",
        speaker_name="Lan",
        utt=i,
        lang=lang,
        text=text,
        source_lang=lang,
        source_text=text,
        start=2.0 * i,
        end=2.0 * i + 1.5,
    )


async def test_only_deliverable_languages_are_offered(stack: LocalStack) -> None:
    # The translate replica's health names the engines it loaded and the pairs each serves.
    health = get_json(f"http://127.0.0.1:{stack.procs['translate-1'].health_port}/healthz")
    [apertium] = health["engines"]  # type: ignore[misc]
    assert health["status"] == "ok" and apertium["name"] == "apertium" and "en-es" in apertium["pairs"]

    r = aioredis.from_url(stack.redis_url)
    await r.hset(keys.room_info("sync"), mapping={"language": "en", "caption_languages": "es,vi"})
    config = get_json(f"http://127.0.0.1:{stack.gateway_port}/api/config?room=sync")
    assert [x["code"] for x in config["languages"]] == ["en", "es"]  # type: ignore[index, union-attr]
    [vi] = config["unavailable"]  # type: ignore[misc]
    assert vi["code"] == "vi" and vi["why"] == "no running engine translates en->vi"

    # Connecting in Vietnamese: refused, with the reason, before any caption.
    async with Listener(stack, "sync", "vi") as li:
        assert await li.wait_for(lambda c: bool(c.events), 10)
        [error] = li.events
        assert error["type"] == "error" and "Vietnamese" in error["error"] and "en->vi" in error["error"]
    # In Spanish: accepted (hello names the offer); a switch to Vietnamese is refused the same way.
    async with Listener(stack, "sync", "es") as li:
        assert await li.wait_for(lambda c: any(e["type"] == "hello" for e in c.events), 10)
        assert li.events[0]["languages"] == ["en", "es"]
        await li.send({"type": "set_lang", "lang": "vi"})
        assert await li.wait_for(lambda c: any(e["type"] == "error" for e in c.events), 10)
        assert "en->vi" in next(e for e in li.events if e["type"] == "error")["error"]
        assert not await r.zscore(keys.room_languages("sync"), "vi")  # no translator is asked for it
    await r.aclose()


async def test_an_untranslatable_caption_comes_as_the_original_labelled(stack: LocalStack) -> None:
    """A room whose languages are detected (auto): Spanish is offered (apertium reaches it), and a
    speaker turns out to speak Vietnamese, which no engine here translates into Spanish."""
    r = aioredis.from_url(stack.redis_url)
    await r.hset(keys.room_info("open"), mapping={"language": "auto"})
    async with Listener(stack, "open", "es") as es, Listener(stack, "open", "source") as src:
        for li in (es, src):  # both subscribed before anything is published (no `since` here)
            assert await li.wait_for(lambda c: any(e["type"] == "hello" for e in c.events), 10)
        english, vietnamese = (
            final("open", 0, "The budget is ready.", "en"),
            final("open", 1, "Ngân sách đã sẵn sàng.", "vi"),
        )
        for c in (english, vietnamese):
            fields = c.to_fields()
            await r.xadd(keys.captions_stream("open"), fields)
            await r.xadd(keys.TRANSLATE_JOBS_FINAL, fields)
        assert await es.wait_for(lambda c: len(c.finals()) >= 2, 20), es.events
        assert await src.wait_for(lambda c: len(c.finals()) >= 2, 10), src.events
    by_id = {c["id"]: c for c in es.finals()}
    translated, original = by_id[english.id], by_id[vietnamese.id]
    assert (
        translated["lang"] == "es" and translated["via"] == "apertium" and translated["text"] != english.text
    )
    assert translated["for_lang"] == "" and translated["error"] == ""
    # The Vietnamese line: in Vietnamese, said to be so, and why; never labelled Spanish.
    assert original["lang"] == "vi" and original["text"] == vietnamese.text and original["for_lang"] == "es"
    assert original["error"] == "no translation engine for vi->es" and original["via"] == ""
    # The listener of the spoken languages gets each line once, never the copy made for Spanish.
    assert sorted((c["id"], c["lang"]) for c in src.finals()) == [(english.id, "en"), (vietnamese.id, "vi")]
    # The transcript store can tell the copy from a translation (the persister skips it).
    persisted = [Caption.from_fields(f) for _, f in await r.xrange(keys.PERSIST_CAPTIONS)]
    assert sorted((c.id, c.lang, c.for_lang) for c in persisted) == [
        (english.id, "es", ""),
        (vietnamese.id, "vi", "es"),
    ]
    await r.aclose()
