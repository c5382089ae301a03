"""The caption WebSocket: /ws/rooms/{room}/captions?lang=es&since=<last event id>&token=<join token>.

Server -> client: {"type": "hello", "room", "lang", "languages"}, {"type": "caption", "event_id",
"caption": {...}}, {"type": "retract", "event_id", "id"} (an utterance that turned out to be
noise), {"type": "error", "error"}. Client -> server: {"type": "set_lang", "lang": "en"},
{"type": "ping"} (listener_messages.py). After set_lang: the earlier finals already in the new
language, each a caption event with "earlier": true, then {"type": "lang", "lang", "pending":
[caption ids]}: those are being translated and come as ordinary caption events (relang.py).

A socket is refused (an error, then close 1008) without a valid token for the room, in a closed
room, for a removed participant, or for a language the room does not offer; refused with close
1013 past the caps (sockets.py; connects per minute per address). An open socket is closed
(1008) when the room closes, the participant is removed, or the token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from parley_common.caption_messages import ErrorMessage, Hello
from parley_common.schemas import NAME_RE
from parley_common.tasks import cancel_all
from starlette.websockets import WebSocketState

from parley_gateway import languages, relang
from parley_gateway.auth import ratelimit
from parley_gateway.auth.ws import admit
from parley_gateway.caption_events import SendTimeout, send_caption, send_json
from parley_gateway.clientaddr import client_address
from parley_gateway.fanout import SOURCE, Fanout, Listener, parse_id
from parley_gateway.listener_messages import receive, valid_lang
from parley_gateway.settings import GatewaySettings
from parley_gateway.sockets import Entry, SocketRegistry

log = logging.getLogger("parley.gateway.captions")
router = APIRouter()


async def _refuse(ws: WebSocket, message: str, code: int = 1008) -> None:
    await send_json(ws, ErrorMessage(error=message).to_json())
    await ws.close(code=code)


@router.websocket("/ws/rooms/{room}/captions")
async def captions(ws: WebSocket, room: str, lang: str = SOURCE, since: str = "") -> None:
    fanout: Fanout = ws.app.state.fanout
    sockets: SocketRegistry = ws.app.state.sockets
    settings: GatewaySettings = ws.app.state.settings
    address = client_address(ws)
    await ws.accept()
    try:
        await ratelimit.hit(fanout.r, "captions", f"ip:{address}", settings.caption_connects_per_min)
    except ratelimit.RateLimited as exc:
        await _refuse(ws, str(exc), 1013)
        return
    if not NAME_RE.match(room) or not (lang == SOURCE or valid_lang(lang)):
        await _refuse(ws, "bad room or lang")
        return
    admission = await admit(ws, room)
    if admission.refused:
        await _refuse(ws, admission.refused)
        return
    offer = await languages.room_offer(fanout.r, room, settings)
    if not languages.allowed(lang, offer):
        await _refuse(ws, languages.refusal(lang, offer))
        return
    try:
        last = _since(since)
    except ValueError:
        await _refuse(ws, "bad since id")
        return
    entry = sockets.admit(room, admission.participant, address)
    if isinstance(entry, str):
        await _refuse(ws, entry, 1013)
        return
    listener = await fanout.subscribe(room, lang)
    try:
        await send_json(ws, Hello(room=room, lang=lang, languages=offer.languages).to_json())
        await _serve(ws, listener, entry, last, since, admission.expires_at())
    except (WebSocketDisconnect, SendTimeout):
        pass
    finally:
        sockets.release(entry)
        await fanout.unsubscribe(listener)
        if entry.ended.is_set() and ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await send_json(ws, ErrorMessage(error=entry.reason).to_json())
                await ws.close(code=entry.code, reason=entry.reason)


def _since(since: str) -> tuple[int, int] | None:
    """The resume position a client sent: a stream id whose parts fit Redis's 64 bits."""
    if not since:
        return None
    last = parse_id(since)
    if not all(0 <= x < 2**64 for x in last):
        raise ValueError(since)
    return last


async def _serve(
    ws: WebSocket,
    listener: Listener,
    entry: Entry,
    last: tuple[int, int] | None,
    since: str,
    expires_at: float | None,
) -> None:
    """Replay from `since`, then live captions and the client's messages, until either side ends,
    the socket is told to end (entry.ended), or the token expires."""
    fanout: Fanout = ws.app.state.fanout
    settings: GatewaySettings = ws.app.state.settings
    ended = asyncio.create_task(entry.ended.wait(), name="ended")
    tasks: set[asyncio.Task[Any]] = {ended}
    try:
        replay = asyncio.create_task(_replay(ws, listener, entry, since, settings), name="replay")
        tasks.add(replay)
        timeout = None if expires_at is None else max(0.0, expires_at - time.time())
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if replay not in done:
            if not done:
                entry.end(1008, "token expired")
            return
        last = replay.result() or last
        tasks.discard(replay)
        if since and listener.lang != SOURCE:
            await _request_missed(fanout, listener, since, settings)
        tasks.add(asyncio.create_task(_pump(ws, listener, last), name="caption-sender"))
        tasks.add(asyncio.create_task(receive(ws, listener, fanout, settings), name="client"))
        timeout = None if expires_at is None else max(0.0, expires_at - time.time())
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            entry.end(1008, "token expired")
        for t in done:
            if t is not ended:
                t.result()
    finally:
        await cancel_all(tasks, suppress=(WebSocketDisconnect, SendTimeout))


async def _replay(
    ws: WebSocket, listener: Listener, entry: Entry, since: str, settings: GatewaySettings
) -> tuple[int, int] | None:
    """The events after `since` the listener wants; the id of the last one sent. Each client
    address gets `replay_events_per_min` events replayed a minute; past it the replay stops with
    an error (the live captions go on)."""
    if not since:
        return None
    fanout: Fanout = ws.app.state.fanout
    sockets: SocketRegistry = ws.app.state.sockets
    last = None
    async for page in fanout.backlog(listener.room, since, settings.resume_limit, ws.app.state.replays):
        if not sockets.take_replay(entry.address, len(page)):
            await send_json(
                ws, ErrorMessage(error="too many captions replayed to this address; resume skipped").to_json()
            )
            break
        for eid, caption in page:
            if listener.wants(caption):
                await send_caption(ws, eid, caption)
                last = parse_id(eid)
    return last


async def _request_missed(fanout: Fanout, listener: Listener, since: str, settings: GatewaySettings) -> None:
    """A resuming listener's lines after `since` that were never translated into its language
    (no listener of it was connected then, so no translator was asked): asked now, bounded as a
    language switch's backfill; they come as live captions."""
    index = await fanout.finals(listener.room)
    missed = index.missing_after(listener.lang, parse_id(since), settings.backfill_max_lines)
    await relang.request_translations(fanout.r, index.to_request(missed, listener.lang), listener.lang)


async def _pump(ws: WebSocket, listener: Listener, last: tuple[int, int] | None) -> None:
    while True:
        if listener.overflowed:
            # Too slow to keep up: close so the client resumes from its last id, losing nothing.
            await ws.close(code=1013, reason="too slow: reconnect with since")
            return
        eid, caption = await listener.queue.get()
        if last is not None and parse_id(eid) <= last:
            continue  # already sent from the backlog
        if not listener.wants(caption):
            continue  # queued before a language switch
        last = parse_id(eid)
        await send_caption(ws, eid, caption)
