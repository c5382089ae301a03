"""What one load speaker costs the load generator: pre-encoded Opus over plain RTP (what bench/load
uses) against an aiortc WebRTC bot (parley-bot: Opus encoding, SRTP, DTLS, ICE in Python).

  python -m bench.load.cost [--speakers 4] [--seconds 20]

Both send the same LibriVox audio in real time through the same SFU (Redis, SFU, gateway on
127.0.0.1; no STT). Prints one JSON line: CPU seconds of this process per second of speech sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from .audio import EncodedClip, encoded_clips, silence_packet
from .stack import ROOT, LoadStack, Target
from .users import RtpPump, User


async def rtp_speakers(target: Target, clip: EncodedClip, n: int, seconds: float) -> float:
    users = [User("cost-rtp", f"s{i}", "source", speaks=True) for i in range(n)]
    for u in users:
        await u.join(target)
    pump = RtpPump(users, silence_packet())
    task = asyncio.create_task(pump.run())
    cpu, t0 = time.process_time(), time.monotonic()
    while time.monotonic() - t0 < seconds:
        for u in users:
            if u.done.is_set():
                u.say(clip)
        await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu
    pump.stop()
    task.cancel()
    await asyncio.gather(*(u.leave() for u in users))
    return cpu / (n * seconds)


async def aiortc_bots(target: Target, wav: Path, n: int, seconds: float) -> float:
    from parley_bot.bot import decode_file, play
    from parley_bot.client import loopback_only_ice

    one = decode_file(str(wav))  # 48 kHz mono s16le, as the bot plays it
    pcm48 = (one * (int(seconds * 96000 / len(one)) + 1))[: int(seconds * 48000) * 2]
    cpu = time.process_time()
    with loopback_only_ice():
        await asyncio.gather(
            *(
                play(target.sfu_url, "cost-bot", target.token("cost-bot", f"b{i}", f"B{i}", "guest"), pcm48)
                for i in range(n)
            )
        )
    return (time.process_time() - cpu) / (n * seconds)


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    clip = encoded_clips(args.audio_dir)[0]
    stack = LoadStack(args.log_dir, stt_replicas=0, redis_port=args.redis_port)
    target = await asyncio.to_thread(stack.start)
    try:
        rtp = await rtp_speakers(target, clip, args.speakers, args.seconds)
        bot = await aiortc_bots(target, args.audio_dir / f"{clip.clip.name}.wav", args.speakers, args.seconds)
    finally:
        await asyncio.to_thread(stack.stop)
    return {
        "bench": "load_speaker_cost",
        "speakers": args.speakers,
        "seconds": args.seconds,
        "rtp_cpu_s_per_speech_s": round(rtp, 4),
        "aiortc_cpu_s_per_speech_s": round(bot, 4),
        "ratio": round(bot / rtp, 1) if rtp else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--speakers", type=int, default=4)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--audio-dir", type=Path, default=Path("/usr/share/pocketsphinx/test/data/librivox"))
    p.add_argument("--redis-port", type=int, default=0)
    p.add_argument("--log-dir", type=Path, default=ROOT / "bench" / "results" / "load-logs" / "cost")
    print(json.dumps(asyncio.run(main_async(p.parse_args()))))


if __name__ == "__main__":
    main()
