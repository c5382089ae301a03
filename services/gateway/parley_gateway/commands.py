"""Follows `sfu:commands` (the host actions the API announces, api/live.py) and ends this gateway's
caption sockets they concern: `close` every socket of the room, `remove` the participant's.
Every gateway replica reads the stream from where it started; a socket opened later is checked
at connect (auth/ws.py), so nothing is missed in between."""

from __future__ import annotations

import logging
from functools import partial

import redis.asyncio as aioredis
from parley_common.retry import Backoff, retrying
from parley_common.schemas import BadMessage, SfuCommand, SfuCommandType

from parley_gateway.api.live import SFU_COMMANDS
from parley_gateway.sockets import SocketRegistry

log = logging.getLogger("parley.gateway.commands")


async def follow(r: aioredis.Redis, sockets: SocketRegistry) -> None:
    backoff = Backoff(0.5, 0.5)
    newest = await retrying(
        lambda: r.xrevrange(SFU_COMMANDS, count=1), "sfu:commands", backoff=backoff, logger=log
    )
    last = newest[0][0].decode() if newest else "0-0"
    while True:
        reply = await retrying(
            partial(r.xread, {SFU_COMMANDS: last}, count=100, block=1000),
            "sfu:commands",
            backoff=backoff,
            logger=log,
        )
        for _stream, rows in reply or []:
            for eid, fields in rows:
                last = eid.decode()
                try:
                    cmd = SfuCommand.from_fields(fields)
                except BadMessage as exc:
                    log.warning("sfu:commands: skipped entry [id:%s]: %s", last, exc)
                    continue
                if cmd.type is SfuCommandType.CLOSE:
                    n = sockets.end_room(cmd.room, "room closed")
                elif cmd.type is SfuCommandType.REMOVE:
                    n = sockets.end_participant(cmd.room, cmd.peer, "removed from this room")
                else:
                    continue
                log.info(
                    "caption sockets ended [room:%s, peer:%s, command:%s, sockets:%d]",
                    cmd.room,
                    cmd.peer,
                    cmd.type.value,
                    n,
                )
