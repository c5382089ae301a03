"""parley-feeder: play WAV (or any audio) files into a room as a speaker.

parley-feeder --room demo --speaker alice --name Alice talk.wav other.wav
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from parley_common import redisconn
from parley_common.schemas import BadMessage
from parley_common.settings import BaseServiceSettings

from parley_feeder.feeder import load_audio, open_speaker


async def amain(args: argparse.Namespace) -> None:
    r = redisconn.connect(args.redis_url or BaseServiceSettings().redis_url)
    try:
        sp = await open_speaker(
            r, args.room, args.speaker, args.name, realtime=not args.fast, language=args.language
        )
        for _ in range(args.loop):
            for path in args.files:
                started = await sp.play(load_audio(path))
                print(f"played {path} (started {started:.3f})", flush=True)
                await sp.silence(args.gap)
        await sp.end()
    finally:
        await r.aclose()


def main() -> None:
    p = argparse.ArgumentParser(
        prog="parley-feeder", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("files", nargs="+", help="audio files (WAV or anything ffmpeg reads)")
    p.add_argument("--room", required=True)
    p.add_argument("--speaker", required=True, help="speaker id (letters, digits, _ . -)")
    p.add_argument("--name", default="", help="display name")
    p.add_argument("--language", default=None, help="fix the room's spoken language (e.g. en, vi, auto)")
    p.add_argument("--fast", action="store_true", help="as fast as possible instead of real time")
    p.add_argument("--gap", type=float, default=1.0, help="seconds of silence after each file")
    p.add_argument("--loop", type=int, default=1, help="play the files this many times")
    p.add_argument("--redis-url", default=None)
    args = p.parse_args()
    try:
        asyncio.run(amain(args))
    except BadMessage as exc:
        sys.exit(f"parley-feeder: {exc}")
    except FileNotFoundError as exc:
        sys.exit(f"parley-feeder: {exc}")


if __name__ == "__main__":
    main()
