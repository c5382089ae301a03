"""parley-bot: a participant that plays a file as its microphone (test a deployment end to end).

parley-bot --sfu ws://127.0.0.1:4443/ws --room demo --token-secret "$PARLEY_JOIN_TOKEN_SECRET" talk.wav
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys

from parley_bot.client import loopback_only_ice


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="parley-bot", description=__doc__.split("\n")[0])
    p.add_argument("file", help="audio to play (anything ffmpeg/PyAV reads)")
    p.add_argument("--sfu", default="ws://127.0.0.1:4443/ws", help="the SFU's signalling WebSocket URL")
    p.add_argument("--room", required=True)
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", help="a join token (JWT) for the room")
    auth.add_argument(
        "--token-secret",
        default=os.environ.get("PARLEY_BOT_TOKEN_SECRET"),
        help="mint a token with this join-token secret (PARLEY_JOIN_TOKEN_SECRET)",
    )
    p.add_argument("--id", default="bot", help="participant id when minting a token")
    p.add_argument("--name", default="Parley bot", help="display name when minting a token")
    p.add_argument("--loopback-ice", action="store_true", help="offer only 127.0.0.1 (tests on one machine)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    token = args.token
    if not token:
        if not args.token_secret:
            print("parley-bot: give --token or --token-secret", file=sys.stderr)
            return 2
        from parley_common.tokens import issue_join_token

        token = issue_join_token(args.token_secret, args.room, args.id, args.name, "guest", 3600)
    from parley_bot.bot import decode_file, play

    with loopback_only_ice() if args.loopback_ice else contextlib.nullcontext():
        result = asyncio.run(play(args.sfu, args.room, token, decode_file(args.file)))
    print(json.dumps(result.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
