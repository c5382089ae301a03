"""Play a file into a room as a participant's microphone, through the SFU's WebRTC."""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamTrack

from parley_bot.client import Signalling, join, transport

RATE = 48000
FRAME = 960  # 20 ms
log = logging.getLogger("parley.bot")


def decode_file(path: str) -> bytes:
    """Any file PyAV (ffmpeg) reads, as 48 kHz mono s16le."""
    out = bytearray()
    with av.open(path) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for f in resampler.resample(frame):
                out += bytes(f.planes[0])[: f.samples * 2]
        for f in resampler.resample(None):
            out += bytes(f.planes[0])[: f.samples * 2]
    return bytes(out)


class FileTrack(MediaStreamTrack):
    """An audio track that plays PCM in real time from its first `recv`, then silence; `done` is set
    once the file has been sent."""

    kind = "audio"

    def __init__(self, pcm: bytes, lead_in_s: float = 0.0) -> None:
        super().__init__()
        self.pcm = bytes(int(lead_in_s * RATE) * 2) + pcm
        self.done = asyncio.Event()
        self.started: float | None = None  # epoch s of the first sample sent
        self._n = 0
        self._t0 = 0.0

    async def recv(self) -> av.AudioFrame:
        if self.started is None:
            self._t0 = time.monotonic()
            self.started = time.time()
        else:
            delay = self._t0 + self._n / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        chunk = self.pcm[2 * self._n : 2 * (self._n + FRAME)]
        if len(chunk) < 2 * FRAME:
            if not self.done.is_set() and 2 * self._n >= len(self.pcm):
                self.done.set()
            chunk += bytes(2 * FRAME - len(chunk))
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(chunk)
        frame.sample_rate = RATE
        frame.pts = self._n
        frame.time_base = fractions.Fraction(1, RATE)
        self._n += FRAME
        return frame


@dataclass
class BotResult:
    peer_id: str
    producer_id: str
    started: float  # epoch s the first sample was sent
    seconds: float


async def play(
    sfu_url: str, room: str, token: str, pcm: bytes, *, tail_s: float = 0.5, lead_in_s: float = 0.0
) -> BotResult:
    """Join `room`, send `pcm` (48 kHz mono s16le) as the microphone, then leave."""
    sig = await Signalling.connect(sfu_url)
    try:
        joined, device = await join(sig, room, token)
        send = await transport(sig, device, "send")
        track = FileTrack(pcm, lead_in_s)
        producer = await send.produce(track=track, stopTracks=False)
        log.info("joined %s as %s; producing %s", room, joined["peerId"], producer.id)
        await track.done.wait()
        await asyncio.sleep(tail_s)
        await sig.request("closeProducer", {"producerId": producer.id})
        await sig.request("leave")
        await send.close()
        return BotResult(str(joined["peerId"]), producer.id, track.started or 0.0, len(pcm) / 2 / RATE)
    finally:
        await sig.close()
