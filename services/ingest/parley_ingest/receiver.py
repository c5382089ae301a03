"""The RTP port of parley-ingest: one UDP socket for every room the SFU forwards, demuxed by SSRC.

Only SSRCs announced on `sfu:events` are accepted; the first packet of each pins its source
address (a spoofed packet with a known SSRC from elsewhere is dropped). Frames go to Redis through
one writer task, in order, so registration, audio and end-of-utterance never overtake each other.

Several replicas may receive the same producer (the SFU sends it to every ingest target): each
frame's stream id comes from the producer's media timeline (parley_ingest.anchor), so Redis keeps
the first copy and refuses the others (counted as `parley_ingest_frames_total{outcome="duplicate"}`).
Stopping does not end anyone's utterance: another replica may carry on (a lone replica's speakers
are flushed by the segmenter after `PARLEY_STT_STALL_S`).

Frames go to Redis through parley_ingest.writer (one connection, in order, replayed after a
failover until a replica has them).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from parley_common.retry import REDIS_DOWN, Backoff, retrying
from parley_common.schemas import AudioFrame
from parley_common.tasks import cancel_all

from parley_ingest import metrics, registry
from parley_ingest.anchor import FRAME_MS, Anchor, claim_anchor
from parley_ingest.packet import RtpError, is_rtcp, parse_rtp
from parley_ingest.stream import OutFrame, SsrcStream
from parley_ingest.writer import Active, End, Forget, Frame, Item, RedisWriter, Register

log = logging.getLogger("parley.ingest")
ACTIVE_EVERY_S = 1.0
TICK_S = 0.01


@dataclass
class _Live:
    producer: registry.Producer
    stream: SsrcStream
    paused: bool = False
    source: tuple[str, int] | None = None
    last_active: float = 0.0
    sent: bool = False  # frames since the last end
    registered: bool = False  # room/speaker written (at the first frame: "active" means audio arrived)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: RtpReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.receiver.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("rtp socket error: %s", exc)


@dataclass
class RtpReceiver:
    r: aioredis.Redis
    host: str = "127.0.0.1"
    port: int = 5004
    jitter_s: float = 0.04
    queue_max: int = 20000
    outage_s: float = 10.0  # how long a write waits for Redis to come back before dropping
    anchor_ttl_s: int = 7 * 24 * 3600  # a producer's timeline outlives any meeting
    replay_s: float = 2.0  # a lone Redis: written frames kept to append again after an outage
    replay_max_s: float = 60.0  # a replicated Redis: kept at most this long until a replica has them
    peer_wait_s: float = 1.0  # a first frame waits this long for a lagging replica (writer.py)
    fill_wait_s: float = 1.0  # a frame made up for lost packets waits this long for a peer's copy
    replicated: bool = False  # Redis is meant to have replicas (Sentinel)
    events_stream: str = registry.STREAM
    live: dict[int, _Live] = field(default_factory=dict)  # by SSRC
    anchors: dict[str, Anchor] = field(default_factory=dict)  # by producer id
    writer: RedisWriter = field(init=False)
    _transport: asyncio.DatagramTransport | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _claims: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # anchors being fetched

    def __post_init__(self) -> None:
        self.writer = RedisWriter(
            self.r,
            queue_max=self.queue_max,
            outage_s=self.outage_s,
            replay_s=self.replay_s,
            replay_max_s=self.replay_max_s,
            peer_wait_s=self.peer_wait_s,
            fill_wait_s=self.fill_wait_s,
            replicated=self.replicated,
        )

    @property
    def bound_port(self) -> int:
        assert self._transport is not None
        port: int = self._transport.get_extra_info("sockname")[1]
        return port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((self.host, self.port))
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport
        self._tasks = [
            asyncio.create_task(registry.follow(self.r, self, self.events_stream), name="rtp-events"),
            asyncio.create_task(self.writer.run(), name="rtp-writer"),
            asyncio.create_task(self._tick(), name="rtp-tick"),
        ]
        metrics.PRODUCERS.set_function(lambda: len({c.producer.producer for c in self.live.values()}))
        metrics.QUEUE.set_function(self.writer.queue.qsize)
        log.info("RTP receiver on %s:%d", self.host, self.bound_port)

    @property
    def healthy(self) -> bool:
        """The socket is open and the event follower, writer and ticker all run."""
        return (
            self._transport is not None
            and not self._transport.is_closing()
            and bool(self._tasks)
            and all(not t.done() for t in self._tasks)
        )

    async def wait_failed(self) -> None:
        """Returns (raising) only when one of the receiver's tasks ended: they run until stop()."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            t.result()
        raise RuntimeError(f"RTP receiver task ended: {', '.join(t.get_name() for t in done)}")

    async def stop(self) -> None:
        """Close the socket, write the whole frames still held, and stop. No utterance is ended
        here: another replica may still be receiving these speakers."""
        if self._transport is not None:
            self._transport.close()
        for cur in self.live.values():
            self._emit(cur, cur.stream.drain())
        await self.writer.drain(2.0)
        await cancel_all([*self._tasks, *self._claims.values()])

    # -- sfu:events ------------------------------------------------------------------------------

    def _of(self, producer: str) -> list[int]:
        return [ssrc for ssrc, cur in self.live.items() if cur.producer.producer == producer]

    async def on_event(self, event: registry.Event, replay: bool) -> None:
        p = event.producer
        mine = self._of(p.producer)
        if event.type == "producer.open":
            for ssrc in mine:  # a moved target: its old SSRC stops, the utterance goes on
                if ssrc not in p.ssrcs:
                    self._emit(self.live[ssrc], self.live[ssrc].stream.drain())
                    del self.live[ssrc]
            for ssrc in p.ssrcs:
                cur = self.live.get(ssrc)
                if cur is not None and cur.producer.producer == p.producer:
                    cur.producer = p
                    continue
                if cur is not None:  # an SSRC reused by another producer
                    self._end(ssrc)
                anchor = self.anchors.get(p.producer)
                self.live[ssrc] = _Live(p, SsrcStream(p.clock_rate, self.jitter_s, anchor))
            return
        if not mine:
            return
        if event.type == "producer.close":
            for ssrc in mine:
                self._end(ssrc)
                del self.live[ssrc]
            self.anchors.pop(p.producer, None)
            self._put(Forget(p.producer))
        elif event.type == "producer.pause":
            for ssrc in mine:
                self._end(ssrc)
                self.live[ssrc].paused = True
        else:
            for ssrc in mine:
                self.live[ssrc].paused = False

    # -- packets ---------------------------------------------------------------------------------

    def on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        arrival = time.monotonic()
        if is_rtcp(data):
            return
        try:
            pkt = parse_rtp(data)
            cur = self.live.get(pkt.ssrc)
            if cur is None:
                raise RtpError("unknown_ssrc")
            if pkt.pt != cur.producer.pt:
                raise RtpError("unknown_pt")
            if cur.source is None:
                cur.source = addr[:2]
            elif cur.source != addr[:2]:
                raise RtpError("wrong_source")
            if cur.paused:
                raise RtpError("paused")
            frames = cur.stream.push(pkt, arrival)
        except RtpError as exc:
            metrics.DROPPED.labels(exc.reason).inc()
            return
        metrics.PACKETS.inc()
        self._emit(cur, frames)
        if cur.stream.needs_anchor:
            self._anchor(cur)

    def _anchor(self, cur: _Live) -> None:
        """The stream holds packets until its producer's timeline is known."""
        pid = cur.producer.producer
        anchor = self.anchors.get(pid)
        if anchor is not None:
            self._emit(cur, cur.stream.set_anchor(anchor))
        elif pid not in self._claims:
            self._claims[pid] = asyncio.create_task(self._claim(cur), name=f"anchor-{pid}")

    async def _claim(self, cur: _Live) -> None:
        p = cur.producer
        try:
            anchor = await retrying(
                lambda: claim_anchor(
                    self.r,
                    p.producer,
                    p.room,
                    p.peer,
                    cur.stream.anchor_proposal(),
                    p.clock_rate,
                    self.anchor_ttl_s,
                ),
                f"rtp: anchor of producer {p.producer}",
                backoff=Backoff(0.1, 0.1),
                give_up_after_s=self.outage_s,
                logger=log,
            )
        except REDIS_DOWN:
            metrics.DROPPED.labels("redis_error").inc()
            log.warning("no anchor for producer %s: Redis away", p.producer)
            return
        finally:
            self._claims.pop(p.producer, None)
        if not any(c.producer.producer == p.producer for c in self.live.values()):
            return  # closed meanwhile
        self.anchors[p.producer] = anchor
        for c in self.live.values():
            if c.producer.producer == p.producer and c.stream.anchor is None:
                self._emit(c, c.stream.set_anchor(anchor))

    def _emit(self, cur: _Live, frames: list[OutFrame]) -> None:
        if not frames:
            return
        p, anchor = cur.producer, cur.stream.anchor
        assert anchor is not None
        if not cur.registered:
            cur.registered = True
            self._put(Register(p.room, p.peer, p.name))
        for f in frames:
            ms = anchor.frame_ms(f.index)
            frame = AudioFrame(ts=ms / 1000, pcm=f.pcm)
            self._put(Frame(p.room, p.peer, frame, f"{ms}-0", f.arrival, made_up=f.made_up and p.has_peers))
        cur.sent = True
        if frames[-1].arrival - cur.last_active > ACTIVE_EVERY_S:
            cur.last_active = frames[-1].arrival
            self._put(Active(p.room, p.peer))

    def _end(self, ssrc: int) -> None:
        """The utterance ends after the last frame: id `<its ms>-1`, the same on every replica."""
        cur = self.live[ssrc]
        frames, last = cur.stream.finish()
        self._emit(cur, frames)
        if cur.sent and last is not None and cur.stream.anchor is not None:
            ms = cur.stream.anchor.frame_ms(last)
            p = cur.producer
            self._put(End(p.room, p.peer, (ms + FRAME_MS) / 1000, f"{ms}-1", peers=p.has_peers))
        cur.sent = False

    def _put(self, item: Item) -> None:
        self.writer.put(item)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            for cur in list(self.live.values()):
                if len(cur.stream.jitter):
                    self._emit(cur, cur.stream.tick(now))
