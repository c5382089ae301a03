"""What the API writes into Redis for the live system: a room's STT settings, the removed set, and
host commands for the SFU.

`sfu:commands` (XADD, MAXLEN ~ 10000): a parley_common.schemas.SfuCommand, all fields strings:
`v` = "1", `type` = mute | unmute | remove | close, `room`, `peer` (participant id; empty for
close), `by` (who asked), `ts` (ms since the epoch). The SFU is expected to pause the peer's audio producer (mute) and refuse to resume it
until unmuted, close the peer's connection (remove), or close every connection of the room (close).
The state behind each command is written first, for an SFU or gateway that reads it at join:
`room:{slug}` status, the sets `room:{slug}:removed` and `room:{slug}:muted` (keys.room_removed,
keys.room_muted). Nothing redoes a host command, so it is answered only once a Redis replica has it
(WAIT, parley_common.redisconn.write_replicated): a failover right after cannot undo it silently.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.redisconn import write_replicated
from parley_common.schemas import SfuCommand, SfuCommandType
from parley_common.streams import xadd_bounded

from parley_gateway.db.models import Room

SFU_COMMANDS = keys.SFU_COMMANDS
SFU_COMMANDS_MAXLEN = 10_000
log = logging.getLogger("parley.gateway")


async def write_room_state(r: aioredis.Redis, room: Room) -> None:
    """The room's live state in room:{slug}: spoken language, glossary and prompt (read by STT),
    status and max_participants (read by the SFU), caption languages (read by the caption socket)."""
    langs = room.spoken_languages
    language = langs[0] if len(langs) == 1 else ("auto" if langs else "")
    mapping: Any = {  # redis' own typing and types-redis disagree on Mapping's key type
        "language": language,
        "spoken_languages": ",".join(langs),  # all of them: the caption offer is made from these
        "hotwords": " ".join(room.glossary),
        "prompt": room.prompt,
        "name": room.name,
        "status": room.status,
        "caption_languages": ",".join(room.caption_languages),
        "max_participants": str(room.max_participants or ""),
    }
    await r.hset(keys.room_info(room.slug), mapping=mapping)


async def announce(r: aioredis.Redis, kind: str, room: str, peer: str, by: str, wait_ms: int = 500) -> bool:
    """The state, then the command; returns once a replica has both (at most `wait_ms`): True, or
    False when none acknowledged them in time (they are on the master only)."""
    command = SfuCommand(type=SfuCommandType(kind), room=room, peer=peer, by=by, ts=int(time.time() * 1000))

    async def writes(c: aioredis.Redis) -> None:
        # The state first, then the command: an SFU that (re)joins in between reads the state.
        if command.type is SfuCommandType.REMOVE:
            await c.sadd(keys.room_removed(room), peer)
        elif command.type is SfuCommandType.MUTE:
            await c.sadd(keys.room_muted(room), peer)
        elif command.type is SfuCommandType.UNMUTE:
            await c.srem(keys.room_muted(room), peer)
        await xadd_bounded(c, SFU_COMMANDS, command.to_fields(), maxlen=SFU_COMMANDS_MAXLEN)

    replicated = await write_replicated(r, writes, wait_ms)
    if not replicated:
        log.warning(
            "host command %s in %s: no Redis replica acknowledged it within %d ms", kind, room, wait_ms
        )
    return replicated
