"""The caption WebSocket: /ws/rooms/{room}/captions?lang=es&since=<last event id>.

Server -> client: {"type": "hello", ...}, {"type": "caption", "event_id", "caption": {...}},
{"type": "retract", "event_id", "id"} (an utterance that turned out to be noise),
{"type": "error", "error"}. Client -> server: {"type": "set_lang", "lang": "en"}, {"type": "ping"}.
After set_lang: the earlier finals already in the new language, each a caption event with
"earlier": true, then {"type": "lang", "lang", "pending": [caption ids]}: those are being
translated and come as ordinary caption events (relang.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from parley_common.schemas import NAME_RE, Caption, CaptionType
from pydantic import ValidationError

from parley_gateway import languages, metrics, relang
from parley_gateway.auth.ws import refuse_reason
from parley_gateway.fanout import SOURCE, Fanout, Listener, parse_id
from parley_gateway.settings import GatewaySettings

log = logging.getLogger("parley.gateway.captions")
router = APIRouter()
LANG_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")


def valid_lang(lang: str) -> bool:
    return 2 <= len(lang) <= 12 and set(lang) <= LANG_OK


def event_for(event_id: str, caption: Caption) -> dict[str, object]:
    if caption.type is CaptionType.FINAL and not caption.text:
        return {"type": "retract", "event_id": event_id, "id": caption.id}
    return {"type": "caption", "event_id": event_id, "caption": caption.model_dump(mode="json")}


async def _send(ws: WebSocket, event_id: str, caption: Caption) -> None:
    await ws.send_text(json.dumps(event_for(event_id, caption), ensure_ascii=False))
    now = time.time()
    metrics.SENT.labels(caption.type.value).inc()
    if caption.timing.published:
        metrics.FANOUT_SECONDS.observe(max(0.0, now - caption.timing.published))
    if caption.type is CaptionType.FINAL and caption.text and caption.timing.speech_end:
        metrics.E2E_FINAL_SECONDS.labels(str(caption.is_translation).lower()).observe(
            now - caption.timing.speech_end
        )


@router.websocket("/ws/rooms/{room}/captions")
async def captions(ws: WebSocket, room: str, lang: str = SOURCE, since: str = "") -> None:
    fanout: Fanout = ws.app.state.fanout
    settings = ws.app.state.settings
    await ws.accept()
    refused = await refuse_reason(ws, room)
    if refused:
        await ws.send_text(json.dumps({"type": "error", "error": refused}))
        await ws.close(code=1008)
        return
    if not NAME_RE.match(room) or not (lang == SOURCE or valid_lang(lang)):
        await ws.send_text(json.dumps({"type": "error", "error": "bad room or lang"}))
        await ws.close(code=1008)
        return
    offer = await languages.offered(fanout.r, room, settings.caption_languages)
    if not languages.allowed(lang, offer):
        await ws.send_text(json.dumps({"type": "error", "error": _not_offered(lang, offer)}))
        await ws.close(code=1008)
        return
    try:
        last = parse_id(since) if since else None
    except ValueError:
        await ws.send_text(json.dumps({"type": "error", "error": "bad since id"}))
        await ws.close(code=1008)
        return
    listener = await fanout.subscribe(room, lang)
    try:
        await ws.send_text(json.dumps({"type": "hello", "room": room, "lang": lang, "languages": offer}))
        if since:
            for eid, caption in await fanout.backlog(room, since, settings.resume_limit):
                if listener.wants(caption):
                    await _send(ws, eid, caption)
                    last = parse_id(eid)
        sender = asyncio.create_task(_pump(ws, listener, last), name="caption-sender")
        receiver = asyncio.create_task(_receive(ws, listener, fanout, settings), name="client")
        done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await t
        for t in done:
            with contextlib.suppress(WebSocketDisconnect):
                t.result()
    except WebSocketDisconnect:
        pass
    finally:
        await fanout.unsubscribe(listener)


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
        await _send(ws, eid, caption)


def _not_offered(lang: str, offer: list[str]) -> str:
    return f"language {lang!r} is not offered in this room (offered: {', '.join(offer)})"


async def _switch_language(
    ws: WebSocket, fanout: Fanout, room: str, lang: str, settings: GatewaySettings
) -> None:
    """After a language switch: the earlier finals already in `lang` now (marked `earlier`: their
    event ids are old, the client keeps its resume position), then the reply naming the rest, then
    those are asked of the translators: their translations come as live captions, after the reply,
    so the client knows them for earlier lines and not new ones."""
    index = await fanout.finals(room)
    earlier = index.earlier(lang, settings.backfill_max_lines)
    for eid, caption in earlier.ready:
        await ws.send_text(json.dumps({**event_for(eid, caption), "earlier": True}, ensure_ascii=False))
    pending = [c.id for c in earlier.missing]
    await ws.send_text(json.dumps({"type": "lang", "lang": lang, "pending": pending}))
    if lang != SOURCE:
        await relang.request_translations(fanout.r, index.to_request(earlier.missing, lang), lang)


class SwitchBudget:
    """At most `per_min` language switches in any 60 s on one socket."""

    def __init__(self, per_min: int) -> None:
        self.per_min = per_min
        self.times: deque[float] = deque()

    def take(self) -> float:
        """0 when a switch may go ahead (and counts it); otherwise seconds until one may."""
        now = time.monotonic()
        while self.times and now - self.times[0] >= 60:
            self.times.popleft()
        if self.per_min > 0 and len(self.times) >= self.per_min:
            return 60 - (now - self.times[0])
        self.times.append(now)
        return 0.0


async def _receive(ws: WebSocket, listener: Listener, fanout: Fanout, settings: GatewaySettings) -> None:
    budget = SwitchBudget(settings.lang_switches_per_min)
    while True:
        raw = await ws.receive_text()
        if len(raw) > settings.max_client_message:
            metrics.BAD_INPUT.labels("oversized").inc()
            await ws.close(code=1009, reason="message too big")
            return
        try:
            msg = json.loads(raw)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
            kind = msg.get("type")
            if kind == "set_lang":
                lang = str(msg.get("lang", ""))
                if not (lang == SOURCE or valid_lang(lang)):
                    raise ValueError("bad lang")
                offer = await languages.offered(fanout.r, listener.room, settings.caption_languages)
                if not languages.allowed(lang, offer):
                    raise ValueError(_not_offered(lang, offer))
                wait_s = budget.take()
                if wait_s:
                    metrics.BAD_INPUT.labels("rate_limited").inc()
                    raise ValueError(f"too many language switches; retry in {wait_s:.0f} s")
                listener.lang = lang
                await fanout.want_language(listener.room, lang)
                await _switch_language(ws, fanout, listener.room, lang, settings)
            elif kind == "ping":
                await ws.send_text(json.dumps({"type": "pong"}))
            else:
                raise ValueError(f"unknown message type {kind!r}")
        except (ValueError, ValidationError) as exc:
            metrics.BAD_INPUT.labels("bad_message").inc()
            await ws.send_text(json.dumps({"type": "error", "error": str(exc)[:200]}))
