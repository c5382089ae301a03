"""Speech for the load: LibriVox clips (with transcripts and true speech bounds, as bench/pipeline.py
loads them) encoded once to 20 ms Opus packets, so a speaker costs a UDP send per packet, not an encoder."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from parley_common.schemas import SAMPLE_RATE
from parley_feeder.feeder import to_pcm16
from parley_ingest.opus import OpusEncoder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline import Clip, load_clips

FRAME = SAMPLE_RATE // 50  # 20 ms


@dataclass
class EncodedClip:
    clip: Clip
    packets: list[bytes]  # 20 ms Opus payloads, in-band FEC, as a browser sends them

    @property
    def seconds(self) -> float:
        return len(self.packets) * 0.02


def encode(audio: np.ndarray) -> list[bytes]:
    enc = OpusEncoder(SAMPLE_RATE)  # libopus takes 16 kHz input; the RTP clock stays 48 kHz
    pcm = to_pcm16(audio)
    pcm += bytes(-len(pcm) % (FRAME * 2))
    return [enc.encode(pcm[i : i + FRAME * 2]) for i in range(0, len(pcm), FRAME * 2)]


def encoded_clips(audio_dir: Path) -> list[EncodedClip]:
    return [EncodedClip(c, encode(c.audio)) for c in load_clips(audio_dir)]


def silence_packet() -> bytes:
    """One 20 ms packet of digital silence: what a speaker sends between turns (no DTX, like Chromium)."""
    return encode(np.zeros(FRAME * 10, dtype=np.float32))[-1]
