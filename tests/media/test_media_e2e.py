"""The media path end to end: WebRTC bots → mediasoup SFU → PlainTransport RTP → two ingest replicas
→ Redis → the real STT model → captions on the caption WebSocket. Everything runs in a
loopback-only network namespace (root); Redis there is a throw-away server, database 9."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import socket
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from media_helpers import CaptionListener, MediaWorld, consume_first_producer, media_world, skip_reason
from parley_common import keys
from parley_ingest.packet import build_rtp
from parley_testkit.caption_client import CaptionClient
from parley_testkit.wer import read_transcription, wer
from rtp_helpers import LIBRIVOX

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
TEXTS = read_transcription(LIBRIVOX)
CLIP_A, CLIP_B, CLIP_C = (
    "sense_and_sensibility_01_austen_64kb-0870",
    "sense_and_sensibility_01_austen_64kb-0920",
    "sense_and_sensibility_01_austen_64kb-0890",
)


@pytest.fixture(scope="module")
def world() -> Iterator[MediaWorld]:
    from parley_bot.client import loopback_only_ice

    with loopback_only_ice(), media_world() as w:
        yield w


def pcm(clip: str) -> bytes:
    from parley_bot.bot import decode_file

    return decode_file(str(LIBRIVOX / f"{clip}.wav"))


async def speak(world: MediaWorld, room: str, peer: str, name: str, clip: str) -> None:
    from parley_bot.bot import play

    await play(world.sfu_url, room, world.token(room, peer, name), pcm(clip), lead_in_s=0.3)


async def settle(cap: CaptionClient, n: int, timeout: float = 40.0) -> list[dict[str, object]]:
    """Finals once `n` arrived and nothing new came for 2 s."""
    await cap.wait_finals(n, timeout)
    count = -1
    while count != len(cap.finals()):
        count = len(cap.finals())
        await asyncio.sleep(2.0)
    return cap.finals()


async def test_bot_speech_becomes_captions_and_is_forwarded(world: MediaWorld) -> None:
    room = "media-a"
    async with CaptionListener(world, room) as cap:
        watcher = asyncio.create_task(consume_first_producer(world, room, 12.0))
        await speak(world, room, "reader", "Reader", CLIP_A)
        finals = await settle(cap, 1)
        voiced = await watcher
    text = " ".join(str(f["text"]) for f in finals)
    error = wer([TEXTS[CLIP_A]], [text])
    print(f"media-a: WER {error:.3f}, listener heard {voiced:.2f} s of speech: {text!r}")
    assert error <= 0.10, (error, text)
    assert {(f["speaker"], f["speaker_name"]) for f in finals} == {("reader", "Reader")}
    assert voiced >= 2.0, f"the second participant heard only {voiced:.2f} s of speech"
    assert world.metric("parley_ingest_frames_total") > 200  # appended or another replica's already


async def test_two_bots_at_once_each_final_names_its_speaker(world: MediaWorld) -> None:
    room = "media-b"
    async with CaptionListener(world, room) as cap:
        await asyncio.gather(
            speak(world, room, "ana", "Ana", CLIP_B),
            speak(world, room, "ben", "Ben", CLIP_C),
        )
        finals = await settle(cap, 2)
    by = {sp: " ".join(str(f["text"]) for f in finals if f["speaker"] == sp) for sp in ("ana", "ben")}
    print(f"media-b: {by}")
    assert {f["speaker_name"] for f in finals} == {"Ana", "Ben"}, finals
    assert wer([TEXTS[CLIP_B]], [by["ana"]]) <= 0.15, by
    assert wer([TEXTS[CLIP_C]], [by["ben"]]) <= 0.15, by
    # and not the other way round: each speaker's words are its own clip's
    assert wer([TEXTS[CLIP_C]], [by["ana"]]) > 0.5 and wer([TEXTS[CLIP_B]], [by["ben"]]) > 0.5


async def _attack(world: MediaWorld, room: str) -> int:
    """Garbage, bad packets, a spoof of the live speaker's SSRC and a flood at the ingest's RTP port."""
    r = aioredis.from_url(world.redis_url)
    ssrc = pt = None
    for _ in range(100):
        for _, f in await r.xrange("sfu:events"):
            if f[b"room"] == room.encode() and f[b"type"] == b"producer.open":
                ssrc, pt = int(f[b"ssrc"]), int(f[b"pt"])
        if ssrc is not None:
            break
        await asyncio.sleep(0.1)
    await r.aclose()
    assert ssrc is not None and pt is not None
    await asyncio.sleep(1.0)  # the real stream's source is pinned by now
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dest = ("127.0.0.1", world.rtp_port)
    rng = random.Random(4)
    sent = 0
    bad = [os.urandom(rng.randrange(1, 1400)) for _ in range(300)]
    bad += [build_rtp(pt, 1, 1, ssrc, b"x")[: rng.randrange(0, 12)] for _ in range(100)]  # truncated
    bad += [build_rtp(pt, i, i * 960, ssrc, bytes(3000)) for i in range(50)]  # oversized
    bad += [build_rtp(pt, i, i * 960, ssrc ^ 0x5A5A, b"\xf8\xff\xfe") for i in range(200)]  # unknown SSRC
    bad += [
        build_rtp((pt + 1) % 128, i, i * 960, ssrc, b"\xf8\xff\xfe") for i in range(100)
    ]  # wrong PT / source
    bad += [build_rtp(pt, i, i * 960, ssrc, os.urandom(60)) for i in range(200)]  # spoofed speaker
    for data in bad:
        sock.sendto(data, dest)
        sent += 1
    for i in range(20000):  # a flood of well-formed RTP nobody announced
        sock.sendto(build_rtp(pt, i, i * 960, 0xDEAD0000 + i % 7, b"\xf8\xff\xfe"), dest)
        sent += 1
        if i % 500 == 0:
            await asyncio.sleep(0.01)
    sock.close()
    return sent


async def test_garbage_and_flood_are_counted_and_speech_still_gets_through(world: MediaWorld) -> None:
    room = "media-c"
    before = world.metric("parley_ingest_rtp_dropped_total")
    async with CaptionListener(world, room) as cap:
        sent, _ = await asyncio.gather(_attack(world, room), speak(world, room, "carol", "Carol", CLIP_A))
        finals = await settle(cap, 1)
    dropped = world.metric("parley_ingest_rtp_dropped_total") - before
    print(f"media-c: sent {sent} bad datagrams, {dropped:.0f} counted as dropped")
    assert dropped >= 0.5 * sent, (dropped, sent)  # the kernel may shed some of the flood itself
    for reason in ("truncated", "oversized", "unknown_ssrc", "wrong_source"):
        assert world.metric("parley_ingest_rtp_dropped_total", reason=reason) > 0, reason
    assert world.stack.procs["ingest-1"].healthy()
    text = " ".join(str(f["text"]) for f in finals)
    assert wer([TEXTS[CLIP_A]], [text]) <= 0.10, text
    assert {f["speaker"] for f in finals} == {"carol"}


async def test_ingest_replicas_killed_in_turn_mid_sentence_lose_no_words(world: MediaWorld) -> None:
    """Two sentences (13 s) through the SFU to both ingest replicas. ingest-1 is SIGKILLed 2.5 s in
    (mid-sentence) and started again; ingest-2 is SIGKILLed 8.5 s in (mid the second sentence).
    The captions carry every word; the speaker's stream holds each 20 ms of the speech once."""
    from parley_bot.bot import play

    room = "media-d"
    r = aioredis.from_url(world.redis_url)

    async def faults() -> None:
        await asyncio.sleep(0.3 + 2.5)
        world.stack.procs["ingest-1"].kill(signal.SIGKILL)
        world.restart_ingest(1)
        await asyncio.sleep(6.0)
        assert world.stack.procs["ingest-1"].healthy()
        world.stack.procs["ingest-2"].kill(signal.SIGKILL)
        await asyncio.sleep(3.0)
        world.restart_ingest(2)

    try:
        async with CaptionListener(world, room) as cap:
            speech = pcm(CLIP_A) + pcm(CLIP_B)
            await asyncio.gather(
                faults(), play(world.sfu_url, room, world.token(room, "dora", "Dora"), speech, lead_in_s=0.3)
            )
            finals = await settle(cap, 2)
        text = " ".join(str(f["text"]) for f in finals)
        error = wer([f"{TEXTS[CLIP_A]} {TEXTS[CLIP_B]}"], [text])
        entries = await r.xrange(keys.audio_stream(room, "dora"))
    finally:
        await r.aclose()
    ms = [int(eid.split(b"-")[0]) for eid, f in entries if not f.get(b"eof")]
    eofs = [eid for eid, f in entries if f.get(b"eof")]
    gaps = [b - a for a, b in itertools.pairwise(ms) if b - a != 20]
    print(f"media-d: WER {error:.3f}, {len(ms)} frames, gaps {gaps}, ends {eofs}: {text!r}")
    assert error <= 0.10, (error, text)
    assert gaps == [] and len(ms) >= 13 * 50, (gaps, len(ms))  # every 20 ms once, none missing
    assert len(eofs) == 1 and eofs[0] == f"{ms[-1]}-1".encode()
