"""Real Opus RTP for the media tests and the benchmark: a LibriVox clip encoded with libopus."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from parley_ingest.opus import OpusEncoder
from parley_ingest.packet import build_rtp

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CLIP = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav"


def read_pcm48k(path: Path, seconds: float | None = None) -> bytes:
    """Any file PyAV reads, as 48 kHz mono s16le."""
    out = bytearray()
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for frame in container.decode(audio=0):
            for f in resampler.resample(frame):
                out += bytes(f.planes[0])[: f.samples * 2]
    if seconds is not None:
        out = out[: int(seconds * 48000) * 2]
    return bytes(out)


def opus_packets(pcm48: bytes, fec: bool = True) -> list[bytes]:
    """20 ms Opus packets (48 kHz clock) of `pcm48`."""
    enc = OpusEncoder(48000, fec=fec)
    step = 960 * 2
    pcm48 += bytes(-len(pcm48) % step)
    return [enc.encode(pcm48[i : i + step]) for i in range(0, len(pcm48), step)]


def rtp_stream(
    payloads: list[bytes], ssrc: int, pt: int = 100, seq0: int = 65500, ts0: int = 2**32 - 4800
) -> list[bytes]:
    """RTP packets of consecutive 20 ms payloads; sequence and timestamp wrap early on purpose."""
    return [build_rtp(pt, seq0 + i, ts0 + 960 * i, ssrc, p) for i, p in enumerate(payloads)]


def pcm16(frames: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(frames), dtype="<i2").astype(np.float32) / 32768.0
