"""One SSRC's audio: jitter buffer → Opus decode (FEC, PLC, DTX) → 20 ms 16 kHz frames on the
producer's media timeline.

The timeline is the producer's RTP clock, anchored once per producer (`Anchor`: "RTP timestamp
`rtp` is epoch millisecond `wall_ms`", shared in Redis by every ingest replica). Frame k covers RTP
ticks [k·20 ms, (k+1)·20 ms) after the anchor, so two replicas receiving the same producer — on
different SSRCs and sequence numbers, starting at different moments — cut the same frames and
give each the same stream entry id (`wall_ms + 20·k`): Redis keeps the first and refuses the
second. Loss, DTX and jitter do not bend time; the timeline is never re-anchored (that would need
every replica to agree when), so a sender clock that drifts from ours shows as frame times that
run slowly ahead or behind (100 ppm: 0.36 s an hour).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from parley_common.schemas import SAMPLE_RATE

from parley_ingest import metrics
from parley_ingest.anchor import FRAME_MS, Anchor
from parley_ingest.jitter import JitterBuffer, Slot
from parley_ingest.opus import OpusDecoder, OpusError
from parley_ingest.packet import RtpError, RtpPacket, unwrap

FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
MAX_FILL_S = 5.0  # a silent (DTX) or lost stretch longer than this is skipped, not filled
PLC_MAX_S = 0.12  # concealment beyond this is silence (libopus fades out anyway)
MAX_HELD = 50  # packets kept while the producer's anchor is being fetched (1 s of 20 ms packets)


@dataclass(frozen=True, slots=True)
class OutFrame:
    index: int  # frame number on the producer's timeline (Anchor.frame_ms gives its time and id)
    pcm: bytes  # 20 ms, 16 kHz mono s16le
    arrival: float  # monotonic arrival of the packet that completed it (latency histogram)
    # Holds audio made up for packets this replica lost (PLC, silence, FEC): another replica may
    # have received them, so the writer lets it append the real audio first (parley_ingest.writer).
    made_up: bool = False


@dataclass
class _Held:
    slots: list[Slot] = field(default_factory=list)
    wall: float = 0.0  # epoch s at the first held packet's arrival


class SsrcStream:
    def __init__(self, clock_rate: int = 48000, depth_s: float = 0.04, anchor: Anchor | None = None) -> None:
        self.clock_rate = clock_rate
        self.jitter = JitterBuffer(depth_s)
        self.decoder = OpusDecoder(SAMPLE_RATE)
        self.anchor = anchor
        self._held = _Held()
        self._next_seq: int | None = None  # extended seq after the last decoded packet
        self._next_tick = 0  # anchor-relative RTP tick after the last decoded packet
        self._pcm = bytearray()
        self._pcm_index = 0  # frame index of self._pcm's first sample
        self._last_index: int | None = None  # last frame emitted since the last finish()
        self._started = False  # a packet was decoded (else the first one joins a running producer)
        self._skip = 0  # samples still to drop before the first frame boundary (a joining replica)
        self._made_up_to: int | None = None  # timeline sample where the last made-up audio ends

    # -- input -----------------------------------------------------------------------------------

    def push(self, packet: RtpPacket, arrival: float, wall: float | None = None) -> list[OutFrame]:
        """A parsed packet of this SSRC; `arrival` monotonic, `wall` epoch (now if omitted)."""
        try:
            n = self.decoder.samples_in(packet.payload)
        except OpusError as exc:
            raise RtpError("bad_opus") from exc
        if n <= 0 or n > SAMPLE_RATE * 0.12:
            raise RtpError("bad_opus")
        wall = time.time() if wall is None else wall
        return self._decode(self.jitter.push(packet, arrival), wall)

    def tick(self, now: float, wall: float | None = None) -> list[OutFrame]:
        return self._decode(self.jitter.expire(now), time.time() if wall is None else wall)

    @property
    def needs_anchor(self) -> bool:
        return self.anchor is None and bool(self._held.slots)

    def anchor_proposal(self) -> tuple[int, int]:
        """(RTP timestamp, epoch ms) this stream would anchor the producer at: its first packet,
        whose audio ended about when it arrived."""
        first = self._held.slots[0].packet
        samples = self.decoder.samples_in(first.payload)
        return first.timestamp, int(self._held.wall * 1000 - samples * 1000 // SAMPLE_RATE)

    def set_anchor(self, anchor: Anchor) -> list[OutFrame]:
        """The producer's anchor (from Redis): decode what was held meanwhile."""
        self.anchor = anchor
        held, self._held = self._held, _Held()
        return self._decode(held.slots, held.wall)

    def finish(self) -> tuple[list[OutFrame], int | None]:
        """Flush everything (the producer paused or closed): the frames, and the index of the last
        frame since the previous finish (None if there was none): the end of the utterance."""
        out = self._decode(self.jitter.drain(), time.time())
        out += self._flush_partial(time.monotonic())
        last = self._last_index
        self._next_seq = None
        self._last_index = None
        return out, last

    def drain(self) -> list[OutFrame]:
        """Whole frames the jitter buffer still holds (this process stops; another replica, if
        any, carries on: no padded partial frame, no end of utterance)."""
        return self._decode(self.jitter.drain(), time.time())

    # -- decoding --------------------------------------------------------------------------------

    def _decode(self, slots: list[Slot], wall: float) -> list[OutFrame]:
        if self.anchor is None:
            if slots and not self._held.slots:
                self._held.wall = wall
            self._held.slots += slots
            if len(self._held.slots) > MAX_HELD:
                metrics.DROPPED.labels("backlog").inc(len(self._held.slots) - MAX_HELD)
                del self._held.slots[: len(self._held.slots) - MAX_HELD]
            return []
        out: list[OutFrame] = []
        for slot in slots:
            out += self._decode_one(self.anchor, slot, wall)
        return out

    def _to_16k(self, ticks: int) -> int:
        return ticks * SAMPLE_RATE // self.clock_rate

    def _decode_one(self, anchor: Anchor, slot: Slot, wall: float) -> list[OutFrame]:
        pkt = slot.packet
        samples = self.decoder.samples_in(pkt.payload)
        out: list[OutFrame] = []
        if self._next_seq is None:
            tick = anchor.ticks(pkt.timestamp, wall)
            self._start(tick, joining=not self._started)
        else:
            tick = unwrap(self._next_tick + anchor.rtp, pkt.timestamp, 32) - anchor.rtp
            gap = self._to_16k(tick - self._next_tick)
            lost = slot.seq - self._next_seq
            if gap < 0:  # the sender's clock went back: that time is written already
                metrics.DROPPED.labels("ts_backwards").inc()
                self._next_seq = slot.seq + 1
                return []
            if gap > MAX_FILL_S * SAMPLE_RATE:
                out += self._flush_partial(slot.arrival)
                self._start(tick, joining=False)
            elif gap > 0:
                out += self._fill(gap, lost > 0, pkt.payload, samples, slot.arrival)
        try:
            pcm = self.decoder.decode(pkt.payload)
        except OpusError:
            metrics.DROPPED.labels("bad_opus").inc()
            pcm = self.decoder.conceal(samples)
        out += self._append(pcm, slot.arrival)
        self._started = True
        self._next_seq = slot.seq + 1
        self._next_tick = tick + samples * self.clock_rate // SAMPLE_RATE
        return out

    def _start(self, tick: int, joining: bool) -> None:
        """Start the frame buffer at this packet's place on the timeline. Mid-frame: a replica
        joining a running producer skips to the next frame boundary (those samples' frame is
        another replica's; dropping them keeps the two identical), a stream resuming after a long
        gap pads the frame's start with silence (every replica does the same)."""
        pos = self._to_16k(tick)
        index, offset = divmod(pos, FRAME_SAMPLES)
        self._pcm.clear()
        if offset and joining:
            self._pcm_index = index + 1
            self._skip = FRAME_SAMPLES - offset
        else:
            self._pcm_index = index
            self._skip = 0
            self._pcm += bytes(2 * offset)

    def _fill(self, gap: int, lost: bool, payload: bytes, samples: int, arrival: float) -> list[OutFrame]:
        """`gap` samples are missing before this packet: lost packets are concealed, DTX is silence."""
        if not lost:
            metrics.CONCEALED.labels("silence").inc(gap / SAMPLE_RATE)
            return self._append(bytes(2 * gap), arrival)
        fec = min(gap, samples)
        fec -= fec % (SAMPLE_RATE // 400)  # libopus wants multiples of 2.5 ms
        plc_total = gap - fec
        pcm = bytearray()
        plc = min(plc_total, int(PLC_MAX_S * SAMPLE_RATE))
        while len(pcm) < 2 * plc:
            step = min(plc - len(pcm) // 2, FRAME_SAMPLES)
            step -= step % (SAMPLE_RATE // 400)
            if step <= 0:
                break
            pcm += self.decoder.conceal(step)
        pcm += bytes(2 * plc_total - len(pcm))  # beyond PLC_MAX_S, or a sub-2.5 ms remainder
        metrics.CONCEALED.labels("plc").inc(plc_total / SAMPLE_RATE)
        if fec > 0:
            pcm += self.decoder.decode_fec(payload, fec)
            metrics.CONCEALED.labels("fec").inc(fec / SAMPLE_RATE)
        return self._append(bytes(pcm), arrival, made_up=True)

    # -- framing ---------------------------------------------------------------------------------

    def _append(self, pcm: bytes, arrival: float, made_up: bool = False) -> list[OutFrame]:
        if self._skip:
            cut = min(self._skip, len(pcm) // 2)
            pcm = pcm[2 * cut :]
            self._skip -= cut
        self._pcm += pcm
        if made_up:
            self._made_up_to = self._pcm_index * FRAME_SAMPLES + len(self._pcm) // 2
        out: list[OutFrame] = []
        while len(self._pcm) >= FRAME_BYTES:
            out.append(self._emit(bytes(self._pcm[:FRAME_BYTES]), arrival))
            del self._pcm[:FRAME_BYTES]
        return out

    def _emit(self, pcm: bytes, arrival: float) -> OutFrame:
        # Frames leave in order, so a frame starting before the made-up audio's end holds some of it.
        made_up = self._made_up_to is not None and self._pcm_index * FRAME_SAMPLES < self._made_up_to
        frame = OutFrame(self._pcm_index, pcm, arrival, made_up)
        self._last_index = self._pcm_index
        self._pcm_index += 1
        return frame

    def _flush_partial(self, arrival: float) -> list[OutFrame]:
        """Pad the last partial frame with silence and send it."""
        if not self._pcm:
            return []
        pcm = bytes(self._pcm) + bytes(FRAME_BYTES - len(self._pcm))
        self._pcm.clear()
        return [self._emit(pcm, arrival)]
