"""One SSRC's audio: jitter buffer → Opus decode (FEC, PLC, DTX) → 20 ms 16 kHz frames with media timestamps.

Timestamps: the first packet is anchored to its arrival on the wall clock; every later sample's
time comes from the RTP timestamp (so loss, DTX and jitter do not bend time). The anchor is moved
only if the RTP clock runs ahead of the wall clock, or lags it by more than a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from parley_common.schemas import SAMPLE_RATE

from parley_ingest import metrics
from parley_ingest.jitter import JitterBuffer, Slot
from parley_ingest.opus import OpusDecoder, OpusError
from parley_ingest.packet import RtpError, RtpPacket, unwrap

FRAME_SAMPLES = SAMPLE_RATE // 50  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2
MAX_FILL_S = 5.0  # a silent (DTX) or lost stretch longer than this re-anchors instead of being filled
PLC_MAX_S = 0.12  # concealment beyond this is silence (libopus fades out anyway)
MAX_LAG_S = 1.0


@dataclass(frozen=True, slots=True)
class OutFrame:
    ts: float  # epoch s of the first sample
    pcm: bytes  # 20 ms, 16 kHz mono s16le
    arrival: float  # monotonic arrival of the packet that completed it (latency histogram)


class SsrcStream:
    def __init__(self, clock_rate: int = 48000, depth_s: float = 0.04) -> None:
        self.clock_rate = clock_rate
        self.jitter = JitterBuffer(depth_s)
        self.decoder = OpusDecoder(SAMPLE_RATE)
        self._next_seq: int | None = None  # extended seq after the last decoded packet
        self._next_ts = 0  # extended RTP timestamp after the last decoded packet
        self._anchor_rtp = 0
        self._anchor_wall = 0.0
        self._pcm = bytearray()
        self._pcm_ts = 0.0  # epoch s of self._pcm's first sample

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

    def finish(self, wall: float | None = None) -> tuple[list[OutFrame], float]:
        """Flush everything (the producer paused or closed); returns frames and the end time (epoch s)."""
        wall = time.time() if wall is None else wall
        out = self._decode(self.jitter.drain(), wall)
        out += self._flush_partial(time.monotonic())
        end = self._pcm_ts if self._next_seq is not None else wall
        self._next_seq = None
        return out, end

    # -- decoding --------------------------------------------------------------------------------

    def _decode(self, slots: list[Slot], wall: float) -> list[OutFrame]:
        out: list[OutFrame] = []
        for slot in slots:
            out += self._decode_one(slot, wall)
        return out

    def _to_16k(self, rtp_ticks: int) -> int:
        return rtp_ticks * SAMPLE_RATE // self.clock_rate

    def _media_time(self, ext_ts: int) -> float:
        return self._anchor_wall + (ext_ts - self._anchor_rtp) / self.clock_rate

    def _anchor(self, ext_ts: int, wall: float, samples16: int) -> None:
        self._anchor_rtp = ext_ts
        self._anchor_wall = wall - samples16 / SAMPLE_RATE  # the packet's audio ended about now

    def _decode_one(self, slot: Slot, wall: float) -> list[OutFrame]:
        pkt = slot.packet
        samples = self.decoder.samples_in(pkt.payload)
        out: list[OutFrame] = []
        if self._next_seq is None:
            ext_ts = pkt.timestamp
            self._anchor(ext_ts, wall, samples)
        else:
            ext_ts = unwrap(self._next_ts, pkt.timestamp, 32)
            gap = self._to_16k(ext_ts - self._next_ts)
            lost = slot.seq - self._next_seq
            if gap < 0 or gap > MAX_FILL_S * SAMPLE_RATE:
                out += self._flush_partial(slot.arrival)
                self._anchor(ext_ts, wall, samples)
            elif gap > 0:
                out += self._fill(gap, lost > 0, pkt.payload, samples, slot.arrival)
        media = self._media_time(ext_ts)
        end = media + samples / SAMPLE_RATE
        if end > wall + 0.005 or wall - end > MAX_LAG_S:  # the sender's clock drifted: follow ours
            out += self._flush_partial(slot.arrival)
            self._anchor(ext_ts, wall, samples)
            media = self._media_time(ext_ts)
        try:
            pcm = self.decoder.decode(pkt.payload)
        except OpusError:
            metrics.DROPPED.labels("bad_opus").inc()
            pcm = self.decoder.conceal(samples)
        out += self._append(pcm, media, slot.arrival)
        self._next_seq = slot.seq + 1
        self._next_ts = ext_ts + samples * self.clock_rate // SAMPLE_RATE
        return out

    def _fill(self, gap: int, lost: bool, payload: bytes, samples: int, arrival: float) -> list[OutFrame]:
        """`gap` samples are missing before this packet: lost packets are concealed, DTX is silence."""
        ts = self._media_time(self._next_ts)
        if not lost:
            metrics.CONCEALED.labels("silence").inc(gap / SAMPLE_RATE)
            return self._append(bytes(2 * gap), ts, arrival)
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
        return self._append(bytes(pcm), ts, arrival)

    # -- framing ---------------------------------------------------------------------------------

    def _append(self, pcm: bytes, ts: float, arrival: float) -> list[OutFrame]:
        if not self._pcm:
            self._pcm_ts = ts
        self._pcm += pcm
        out: list[OutFrame] = []
        while len(self._pcm) >= FRAME_BYTES:
            out.append(OutFrame(self._pcm_ts, bytes(self._pcm[:FRAME_BYTES]), arrival))
            del self._pcm[:FRAME_BYTES]
            self._pcm_ts += FRAME_SAMPLES / SAMPLE_RATE
        return out

    def _flush_partial(self, arrival: float) -> list[OutFrame]:
        """Pad the last partial frame with silence and send it."""
        if not self._pcm:
            return []
        pcm = bytes(self._pcm) + bytes(FRAME_BYTES - len(self._pcm))
        frame = OutFrame(self._pcm_ts, pcm, arrival)
        self._pcm.clear()
        self._pcm_ts += FRAME_SAMPLES / SAMPLE_RATE
        return [frame]
