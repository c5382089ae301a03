"""RTP arrival → frame in Redis, through the ingest's RTP receiver (parley_ingest).

A LibriVox clip is pre-encoded to 20 ms Opus packets (libopus, in-band FEC) and sent in real time
on loopback to an RtpReceiver as the SFU would (after a `producer.open` on `sfu:events`). The
latency is the receiver's own histogram sample per frame (packet arrival → XADD returned).
Prints one JSON line.

    .venv/bin/python bench/rtp_ingest.py [--seconds 20] [--speakers 1] [--redis-url redis://127.0.0.1:6379/9]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis
from parley_common import keys
from parley_ingest import metrics
from parley_ingest.packet import build_rtp
from parley_ingest.receiver import RtpReceiver

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "media"))
from rtp_helpers import CLIP, LIBRIVOX, opus_packets, read_pcm48k


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def run(seconds: float, speakers: int, redis_url: str) -> dict[str, object]:
    r = aioredis.from_url(redis_url)
    await r.flushdb()
    pcm = b"".join(read_pcm48k(p) for p in sorted(LIBRIVOX.glob("*.wav"))) or read_pcm48k(CLIP)
    pcm = (pcm * (1 + int(seconds * 48000 * 2 / len(pcm))))[: int(seconds * 48000) * 2]
    payloads = opus_packets(pcm)
    rx = RtpReceiver(r, "127.0.0.1", 0, 0.04)
    await rx.start()
    for i in range(speakers):
        fields = {
            "v": "1",
            "type": "producer.open",
            "room": "bench",
            "peer": f"s{i}",
            "name": f"S{i}",
            "producer": f"p{i}",
            "ssrc": str(1000 + i),
            "pt": "100",
            "clock_rate": "48000",
            "ts": str(int(time.time() * 1000)),
        }
        await r.xadd("sfu:events", fields)
    while len(rx.live) < speakers:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dest = ("127.0.0.1", rx.bound_port)
    t0 = time.monotonic()
    for n, payload in enumerate(payloads):
        delay = t0 + n * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        for i in range(speakers):
            sock.sendto(build_rtp(100, n, n * 960, 1000 + i, payload), dest)
    await asyncio.sleep(0.5)
    sock.close()
    # the receiver's own per-frame samples (arrival → XADD returned) from the histogram's raw observations
    samples = _observations()
    frames = await r.xlen(keys.audio_stream("bench", "s0"))
    await rx.stop()
    await r.aclose()
    return {
        "bench": "rtp_ingest",
        "speakers": speakers,
        "seconds": seconds,
        "packets": len(payloads) * speakers,
        "frames_s0": frames,
        "rtp_to_redis_p50_ms": round(_pct(samples, 50) * 1000, 3),
        "rtp_to_redis_p95_ms": round(_pct(samples, 95) * 1000, 3),
        "rtp_to_redis_max_ms": round(max(samples) * 1000, 3) if samples else None,
        "target_p95_ms": 30,
    }


_OBS: list[float] = []


def _observations() -> list[float]:
    return list(_OBS)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--speakers", type=int, default=1)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    args = p.parse_args()
    observe = metrics.TO_REDIS_SECONDS.observe

    def record(value: float, exemplar: dict[str, str] | None = None) -> None:
        _OBS.append(value)
        observe(value, exemplar)

    metrics.TO_REDIS_SECONDS.observe = record  # type: ignore[method-assign]
    print(json.dumps(asyncio.run(run(args.seconds, args.speakers, args.redis_url))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
