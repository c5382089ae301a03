"""Participants of the load. Each user joins the SFU's signalling WebSocket with a join token and
opens the gateway's caption socket; a speaker also produces audio over a PlainTransport (plain RTP
ingest: `createPlainTransport` + `produce`, docs/signalling.md) and sends pre-encoded Opus to it.
One `RtpPump` paces every speaker's packets, so a speaker costs a UDP send every 20 ms. A listener
(with `Target.listen_media`) also consumes every speaker of its room over a plain RTP receive
transport (`createPlainTransport {direction: "recv"}` + `consume`), so the SFU forwards to every
listener as it does to browsers; the packets are counted, not decoded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets
from parley_bot.client import Signalling
from parley_ingest.packet import build_rtp
from parley_testkit.caption_client import CaptionClient

from .audio import EncodedClip
from .stack import Target

PT = 111  # the payload type we send; the SFU forwards to the gateway with its own
TICK = 0.02


class MediaSink(asyncio.DatagramProtocol):
    """A listener's audio: RTP packets counted (RTCP skipped), not decoded."""

    def __init__(self) -> None:
        self.packets = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) >= 12 and not 200 <= data[1] <= 204:
            self.packets += 1


def opus_rtp_parameters(ssrc: int) -> dict[str, object]:
    return {
        "mid": "0",
        "codecs": [
            {
                "mimeType": "audio/opus",
                "payloadType": PT,
                "clockRate": 48000,
                "channels": 2,
                "parameters": {"useinbandfec": 1},
                "rtcpFeedback": [],
            }
        ],
        "headerExtensions": [],
        "encodings": [{"ssrc": ssrc}],
        "rtcp": {"cname": "parley-load", "reducedSize": True},
    }


async def settle(aw: Awaitable[Any], timeout_s: float = 10.0) -> None:
    """Wait for a closing step, at most `timeout_s`, whatever it raises. A closing socket or a
    cancelled task that never finishes (an overloaded peer) must not hang the run: it did once, a
    10-room faults run on a machine at load ~20 sat after its last scenario until interrupted.
    Unlike wait_for, a step that ignores its cancellation is left behind, not waited for."""
    task = asyncio.ensure_future(aw)
    await asyncio.wait({task}, timeout=timeout_s)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: a failed close is no finding here


class ResilientCaptions(CaptionClient):
    """The caption socket as the meeting UI keeps it: on a drop it reconnects with
    `since=<last event id>` (backoff 0.2 s doubling to 2 s), so nothing is missed or shown twice.
    Every drop is recorded as (dropped at, back at)."""

    def __init__(self, url_for: Callable[[str], str]) -> None:
        super().__init__(url_for(""))
        self.url_for = url_for
        self.drops: list[tuple[float, float]] = []
        self.connected = asyncio.Event()
        self._closing = False

    async def __aenter__(self) -> ResilientCaptions:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 30)
        return self

    async def _run(self) -> None:
        backoff, dropped_at = 0.2, 0.0
        while not self._closing:
            try:
                async with websockets.connect(self.url_for(self.last_event_id()), max_size=2**20) as ws:
                    self._ws = ws
                    async for raw in ws:
                        msg = json.loads(raw)
                        now = time.time()
                        if msg.get("type") == "hello":
                            self.connected.set()
                            backoff = 0.2
                            if dropped_at:
                                self.drops.append((dropped_at, now))
                                dropped_at = 0.0
                        self.received.append((now, msg))
            except (TimeoutError, OSError, websockets.WebSocketException):
                pass
            if self._closing:
                return
            dropped_at = dropped_at or time.time()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        if self._ws is not None:
            await settle(self._ws.close())
        if self._task is not None:
            self._task.cancel()
            await settle(self._task)


@dataclass
class User:
    room: str
    sub: str
    lang: str  # caption language: "source" or a translation target
    speaks: bool = False
    join_s: float = 0.0  # signalling: connect + join answered
    sig: Signalling | None = None
    captions: ResilientCaptions | None = None
    sig_closed_at: float = 0.0  # the signalling socket closed without our `leave`
    # speaker state
    ssrc: int = 0
    dest: tuple[str, int] = ("", 0)
    sock: socket.socket | None = None  # a speaker's RTP comes from here (the ingest is bound to it)
    producer_id: str = ""
    sent: int = 0  # RTP packets the pump sent for this speaker
    media: MediaSink | None = None  # a listener's received audio
    _media_task: asyncio.Task[None] | None = None
    _media_transport: asyncio.DatagramTransport | None = None
    playing: list[bytes] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _leaving: bool = False

    async def join(self, target: Target) -> None:
        role = (
            "host" if self.speaks else "listener"
        )  # plain ingest is for host tokens (SFU_PLAIN_INGEST_ROLES)
        token = target.token(self.room, self.sub, self.sub.title(), role)
        t0 = time.perf_counter()
        self.sig = await Signalling.connect(target.sfu_url)
        joined = await self.sig.request("join", {"room": self.room, "token": token})
        self.join_s = time.perf_counter() - t0
        self.sig._reader.add_done_callback(self._sig_closed)
        if self.speaks:
            self.sock = sender_socket(target.sfu_url)
            ip, port = self.sock.getsockname()[:2]
            ingest = await self.sig.request("createPlainTransport", {"ip": ip, "port": port})
            self.ssrc = random.randrange(1, 2**32)
            produced = await self.sig.request(
                "produce",
                {
                    "transportId": ingest["id"],
                    "kind": "audio",
                    "rtpParameters": opus_rtp_parameters(self.ssrc),
                },
            )
            self.producer_id = str(produced["producerId"])
            self.dest = (str(ingest["ip"]), int(ingest["port"]))
        elif target.listen_media:
            await self._listen(joined, target)
        listen_token = target.token(self.room, f"{self.sub}-captions", self.sub.title(), "listener")
        self.captions = ResilientCaptions(
            lambda since: target.caption_url(self.room, self.lang, listen_token, since)
        )
        await self.captions.__aenter__()

    async def _listen(self, joined: dict[str, Any], target: Target) -> None:
        """Consume every audio producer of the room, now and as they appear, over plain RTP."""
        assert self.sig is not None
        host = urlsplit(target.sfu_url).hostname or "127.0.0.1"
        loop = asyncio.get_running_loop()
        self._media_transport, self.media = await loop.create_datagram_endpoint(
            MediaSink, local_addr=(host, 0)
        )
        ip, port = self._media_transport.get_extra_info("sockname")[:2]
        recv = await self.sig.request("createPlainTransport", {"direction": "recv", "ip": ip, "port": port})
        await self.sig.request("setRtpCapabilities", {"rtpCapabilities": joined["routerRtpCapabilities"]})
        for p in joined.get("producers") or []:
            if p.get("kind") == "audio":
                await self._consume(str(recv["id"]), str(p["producerId"]))
        self._media_task = asyncio.create_task(self._follow(str(recv["id"])))

    async def _follow(self, transport_id: str) -> None:
        assert self.sig is not None
        while True:
            ev = await self.sig.events.get()
            data = ev.get("data") or {}
            if ev.get("event") == "newProducer" and data.get("kind") == "audio":
                with contextlib.suppress(Exception):  # the producer may be gone again
                    await self._consume(transport_id, str(data["producerId"]))

    async def _consume(self, transport_id: str, producer_id: str) -> None:
        assert self.sig is not None
        c = await self.sig.request("consume", {"transportId": transport_id, "producerId": producer_id})
        await self.sig.request("resumeConsumer", {"consumerId": c["consumerId"]})

    def _sig_closed(self, _: object) -> None:
        if not self._leaving:
            self.sig_closed_at = time.time()

    async def leave(self) -> None:
        self._leaving = True
        if self._media_task is not None:
            self._media_task.cancel()
            await settle(self._media_task)
        if self._media_transport is not None:
            self._media_transport.close()
        if self.sig is not None:
            with contextlib.suppress(Exception):
                if self.producer_id:
                    await self.sig.request("closeProducer", {"producerId": self.producer_id}, timeout=5)
                await self.sig.request("leave", timeout=5)
            await settle(self.sig.close())
        if self.sock is not None:
            self.sock.close()
        if self.captions is not None:
            await self.captions.__aexit__()

    def say(self, clip: EncodedClip) -> None:
        self.playing = list(reversed(clip.packets))
        self.done.clear()


def sender_socket(sfu_url: str) -> socket.socket:
    """A UDP socket bound to the local address that reaches the SFU's host: the SFU takes a plain
    ingest's RTP only from the address its `createPlainTransport` named."""
    host = urlsplit(sfu_url).hostname or "127.0.0.1"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, 9))  # no packet is sent: this only picks the route's local address
    local = sock.getsockname()[0]
    sock.close()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sock.bind((local, 0))
    return sock


class RtpPump:
    """Sends one packet per speaker every 20 ms: the current clip's next packet, else silence.
    Ticks that come late (a busy machine) are sent at once, so each stream's RTP clock stays
    the wall clock the listener's latency is measured against; `clock(n)` maps ticks to it."""

    def __init__(self, speakers: list[User], silence: bytes) -> None:
        self.speakers = speakers
        self.silence = silence
        self.t0 = 0.0
        self.tick = 0
        self.sent = 0
        self.late_ticks = 0
        self._seq = {id(u): random.randrange(2**16) for u in speakers}
        self._ts = {id(u): random.randrange(2**32) for u in speakers}
        self._stop = False

    def now_media(self) -> float:
        """Wall time of the next tick's first sample."""
        return self.t0 + self.tick * TICK

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        m0 = loop.time()
        self.t0 = time.time()
        while not self._stop:
            delay = m0 + self.tick * TICK - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -TICK:
                self.late_ticks += 1
            for u in self.speakers:
                payload = u.playing.pop() if u.playing else self.silence
                if not u.playing and not u.done.is_set():
                    u.done.set()
                k = id(u)
                seq, ts = self._seq[k], self._ts[k]
                assert u.sock is not None
                u.sock.sendto(build_rtp(PT, seq, ts, u.ssrc, payload), u.dest)
                u.sent += 1
                self._seq[k] = (seq + 1) & 0xFFFF
                self._ts[k] = (ts + 960) & 0xFFFFFFFF
                self.sent += 1
            self.tick += 1

    def stop(self) -> None:
        self._stop = True
